"""Write files so that a crash leaves the old file or none, never a partial one."""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from .exceptions import InvalidInputError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_files",
    "check_folder_writable",
    "check_not_an_input",
    "check_writable",
    "written_path",
]


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Raise what :func:`atomic_path` would raise for ``path``, before any work is done.

    For commands that train or score for a long time and write at the end: a
    missing, read-only or mistyped output directory is reported at the start.

    Raises
    ------
    IsADirectoryError, FileNotFoundError, NotADirectoryError, PermissionError
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory, expected a file path")
    kind = _special_kind(target)
    if kind is not None:
        raise InvalidInputError(
            f"{target} is {kind}, not a regular file: dagmm writes a file beside its output "
            "and renames it into place, which would replace it; give a file path (score "
            "and explain write CSV to standard output with --out -)"
        )
    target = written_path(target)
    parent = target.parent
    if not parent.exists():
        raise FileNotFoundError(f"directory {parent} does not exist (writing {target})")
    if not parent.is_dir():
        raise NotADirectoryError(f"{parent} is not a directory (writing {target})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"directory {parent} is not writable (writing {target})")
    longest = 255
    with contextlib.suppress(OSError, ValueError):
        longest = os.pathconf(parent, "PC_NAME_MAX")
    if len(os.fsencode(target.name)) > longest:
        raise InvalidInputError(
            f"{target}: its name is {len(os.fsencode(target.name))} bytes long, more than "
            f"the {longest} its folder takes; choose a shorter name"
        )
    return target


#: What :func:`os.stat`'s mode says a file is, for the kinds no output may replace.
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _special_kind(target: Path) -> str | None:
    """What ``target`` (followed through links) is where it exists and is neither a
    regular file nor a folder: ``"a named pipe"``, ``"a character device"``
    (``/dev/null``), ...; None otherwise."""
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), None)


def written_path(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` replaces: ``path``, or the file a symbolic link
    there points to (the link is kept, as a shell's ``>`` keeps it); the links of a
    chain are followed, and a dangling link's target is created."""
    target = Path(path)
    if not target.is_symlink():
        return target
    return Path(os.path.realpath(target))


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same path, or one file by two names (a
    link, another spelling of a folder); False when either does not exist yet."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_an_input(
    path: str | os.PathLike[str], option: str, inputs: Mapping[str, str | os.PathLike[str] | None]
) -> None:
    """Raise :class:`~dagmm.exceptions.InvalidInputError` if ``path`` is one of ``inputs``.

    The rename that makes a write atomic would replace the file a command reads (its
    data, its model), or another file it writes, with this output: the input would be
    lost for good.

    Parameters
    ----------
    path : str or PathLike
        The file to be written.
    option : str
        How the user named ``path`` (``--out``), for the message.
    inputs : mapping of str to path or None
        The other files of the command, by how the user named them (``DATA``,
        ``MODEL``, ``--out``); None is skipped.

    Raises
    ------
    InvalidInputError
        ``path`` names the same file as one of ``inputs``.
    """
    target = Path(path)
    for name, source in inputs.items():
        if source is None:
            continue
        if _same_file(target, Path(source)):
            raise InvalidInputError(
                f"{option} {path} is the same file as {name} ({source}): writing it would "
                f"replace that file; choose another path"
            )
        # DATA may be a folder of Parquet files (a MODEL folder is an error of its own)
        if name == "DATA" and Path(source).is_dir() and _inside(target, Path(source)):
            raise InvalidInputError(
                f"{option} {path} is inside {name} ({source}), a folder read as data: "
                "writing it there would replace or add to that data; choose a path outside it"
            )


def _inside(target: Path, folder: Path) -> bool:
    """Whether ``target`` lies within ``folder`` (at any depth), links resolved."""
    try:
        target.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_folder_writable(path: str | os.PathLike[str]) -> Path:
    """Raise what writing files into the folder ``path`` would raise, before any work.

    The folder may be missing (it is created, with its parents, when written to):
    then its nearest existing ancestor must be a writable directory.

    Raises
    ------
    NotADirectoryError, PermissionError
    """
    folder = Path(path)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == folder else f" (writing into {folder})"
        raise NotADirectoryError(f"{existing} is a file, not a directory{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"directory {existing} is not writable (writing into {folder})")
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it into place.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = check_writable(path)
    # a name near the folder's limit leaves no room for the suffixes
    stem = target.name if len(os.fsencode(target.name)) <= 200 else "dagmm-output"
    tmp = target.with_name(f".{stem}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
            with contextlib.suppress(FileNotFoundError):
                # a rerun keeps the permissions given to the file it replaces (mode 600)
                os.fchmod(handle.fileno(), stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_files(files: Mapping[Path, bytes]) -> list[Path]:
    """Write several files as one: each to a temporary name, and only once all of them
    are written and fsynced, each renamed into place.

    A failure while writing (a full disk, a crash) leaves every target as it was;
    only the renames, in a row at the end, are not one step.

    Parameters
    ----------
    files : mapping of Path to bytes
        Each target path and its contents.

    Returns
    -------
    list of Path
        The paths written, in the order of ``files``.
    """
    with contextlib.ExitStack() as stack:
        for path, data in files.items():
            stack.enter_context(atomic_path(path)).write_bytes(data)
    return list(files)
