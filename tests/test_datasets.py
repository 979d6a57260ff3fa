"""Data set loaders: shapes, label semantics, ratios, and the verified download path."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from dagmm import datasets
from dagmm.datasets import ChecksumError, DatasetError, DownloadError
from dagmm.exceptions import DAGMMError

ODDS_EXPECTED = {
    # name: (rows, columns, anomalies), from the shared data sets README
    "thyroid": (3772, 6, 93),
    "arrhythmia": (452, 274, 66),
    "cardio": (1831, 21, 176),
    "ionosphere": (351, 33, 126),
    "letter": (1600, 32, 100),
    "pima": (768, 8, 268),
}


def _require(datasets_dir: Path, filename: str) -> None:
    if not (datasets_dir / filename).is_file():
        pytest.skip(f"{filename} not in {datasets_dir}")


@pytest.mark.parametrize("name", sorted(ODDS_EXPECTED))
def test_odds_shapes_and_labels(datasets_dir: Path, name: str) -> None:
    _require(datasets_dir, "thyroid.npz" if name == "thyroid" else f"{name}.mat")
    data = datasets.load_odds(name, data_dir=datasets_dir, download=False)
    rows, cols, anomalies = ODDS_EXPECTED[name]
    assert data.X.shape == (rows, cols)
    assert data.X.dtype == np.float32
    assert data.y.shape == (rows,)
    assert set(np.unique(data.y)) == {0, 1}
    assert int(data.y.sum()) == anomalies
    assert len(data.feature_names) == cols
    assert np.isfinite(data.X).all()


def test_named_loaders_match_odds(datasets_dir: Path) -> None:
    _require(datasets_dir, "thyroid.npz")
    _require(datasets_dir, "arrhythmia.mat")
    thyroid = datasets.load_thyroid(datasets_dir, download=False)
    assert thyroid.X.shape == (3772, 6) and abs(thyroid.y.mean() - 0.0247) < 1e-3
    # Thyroid ships scaled to [0, 1]; arrhythmia is raw.
    assert thyroid.X.min() >= 0 and thyroid.X.max() <= 1
    arrhythmia = datasets.load_arrhythmia(datasets_dir, download=False)
    assert abs(arrhythmia.y.mean() - 0.146) < 1e-3
    assert arrhythmia.X.max() > 1


def test_kddcup_encoding_and_paper_semantics(datasets_dir: Path) -> None:
    _require(datasets_dir, "kddcup.data_10_percent.gz")
    data = datasets.load_kddcup(datasets_dir, download=False)
    # 38 numeric + 3 protocol + 66 service + 11 flag columns.
    assert data.X.shape == (494021, 118)
    assert len(data.feature_names) == 118
    assert data.X.dtype == np.float32
    # In the paper, the `normal.` traffic (the minority) is the anomaly.
    assert int(data.y.sum()) == 97278
    assert abs(data.y.mean() - 0.1969) < 1e-4
    names = np.array(data.feature_names)
    for prefix, size in (("protocol_type=", 3), ("service=", 66), ("flag=", 11)):
        group = np.array([n.startswith(prefix) for n in names])
        assert group.sum() == size
        # one-hot: exactly one 1 per row in each group
        assert np.array_equal(data.X[:, group].sum(1), np.ones(len(data.X), np.float32))
    numeric = ~np.array(["=" in n for n in names])
    assert numeric.sum() == 38
    assert "protocol_type=tcp" in data.feature_names


@pytest.mark.slow
def test_kddcup_rev(datasets_dir: Path) -> None:
    _require(datasets_dir, "kddcup.data_10_percent.gz")
    # KDDCUP-Rev: every `normal.` row is normal, 24,319 attacks drawn as anomalies.
    rev = datasets.load_kddcup_rev(0, datasets_dir, download=False)
    assert rev.X.shape == (97278 + 24319, 118)
    assert int(rev.y.sum()) == 24319 and int((rev.y == 0).sum()) == 97278
    rev_again = datasets.load_kddcup_rev(0, datasets_dir, download=False)
    assert np.array_equal(rev.X, rev_again.X)
    other = datasets.load_kddcup_rev(1, datasets_dir, download=False)
    assert not np.array_equal(rev.X, other.X)


def test_data_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path / "env"))
    assert datasets.data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert datasets.data_dir() == tmp_path / "env"
    monkeypatch.delenv("DAGMM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert datasets.data_dir() == tmp_path / "cache" / "dagmm"


def test_missing_file_without_download(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"pima\.mat"):
        datasets.load_odds("pima", data_dir=tmp_path, download=False)


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(DAGMMError, match="unknown ODDS"):
        datasets.load_odds("nosuch", data_dir=tmp_path)
    with pytest.raises(DAGMMError, match="unknown data set file"):
        datasets.fetch_file("nosuch.mat", tmp_path)


# ----------------------------------------------------------- download path
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@contextlib.contextmanager
def _serve(folder: Path):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_and_caches(datasets_dir: Path, tmp_path: Path) -> None:
    _require(datasets_dir, "pima.mat")
    _require(datasets_dir, "thyroid.npz")
    served = tmp_path / "served"
    served.mkdir()
    for name in ("pima.mat", "thyroid.npz"):
        shutil.copy(datasets_dir / name, served / name)
    cache = tmp_path / "cache"
    with _serve(served) as url:
        path = datasets.fetch_file("pima.mat", cache, base_url=url)
        assert path == cache / "pima.mat"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == datasets.FILES["pima.mat"].sha256
        assert _leftovers(cache) == ["pima.mat"]
        # A cached file is used without contacting the server again.
        (served / "pima.mat").unlink()
        assert datasets.fetch_file("pima.mat", cache, base_url=url) == path
    data = datasets.load_odds("pima", data_dir=cache, download=False)
    assert data.X.shape == (768, 8)


def test_download_through_loader_and_env(
    datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require(datasets_dir, "thyroid.npz")
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(datasets_dir / "thyroid.npz", served / "thyroid.npz")
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path / "data"))
    with _serve(served) as url:
        monkeypatch.setenv("DAGMM_DATA_URL", url)
        data = datasets.load_thyroid()
    assert data.X.shape == (3772, 6)
    assert (tmp_path / "data" / "thyroid.npz").is_file()


def test_wrong_checksum_leaves_nothing(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "pima.mat").write_bytes(b"not the real file" * 100)
    cache = tmp_path / "cache"
    with _serve(served) as url, pytest.raises(ChecksumError, match="sha256"):
        datasets.fetch_file("pima.mat", cache, base_url=url)
    assert _leftovers(cache) == []


def test_failed_download_leaves_nothing(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    cache = tmp_path / "cache"
    with _serve(served) as url, pytest.raises(DownloadError, match=r"cardio\.mat"):
        datasets.fetch_file("cardio.mat", cache, base_url=url)  # 404
    assert _leftovers(cache) == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    # Port 9 on localhost (discard) is closed: connection refused, no internet involved.
    with pytest.raises(DownloadError, match=r"letter\.mat"):
        datasets.fetch_file("letter.mat", tmp_path, base_url="http://127.0.0.1:9", timeout=5)
    assert _leftovers(tmp_path) == []


def test_kddcup_labels_line_up_with_the_rows(datasets_dir: Path) -> None:
    _require(datasets_dir, "kddcup.data_10_percent.gz")
    labels = datasets.kddcup_labels(datasets_dir, download=False)
    data = datasets.load_kddcup(datasets_dir, download=False)
    assert labels.shape == (494_021,)
    np.testing.assert_array_equal(data.y, (labels == "normal.").astype(np.int64))
    kinds, counts = np.unique(labels, return_counts=True)
    assert dict(zip(kinds, counts, strict=True))["neptune."] == 107_201


def test_failed_download_removes_the_folders_it_made(tmp_path: Path) -> None:
    """Until 2026-12-05 a mistyped DAGMM_DATA was left behind as an empty folder."""
    served = tmp_path / "served"
    served.mkdir()
    with _serve(served) as url, pytest.raises(DownloadError, match=r"cardio\.mat"):
        datasets.fetch_file("cardio.mat", tmp_path / "typo" / "data", base_url=url)  # 404
    assert not (tmp_path / "typo").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with _serve(served) as url, pytest.raises(DownloadError):
        datasets.fetch_file("cardio.mat", kept, base_url=url)
    assert kept.is_dir()  # a folder that was there stays


def test_data_dir_that_is_a_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "datasets.txt"
    afile.write_text("not a folder")
    monkeypatch.setenv("DAGMM_DATA", str(afile))
    with pytest.raises(
        DatasetError, match=r"\(from DAGMM_DATA\): .*datasets\.txt is not a directory"
    ):
        datasets.load_odds("pima")


@pytest.mark.parametrize("filename", ["pima.mat", "thyroid.npz", "kddcup.data_10_percent.gz"])
def test_damaged_cached_file_names_its_checksum_and_the_way_out(
    datasets_dir: Path, tmp_path: Path, filename: str
) -> None:
    """A cached file cut short (copied while downloading, a full disk): the error names
    the file, its sha256 against the canonical one, and what to do."""
    _require(datasets_dir, filename)
    (tmp_path / filename).write_bytes((datasets_dir / filename).read_bytes()[:5000])
    name = {"pima.mat": "pima", "thyroid.npz": "thyroid"}.get(filename, "kddcup")
    expected = datasets.FILES[filename].sha256
    with pytest.raises(DatasetError) as caught:
        datasets.load_dataset(name, data_dir=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / filename) in message and f"not the canonical {expected}" in message
    assert "delete it and it is downloaded again" in message


def _flip_header_byte(data: bytes) -> bytes:
    """A byte of a .mat file's free-text header changed: the file still parses."""
    return data[:20] + bytes([data[20] ^ 0x01]) + data[21:]


@pytest.mark.parametrize(
    "source, damage",
    [("pima.mat", _flip_header_byte), ("cardio.mat", lambda data: data)],
    ids=["flipped_byte", "another_data_set"],
)
def test_a_cached_file_that_parses_but_is_not_the_canonical_one_is_refused(
    datasets_dir: Path, tmp_path: Path, source: str, damage
) -> None:
    """Until 2026-12-05 a file in the data directory was verified only when downloaded: one
    damaged later, or another data set's file under its name, loaded silently."""
    _require(datasets_dir, "pima.mat")
    _require(datasets_dir, source)
    bad = damage((datasets_dir / source).read_bytes())
    (tmp_path / "pima.mat").write_bytes(bad)
    actual = hashlib.sha256(bad).hexdigest()
    expected = datasets.FILES["pima.mat"].sha256
    for load in (
        lambda: datasets.load_odds("pima", data_dir=tmp_path, download=False),
        lambda: datasets.load_dataset("pima", data_dir=tmp_path),
        lambda: datasets.fetch_file("pima.mat", tmp_path, base_url="http://127.0.0.1:9"),
    ):
        with pytest.raises(ChecksumError) as caught:
            load()
        message = str(caught.value)
        assert str(tmp_path / "pima.mat") in message
        assert f"its sha256 is {actual}, not the canonical {expected}" in message
        assert "delete it and it is downloaded again" in message
    assert (tmp_path / "pima.mat").read_bytes() == bad  # the user's file is left as it is
    # the canonical file loads as before
    shutil.copy(datasets_dir / "pima.mat", tmp_path / "pima.mat")
    assert datasets.load_odds("pima", data_dir=tmp_path, download=False).X.shape == (768, 8)


def test_a_mistyped_name_lists_every_data_set_and_a_given_folder_is_not_told_dagmm_data(
    tmp_path, monkeypatch
):
    """Until 2026-12-07 ``load_dataset("kdcup")`` listed the ODDS sets only, as
    "unknown ODDS data set", and a data_dir given (which DAGMM_DATA does not override)
    was told to set DAGMM_DATA."""
    said = r"unknown data set 'kdcup' \(did you mean 'kddcup'\?\); choose one of \['kddcup', "
    with pytest.raises(datasets.DatasetError, match=said + r"'kddcup_rev', 'arrhythmia'"):
        datasets.load_dataset("kdcup")
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path / "env"))
    with pytest.raises(datasets.DatasetError) as caught:
        datasets.load_odds("pima", data_dir=tmp_path / "given", download=False)
    assert "give another data_dir (--data-dir) holding pima.mat" in str(caught.value)
    assert "DAGMM_DATA" not in str(caught.value).split("):")[-1]
    with pytest.raises(datasets.DatasetError, match="set DAGMM_DATA to a folder holding pima"):
        datasets.load_odds("pima", download=False)


# ------------------------------------------------- transfers cut short, odd servers
@contextlib.contextmanager
def _serve_raw(reply: bytes):
    """A server on 127.0.0.1 that reads each request and answers ``reply`` (raw bytes),
    then closes the connection: a transfer cut short, a server that is not HTTP."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:  # the timeout, to look at `stop` again
                continue
            with connection:
                connection.settimeout(5)
                request = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in request:
                        chunk = connection.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    connection.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


_CHUNKED_CUT_SHORT = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"x" * 100
_NOT_HTTP = b"SSH-2.0-OpenSSH_9.6\r\n"


@pytest.mark.parametrize(
    "reply, what",
    [
        (
            _CHUNKED_CUT_SHORT,
            "the connection closed before the end of the file (cut short; try again)",
        ),
        (_NOT_HTTP, "the server did not answer in HTTP (its first line: 'SSH-2.0-OpenSSH_9.6')"),
    ],
    ids=["chunked_cut_short", "not_http"],
)
def test_a_transfer_cut_short_or_a_server_not_speaking_http_is_a_download_error(
    tmp_path: Path, reply: bytes, what: str
) -> None:
    """Until 2026-12-07 http.client's IncompleteRead and BadStatusLine (no OSError)
    escaped the download as themselves: a traceback from the CLI, exit status 1."""
    cache = tmp_path / "new" / "data"
    with _serve_raw(reply) as url:
        with pytest.raises(DownloadError) as caught:
            datasets.fetch_file("thyroid.npz", cache, base_url=url, timeout=10)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"downloading thyroid.npz from {url}/thyroid.npz failed: {what}")
        assert not (tmp_path / "new").exists()  # no partial file, no folder made for it
        # the command line: one line, exit status 2, as for other download errors
        from click.testing import CliRunner

        from dagmm.cli.main import cli

        result = CliRunner().invoke(
            cli,
            ["reproduce", "thyroid", "--seeds", "1", "--epochs", "1", "--data-dir", str(cache),
             "--out", str(tmp_path / "res")],
            env={"DAGMM_DATA_URL": url},
        )  # fmt: skip
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dagmm: error: downloading thyroid.npz from")
    assert what in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "new").exists()


def test_a_body_shorter_than_its_content_length_is_cut_short_not_another_file(
    tmp_path: Path,
) -> None:
    """Until 2026-12-07 a server closing early under a Content-Length (http.client's
    read(n) returns short, without an error) was reported as a checksum mismatch, "has
    sha256 ..., expected ...", as if the server had sent another file."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 1000
    cache = tmp_path / "cache"
    cache.mkdir()
    with _serve_raw(reply) as url, pytest.raises(DownloadError) as caught:
        datasets.fetch_file("cardio.mat", cache, base_url=url, timeout=10)
    message = str(caught.value)
    assert f"downloading cardio.mat from {url}/cardio.mat was cut short after 1000 of 5000 " in (
        message
    )
    assert "try again" in message and "sha256" not in message
    assert _leftovers(cache) == []  # no partial file, hidden or not


@pytest.fixture
def _unwritable(monkeypatch: pytest.MonkeyPatch):
    """Make folders unwritable: chmod 555, and as root (whom chmod does not stop) a
    refusal from os.access for them too, which is what check_writable asks."""
    folders: list[Path] = []
    real_access = os.access

    def access(path, mode, *args, **kwargs) -> bool:
        if mode & os.W_OK and Path(path) in folders:
            return False
        return real_access(path, mode, *args, **kwargs)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", access)

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        folders.append(folder)
        return folder

    yield make
    for folder in folders:
        folder.chmod(0o755)


@pytest.mark.parametrize("given", ["argument", "DAGMM_DATA", "user_cache"])
def test_an_unwritable_data_directory_is_a_dataset_error_naming_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _unwritable, given: str
) -> None:
    """Until 2026-12-07 a data directory that is not writable raised a bare
    PermissionError from the download, naming neither where the folder came from nor
    what to do."""
    monkeypatch.delenv("DAGMM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = {"user_cache": tmp_path / "xdg" / "dagmm"}.get(given, tmp_path / "ro")
    _unwritable(folder)
    if given == "DAGMM_DATA":
        monkeypatch.setenv("DAGMM_DATA", str(folder))
    with _serve(tmp_path) as url, pytest.raises(DatasetError) as caught:
        datasets.fetch_file("pima.mat", folder if given == "argument" else None, base_url=url)
    message = str(caught.value)
    origin, way = {
        "argument": ("given as data_dir", "give another data_dir (--data-dir)"),
        "DAGMM_DATA": ("from DAGMM_DATA", "set DAGMM_DATA to another folder (or give --data-dir)"),
        "user_cache": ("the user cache", "set DAGMM_DATA to another folder (or give --data-dir)"),
    }[given]
    assert message == (
        f"cannot download pima.mat into data directory {folder} ({origin}): it is not "
        f"writable; make it writable, or {way}"
    )
    assert _leftovers(folder) == []


def test_a_folder_where_the_data_file_should_be_is_a_dataset_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until 2026-12-07 a folder named as the data file (``pima.mat/``) raised a bare
    IsADirectoryError from the download."""
    (tmp_path / "pima.mat").mkdir()
    monkeypatch.setenv("DAGMM_DATA", str(tmp_path))
    with _serve(tmp_path) as url, pytest.raises(DatasetError) as caught:
        datasets.fetch_file("pima.mat", base_url=url)
    assert str(caught.value) == (
        f"cannot download pima.mat into data directory {tmp_path} (from DAGMM_DATA): "
        f"{tmp_path / 'pima.mat'} is a directory, not the file; move it away, or set "
        "DAGMM_DATA to another folder (or give --data-dir)"
    )
    assert _leftovers(tmp_path) == ["pima.mat"] and (tmp_path / "pima.mat").is_dir()
    # without a download: until 2026-12-07 "pima.mat not found"
    with pytest.raises(DatasetError) as caught:
        datasets.load_odds("pima", download=False)
    assert str(caught.value) == (
        f"{tmp_path / 'pima.mat'} is a directory, not the file pima.mat: move it away, or "
        "set DAGMM_DATA to a folder holding pima.mat"
    )


def test_a_web_page_downloaded_in_place_of_the_file_is_named_so(tmp_path: Path) -> None:
    # File hosts answer a sign-in, rate-limit or confirmation page with status 200: until
    # 2026-12-07 only a checksum mismatch, for the user to work out.
    served = tmp_path / "served"
    served.mkdir()
    (served / "pima.mat").write_text("\n <!DOCTYPE html><html><body>rate limited</body></html>")
    (served / "cardio.mat").write_bytes(b"MATLAB 5.0 MAT-file, not the real one" * 10)
    cache = tmp_path / "cache"
    with _serve(served) as url:
        with pytest.raises(ChecksumError) as caught:
            datasets.fetch_file("pima.mat", cache, base_url=url)
        assert "the file was not kept (the server sent a web page, not the file" in str(
            caught.value
        )
        assert f"download it by hand into {cache} or give another data_dir" in str(caught.value)
        with pytest.raises(ChecksumError) as caught:
            datasets.fetch_file("cardio.mat", cache, base_url=url)
        assert "web page" not in str(caught.value)
    assert _leftovers(cache) == []


def test_a_tilde_in_the_data_directory_is_the_home_folder(
    datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until 2026-12-07 ``data_dir="~/dagmm-data"`` and ``DAGMM_DATA='~/dagmm-data'`` (an
    env file, ``--data-dir=~/x``: no shell expands the ``~`` there) made a folder named
    ``~`` in the working directory."""
    _require(datasets_dir, "pima.mat")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    monkeypatch.setenv("DAGMM_DATA", "~/from-env")
    assert datasets.data_dir("~/dagmm-data") == home / "dagmm-data"
    assert datasets.data_dir() == home / "from-env"
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(datasets_dir / "pima.mat", served / "pima.mat")
    with _serve(served) as url:
        assert datasets.fetch_file("pima.mat", "~/dagmm-data", base_url=url) == (
            home / "dagmm-data" / "pima.mat"
        )
        monkeypatch.setenv("DAGMM_DATA_URL", url)
        assert datasets.load_odds("pima").X.shape == (768, 8)
    assert (home / "dagmm-data" / "pima.mat").is_file()
    assert (home / "from-env" / "pima.mat").is_file()
    assert list(work.iterdir()) == []  # no folder named "~"
    # `dagmm info` names the folder the loaders use
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    result = CliRunner().invoke(cli, ["info"])
    assert f"data directory: {home / 'from-env'} (from DAGMM_DATA): 1 data set file(s)" in (
        result.output
    )
    assert list(work.iterdir()) == []
