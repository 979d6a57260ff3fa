"""Loaders for the paper's data sets and the ODDS benchmarks, with verified downloads.

Every loader returns a :class:`Dataset` ``(X, y, feature_names, name)`` with ``X``
float32 and ``y`` int64 where **1 = anomaly in the paper's sense**: for KDDCUP the
``normal.`` traffic (the minority) is the anomaly; for KDDCUP-Rev the attacks are.

Files are looked up in a data directory: the ``data_dir`` argument, else the
environment variable ``DAGMM_DATA``, else the user cache (``$XDG_CACHE_HOME/dagmm``
or ``~/.cache/dagmm``). A missing file is downloaded from its canonical public
source (or ``base_url`` / ``DAGMM_DATA_URL`` + file name, for mirrors and tests),
its sha256 verified, and cached with a temporary name and a rename, so a failed or
corrupted download never leaves a file behind. A file found in the data directory
(downloaded earlier, or put there by hand) is verified too, each time it is loaded:
one that is not the canonical file (damaged on disk, cut short, another file under
its name) raises :class:`ChecksumError` instead of loading other data under the data
set's name. Hashing costs little beside parsing (KDDCUP: 1-3 ms of a 2.1-2.8 s load).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._atomic import atomic_path, check_writable
from ._docstrings import fill_doc
from .exceptions import DAGMMError

__all__ = [
    "FILES",
    "ChecksumError",
    "Dataset",
    "DatasetError",
    "DownloadError",
    "data_dir",
    "fetch_file",
    "kddcup_labels",
    "load_arrhythmia",
    "load_dataset",
    "load_kddcup",
    "load_kddcup_rev",
    "load_odds",
    "load_thyroid",
]


class DatasetError(DAGMMError):
    """A data set file cannot be found, fetched or parsed."""


class DownloadError(DatasetError):
    """Downloading a data set file failed (network, HTTP status, empty body)."""


class ChecksumError(DatasetError):
    """A downloaded or cached file does not have the expected sha256."""


class Dataset(NamedTuple):
    """A loaded data set: features, labels (1 = anomaly), feature names, name.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float32
        The features, unscaled (:class:`~dagmm.DAGMM` scales them as its ``scaler`` says).
    y : ndarray of shape (n_samples,), int64
        1 = anomaly in the paper's sense, 0 = normal; for KDDCUP the ``normal.``
        traffic is the anomaly.
    feature_names : list of str
        Name of each column of ``X``: for KDDCUP the numeric columns' names, then
        ``column=category`` for the one-hot columns; ``x0``, ``x1``, ... for ODDS.
    name : str
        The data set's name as :func:`load_dataset` accepts it (``"kddcup"``,
        ``"kddcup_rev"``, ``"thyroid"``, ...).
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    name: str


class _Source(NamedTuple):
    url: str
    sha256: str


#: file name -> canonical URL and sha256 (see the data sets README).
FILES: dict[str, _Source] = {
    "kddcup.data_10_percent.gz": _Source(
        "http://kdd.ics.uci.edu/databases/kddcup99/kddcup.data_10_percent.gz",
        "8045aca0d84e70e622d1148d7df782496f6333bf6eb979a1b0837c42a9fd9561",
    ),
    # ADBench's packaging of the ODDS Thyroid data (file 38_thyroid.npz there).
    "thyroid.npz": _Source(
        "https://github.com/Minqi824/ADBench/raw/main/adbench/datasets/Classical/38_thyroid.npz",
        "8de161b3f235b7647bb0b39a836d983ff61d67bf234edac461da2d71e889cb87",
    ),
    # ODDS (odds.cs.stonybrook.edu) serves its .mat files from these links.
    "arrhythmia.mat": _Source(
        "https://www.dropbox.com/s/lmlwuspn1sey48r/arrhythmia.mat?dl=1",
        "e4d47e499591ae31e5d7f0cd983367092353eac240f48e14c9b36457edb3460d",
    ),
    "cardio.mat": _Source(
        "https://www.dropbox.com/s/galg3ihvxklf0qi/cardio.mat?dl=1",
        "5e568b6a73711012c481fa6cc984ab9c68e9a4fa44d6aeb3b43efa381c3f695b",
    ),
    "ionosphere.mat": _Source(
        "https://www.dropbox.com/s/lpn4z73fico4uup/ionosphere.mat?dl=1",
        "8ac5dfa6f47db4acdfe10615489b7f7dd015d79d5b381ce641e72baca3cfefb0",
    ),
    "letter.mat": _Source(
        "https://www.dropbox.com/s/rt9i95h9jywrtiy/letter.mat?dl=1",
        "f4a229b0e2a6b0c9157ce27fa760bcbac0f948cd690b2f5d51c120e5450f2195",
    ),
    "pima.mat": _Source(
        "https://www.dropbox.com/s/mvlwu7p0nyk2a2r/pima.mat?dl=1",
        "b6a5be8d548b9293d6958beceb1c77055591714d25d40d957eba87808456468f",
    ),
}

ODDS_NAMES = ("arrhythmia", "cardio", "ionosphere", "letter", "pima", "thyroid")

_KDD_COLUMNS = [
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
]  # fmt: skip
_KDD_CATEGORICAL = ("protocol_type", "service", "flag")

#: KDDCUP-Rev: attack rows drawn per run (the paper's 24,319, a 0.2 anomaly ratio).
KDDCUP_REV_ANOMALIES = 24319


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``path``, else ``$DAGMM_DATA``, else the user cache.

    Parameters
    ----------
    path : str or PathLike, optional
        An explicit data directory; returned as given, but for a leading ``~``
        (``~/dagmm-data``), which is expanded to the home folder.

    Returns
    -------
    Path
        ``path``, else ``$DAGMM_DATA`` when set and not empty, else
        ``$XDG_CACHE_HOME/dagmm`` (``~/.cache/dagmm`` without ``XDG_CACHE_HOME``).
        A leading ``~`` of ``path`` or ``$DAGMM_DATA`` is expanded, as a shell does
        (it does not in ``--data-dir=~/x`` or a quoted ``DAGMM_DATA='~/x'``). The
        folder is not created here.
    """
    # A "~" left unexpanded would otherwise be a folder of that name in the working
    # directory (as scikit-learn's get_data_home, expand it).
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("DAGMM_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "dagmm"


def _origin(path: str | os.PathLike[str] | None) -> str:
    """Where :func:`data_dir` took the data directory from, for error messages."""
    if path is not None:
        return "given as data_dir"
    if os.environ.get("DAGMM_DATA"):
        return "from DAGMM_DATA"
    return "the user cache; set DAGMM_DATA to use another folder"


def _damaged(path: Path, what: str, exc: object) -> DatasetError:
    """The error for a data file that cannot be read: says whether its bytes are the
    canonical file's, and how to get those (a download interrupted outside dagmm, a
    copy from elsewhere)."""
    expected = FILES[path.name].sha256
    try:
        actual = _sha256(path)
    except OSError:
        actual = "unreadable"
    verdict = (
        "its sha256 is that of the canonical file"
        if actual == expected
        else f"its sha256 is {actual}, not the canonical {expected}: delete it and it "
        "is downloaded again, or replace it with the canonical file"
    )
    return DatasetError(f"cannot read {path} as {what}: {exc}; {verdict}")


def _verified(path: Path) -> Path:
    """``path``, once its sha256 is the one :data:`FILES` gives for its name.

    Raises
    ------
    ChecksumError
        It is another: the message names the file, both checksums and the way out.
    DatasetError
        It cannot be read.
    """
    expected = FILES[path.name].sha256
    try:
        actual = _sha256(path)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if actual != expected:
        raise ChecksumError(
            f"{path} is not the canonical {path.name}: its sha256 is {actual}, not the "
            f"canonical {expected} (damaged on disk, cut short, or another file under its "
            "name); delete it and it is downloaded again, or replace it with the canonical file"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_file(
    filename: str,
    data_dir_: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Path of ``filename`` in the data directory, downloading and verifying it if absent.

    A file already in the data directory is returned once its sha256 is the one
    :data:`FILES` gives. A missing one is downloaded under a temporary name, its
    sha256 compared with :data:`FILES`, and only then renamed into place; the
    data directory is created if needed.

    Parameters
    ----------
    filename : str
        One of :data:`FILES`.
    data_dir_ : str or PathLike, optional
        Data directory (see :func:`data_dir`).
    base_url : str, optional
        Download ``base_url/filename`` instead of the canonical URL (a mirror);
        defaults to ``$DAGMM_DATA_URL`` when set.
    timeout : float, default 60.0
        Timeout in seconds of the connection and of each read of the download.

    Returns
    -------
    Path
        ``data_dir(data_dir_) / filename``, an existing file.

    Raises
    ------
    DatasetError
        ``filename`` is not in :data:`FILES`, or the data directory cannot be created
        or written to (not writable; a folder where the file should be).
    DownloadError
        The download failed (no connection, an HTTP error status, a server that does
        not answer in HTTP, a transfer cut short); nothing is left in the data
        directory, and the folders created for it are removed again.
    ChecksumError
        The file in the data directory, or the downloaded one, does not have the
        expected sha256 (nothing downloaded is kept; a file that was there is left
        as it is, for the user to delete or replace).
    """
    if filename not in FILES:
        raise DatasetError(f"unknown data set file {filename!r}; known: {sorted(FILES)}")
    source = FILES[filename]
    folder = data_dir(data_dir_)
    target = folder / filename
    if target.is_file():
        return _verified(target)
    base_url = base_url or os.environ.get("DAGMM_DATA_URL") or None
    url = f"{base_url.rstrip('/')}/{filename}" if base_url else source.url
    created = _make_folder(folder, _origin(data_dir_))
    try:
        _check_writable(target, data_dir_)
        _download(url, target, source.sha256, timeout, given=data_dir_ is not None)
    except BaseException:
        # A failed download leaves no trace: not even the folders made for it (a
        # mistyped DAGMM_DATA would otherwise appear as an empty folder).
        for made in created:
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    return target


def _make_folder(folder: Path, origin: str) -> list[Path]:
    """Create ``folder`` with its parents; the folders created, innermost first."""
    missing = []
    parent = folder
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir():
        raise DatasetError(f"data directory {folder} ({origin}): {parent} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create data directory {folder} ({origin}): {exc}") from exc
    return missing


def _check_writable(target: Path, data_dir_: str | os.PathLike[str] | None) -> None:
    """Raise :class:`DatasetError` unless ``target`` can be written into its folder, the
    data directory: naming the folder, where it came from and the way out."""
    folder = target.parent
    if data_dir_ is not None:
        origin, way = "given as data_dir", "give another data_dir (--data-dir)"
    else:
        origin = "from DAGMM_DATA" if os.environ.get("DAGMM_DATA") else "the user cache"
        way = "set DAGMM_DATA to another folder (or give --data-dir)"
    where = f"cannot download {target.name} into data directory {folder} ({origin})"
    if target.exists():  # and is no regular file (fetch_file returns those)
        kind = "a directory" if target.is_dir() else "not a regular file"
        raise DatasetError(f"{where}: {target} is {kind}, not the file; move it away, or {way}")
    try:
        check_writable(target)
    except PermissionError as exc:
        raise DatasetError(f"{where}: it is not writable; make it writable, or {way}") from exc
    except (OSError, DAGMMError) as exc:
        raise DatasetError(f"{where}: {exc}; {way}") from exc


def _content_length(response: object) -> int | None:
    """The ``Content-Length`` a response announced, or None (absent, not a number)."""
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _what_went_wrong(exc: BaseException) -> str:
    """One line for a failed transfer: http.client's own texts name a class (and may hold
    the raw bytes a server sent, line ends included)."""
    if not isinstance(exc, http.client.HTTPException) or isinstance(exc, OSError):
        return str(exc)  # RemoteDisconnected is both: "Remote end closed connection ..."
    if isinstance(exc, http.client.IncompleteRead):
        # (its count of bytes is of the last chunk read, not of the file)
        return "the connection closed before the end of the file (cut short; try again)"
    if isinstance(exc, http.client.BadStatusLine):
        first = str(getattr(exc, "line", exc)).strip()[:80]
        return f"the server did not answer in HTTP (its first line: {first!r})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _elsewhere(given: bool) -> str:
    """How to point the loaders at a copy elsewhere: DAGMM_DATA, unless the folder was
    given (a data_dir, --data-dir), which DAGMM_DATA does not override."""
    return "give another data_dir (--data-dir)" if given else "set DAGMM_DATA to a folder"


def _download(url: str, target: Path, sha256: str, timeout: float, given: bool = False) -> None:
    """Download ``url`` to ``target`` if its bytes have ``sha256``; else raise, keeping nothing."""
    filename, folder = target.name, target.parent
    # Downloaded to a temporary name and renamed only once its checksum matches.
    with atomic_path(target) as tmp:
        received, expected, kind = 0, None, ""
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "dagmm"})
            with (
                urllib.request.urlopen(request, timeout=timeout) as response,
                open(tmp, "wb") as out,
            ):
                kind = response.headers.get_content_type()
                expected = _content_length(response)
                while block := response.read(1 << 16):
                    out.write(block)
                    received += len(block)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # http.client's errors are no OSError: a transfer cut short (IncompleteRead), a
            # server that does not speak HTTP (BadStatusLine)
            raise DownloadError(
                f"downloading {filename} from {url} failed: {_what_went_wrong(exc)}; "
                f"download it by hand into {folder} or {_elsewhere(given)} that has it"
            ) from exc
        # A server closing early under a Content-Length ends the body short, without an
        # error from http.client: not a checksum mismatch (another file), but a retry.
        if expected is not None and received < expected:
            raise DownloadError(
                f"downloading {filename} from {url} was cut short after {received} of "
                f"{expected} bytes (the connection closed early); try again"
            )
        if tmp.stat().st_size == 0:
            raise DownloadError(f"downloading {filename} from {url} gave an empty file")
        actual = _sha256(tmp)
        if actual != sha256:
            raise ChecksumError(
                f"{filename} downloaded from {url} has sha256 {actual}, expected "
                f"{sha256}; the file was not kept{_web_page_hint(tmp, kind, folder, given)}"
            )


def _web_page_hint(path: Path, kind: str, folder: Path, given: bool) -> str:
    """Where a download is a web page (a sign-in, rate-limit or download-confirmation
    page, as file hosts send in place of a file), the words saying so; else ""."""
    with open(path, "rb") as handle:
        start = handle.read(1024).lstrip().lower()
    if kind != "text/html" and not start.startswith((b"<!doctype html", b"<html")):
        return ""
    return (
        " (the server sent a web page, not the file: a sign-in, rate-limit or download "
        f"page?); download it by hand into {folder} or {_elsewhere(given)} that has it"
    )


def _path(filename: str, data_dir_: str | os.PathLike[str] | None, download: bool) -> Path:
    path = data_dir(data_dir_) / filename
    if path.is_file():
        return _verified(path)
    if path.is_dir():
        raise DatasetError(
            f"{path} is a directory, not the file {filename}: move it away, or "
            f"{_elsewhere(data_dir_ is not None)} holding {filename}"
        )
    if not download:
        raise DatasetError(
            f"{path} not found (data directory {_origin(data_dir_)}; download=False): "
            f"{_elsewhere(data_dir_ is not None)} holding {filename}"
        )
    return fetch_file(filename, data_dir_)


# ----------------------------------------------------------------- KDDCUP99
def _read_kddcup(data_dir_: str | os.PathLike[str] | None, download: bool) -> tuple:
    import pandas as pd

    from ._numbers import READ_CSV_EXACT

    path = _path("kddcup.data_10_percent.gz", data_dir_, download)
    try:
        frame = pd.read_csv(path, header=None, names=[*_KDD_COLUMNS, "label"], **READ_CSV_EXACT)
    except Exception as exc:  # parse errors of a damaged file
        raise _damaged(path, "the KDDCUP99 CSV", exc) from exc
    if frame.shape[1] != 42 or pd.api.types.is_numeric_dtype(frame["label"]):
        raise _damaged(path, "the KDDCUP99 CSV", "expected 42 columns with a text label last")
    labels = frame.pop("label").to_numpy()
    # One-hot only the three categorical columns, with categories in sorted order
    # so the columns are the same on every machine: 38 numeric + 3 + 66 + 11 = 118.
    numeric = [c for c in _KDD_COLUMNS if c not in _KDD_CATEGORICAL]
    blocks = [frame[numeric].to_numpy(dtype=np.float32)]
    names = list(numeric)
    for column in _KDD_CATEGORICAL:
        values = frame[column].astype(str).to_numpy()
        categories = np.unique(values)
        blocks.append((values[:, None] == categories[None, :]).astype(np.float32))
        names.extend(f"{column}={c}" for c in categories)
    return np.hstack(blocks), labels, names


@fill_doc
def load_kddcup(data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> Dataset:
    """KDDCUP99 10%: 494,021 rows x 118 features; ``y = 1`` for the ``normal.`` rows.

    The three categorical columns (protocol_type, service, flag) are one-hot
    encoded with their sorted categories and the other 38 columns kept as numbers:
    118 columns. The paper reports 120 without saying how; the public ports
    produce 118 this way. Rows labelled ``normal.`` (19.69 %) are the anomalies
    in the paper's setting.

    The file is ``kddcup.data_10_percent.gz`` (gzipped CSV, no header, the label
    last).

    Parameters
    ----------
    {file_parameters}

    Returns
    -------
    Dataset
        ``X`` of shape (494021, 118) float32 and ``y`` of shape (494021,) int64,
        rows in file order; ``name`` is ``"kddcup"``.

    Raises
    ------
    {file_errors}
    """
    X, labels, names = _read_kddcup(data_dir, download)
    y = (labels == "normal.").astype(np.int64)
    return Dataset(X, y, names, "kddcup")


@fill_doc
def kddcup_labels(
    data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> np.ndarray:
    """The KDDCUP99 10% file's label of every row (``normal.``, ``smurf.``, ...), in file order.

    For reporting which kinds of traffic a model confuses; the rows are those of
    :func:`load_kddcup`.

    Parameters
    ----------
    {file_parameters}

    Returns
    -------
    ndarray of shape (494021,), object
        The label strings as in the file, trailing dot included (``"normal."``).

    Raises
    ------
    {file_errors}
    """
    return _read_kddcup(data_dir, download)[1]


@fill_doc
def load_kddcup_rev(
    random_state: int | None = 0,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Dataset:
    """KDDCUP-Rev: all 97,278 ``normal.`` rows (normal) + 24,319 random attack rows (``y = 1``).

    The attack rows are drawn without replacement with ``random_state`` (the
    paper draws them anew in every run). Rows keep the file's order.

    Parameters
    ----------
    random_state : int or None, default 0
        Seed of the :func:`numpy.random.default_rng` that draws the attack rows;
        None draws different rows on every call.
    {file_parameters}

    Returns
    -------
    Dataset
        ``X`` of shape (121597, 118) float32 (the columns of :func:`load_kddcup`),
        ``y`` of shape (121597,) int64 with 1 for the attacks (an anomaly ratio of
        0.2); ``name`` is ``"kddcup_rev"``.

    Raises
    ------
    {file_errors}
    """
    X, labels, names = _read_kddcup(data_dir, download)
    attack = np.flatnonzero(labels != "normal.")
    normal = np.flatnonzero(labels == "normal.")
    rng = np.random.default_rng(random_state)
    drawn = rng.choice(attack, size=min(KDDCUP_REV_ANOMALIES, len(attack)), replace=False)
    keep = np.sort(np.concatenate([normal, drawn]))
    y = (labels[keep] != "normal.").astype(np.int64)
    return Dataset(X[keep], y, names, "kddcup_rev")


# ---------------------------------------------------------------------- ODDS
@fill_doc
def load_odds(
    name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> Dataset:
    """An ODDS data set (``arrhythmia``, ``cardio``, ``ionosphere``, ``letter``, ``pima``,
    ``thyroid``): ``X`` as float32 and ``y`` with 1 = anomaly, as ODDS labels them.

    Thyroid is read from ``thyroid.npz`` (ADBench's packaging, arrays ``X`` and
    ``y``), the others from ODDS' ``<name>.mat`` files (MATLAB, arrays ``X`` and
    ``y``).

    Parameters
    ----------
    name : str
        One of the names above, in any case.
    {file_parameters}

    Returns
    -------
    Dataset
        ``X`` of shape (n_samples, n_features) float32, ``y`` of shape
        (n_samples,) int64, ``feature_names`` ``x0``, ``x1``, ... and ``name`` the
        lower-case name. Sizes: arrhythmia 452 x 274, cardio 1,831 x 21,
        ionosphere 351 x 33, letter 1,600 x 32, pima 768 x 8, thyroid 3,772 x 6.

    Raises
    ------
    DatasetError
        ``name`` is not an ODDS name; the file is missing and ``download`` is
        False; or it cannot be read or does not hold ``X`` (n, d) and ``y`` (n,)
        of 0/1.
    ChecksumError
        The file in the data directory, or the one downloaded, is not the
        canonical file: its sha256 differs (a :class:`DatasetError`).
    DownloadError
        Downloading the missing file failed (a :class:`DatasetError`).
    """
    key = name.lower()
    if key not in ODDS_NAMES:
        raise DatasetError(f"unknown ODDS data set {name!r}; choose one of {list(ODDS_NAMES)}")
    if key == "thyroid":
        path = _path("thyroid.npz", data_dir, download)
        try:
            with np.load(path, allow_pickle=False) as archive:
                X, y = archive["X"], archive["y"]
        except Exception as exc:
            raise _damaged(path, "an .npz with arrays X and y", exc) from exc
    else:
        from scipy.io import loadmat

        path = _path(f"{key}.mat", data_dir, download)
        try:
            mat = loadmat(path)
            X, y = mat["X"], mat["y"]
        except Exception as exc:
            raise _damaged(path, "a .mat with X and y", exc) from exc
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y).ravel().astype(np.int64)
    if X.ndim != 2 or len(X) != len(y) or not set(np.unique(y)) <= {0, 1}:
        raise _damaged(
            path,
            "an ODDS data set",
            f"expected X (n, d) and y (n,) of 0/1, got {X.shape}, {y.shape}",
        )
    names = [f"x{i}" for i in range(X.shape[1])]
    return Dataset(X, y, names, key)


@fill_doc
def load_thyroid(data_dir: str | os.PathLike[str] | None = None, download: bool = True) -> Dataset:
    """ODDS Thyroid: 3,772 x 6, 93 anomalies (the hyperfunction class, 2.47 %).

    Same as ``load_odds("thyroid", data_dir, download)``.

    Parameters
    ----------
    {file_parameters}

    Returns
    -------
    Dataset
        ``X`` of shape (3772, 6) float32 and ``y`` of shape (3772,) int64;
        ``name`` is ``"thyroid"``.

    Raises
    ------
    {file_errors}
    """
    return load_odds("thyroid", data_dir, download)


@fill_doc
def load_arrhythmia(
    data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> Dataset:
    """ODDS Arrhythmia: 452 x 274, 66 anomalies (14.6 %).

    Same as ``load_odds("arrhythmia", data_dir, download)``.

    Parameters
    ----------
    {file_parameters}

    Returns
    -------
    Dataset
        ``X`` of shape (452, 274) float32 and ``y`` of shape (452,) int64;
        ``name`` is ``"arrhythmia"``.

    Raises
    ------
    {file_errors}
    """
    return load_odds("arrhythmia", data_dir, download)


@fill_doc
def load_dataset(
    name: str,
    random_state: int | None = 0,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Dataset:
    """Load any data set by name (``kddcup``, ``kddcup_rev``, or an ODDS name).

    Parameters
    ----------
    name : str
        ``"kddcup"`` (:func:`load_kddcup`), ``"kddcup_rev"`` (:func:`load_kddcup_rev`)
        or an ODDS name (:func:`load_odds`); case-insensitive, ``-`` may stand for
        ``_`` (``"KDDCUP-Rev"``).
    random_state : int or None, default 0
        Seed of the attack rows drawn for ``kddcup_rev``; ignored otherwise.
    {file_parameters}

    Returns
    -------
    Dataset
        As the loader for ``name`` returns it; ``y = 1`` marks the anomalies.

    Raises
    ------
    DatasetError
        ``name`` is unknown, or as the loader for ``name`` raises.
    """
    key = name.lower().replace("-", "_")
    if key == "kddcup":
        return load_kddcup(data_dir, download)
    if key == "kddcup_rev":
        return load_kddcup_rev(random_state, data_dir, download)
    if key not in ODDS_NAMES:
        known = ["kddcup", "kddcup_rev", *ODDS_NAMES]
        near = difflib.get_close_matches(key, known, 1)
        guess = f" (did you mean {near[0]!r}?)" if near else ""
        raise DatasetError(f"unknown data set {name!r}{guess}; choose one of {known}")
    return load_odds(key, data_dir, download)
