"""Write files so that a crash leaves the old file or none, never a partial one."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "check_writable"]


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
    parent = target.parent
    if not parent.exists():
        raise FileNotFoundError(f"directory {parent} does not exist (writing {target})")
    if not parent.is_dir():
        raise NotADirectoryError(f"{parent} is not a directory (writing {target})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"directory {parent} is not writable (writing {target})")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it into place.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = check_writable(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
