"""The HTML / PNG report and the ``report`` / ``explain`` commands."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _devices import assert_same_floats

pytest.importorskip("matplotlib")

from dagmm import DAGMM, InvalidInputError, load
from dagmm.report import (
    FIGURES,
    MissingDependencyError,
    collapsed_components,
    write_report,
)
from dagmm.synthetic import make_tabular_anomalies

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NASTY = "<b>bytes & co</b>"


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict[str, str]] = []
        self.headings: list[str] = []
        self.tags: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        if tag in ("h1", "h2"):
            self._in_heading = True
            self.headings.append("")
        for key in ("src", "href"):
            value = attrs.get(key)
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_endtag(self, tag):
        if tag in ("h1", "h2"):
            self._in_heading = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_heading:
            self.headings[-1] += data


def _parse(path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    frame, y = make_tabular_anomalies(1200, 0.05, random_state=0)
    frame = frame.rename(columns={"x0": NASTY})
    frame["service"] = frame["service"].replace({"dns": "<script>alert(1)</script>"})
    train, test = frame.iloc[:600], frame.iloc[600:].reset_index(drop=True)
    model = DAGMM(epochs=5, contamination=0.05, random_state=0).fit(train)
    folder = tmp_path_factory.mktemp("report")
    model.save(folder / "model.dagmm")
    labelled = test.assign(label=y[600:], flow_id=[f"id-{i}" for i in range(len(test))])
    labelled.to_csv(folder / "test.csv", index=False)
    return model, test, y[600:], folder


def test_html_report_with_labels(fitted, tmp_path):
    model, test, y, _ = fitted
    out = tmp_path / "report.html"
    written = write_report(model, test, out, labels=y, top=7)
    assert written == [out]
    html = out.read_text(encoding="utf-8")
    page = _parse(out)
    data_images = [img for img in page.images if img.get("src", "").startswith("data:image/png;")]
    assert len(data_images) == len(page.images) == len(FIGURES)
    assert page.external == []  # readable offline: nothing outside the file
    for heading in (
        "Energy distribution",
        "The z space",
        "Training curves",
        "Mixture",
        "Detection quality",
        "Most anomalous rows (top 7)",
    ):
        assert heading in page.headings
    assert f"{model.threshold_:.6g}" in html
    # User strings are escaped: the raw markup never appears, its escaped form does.
    assert NASTY not in html and "<script>" not in html
    assert "&lt;b&gt;bytes &amp; co&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # a category
    assert "script" not in page.tags
    # Top-rows table: 7 data rows, highest energy first.
    energy = model.decision_function(test)
    expected_top = np.argsort(-energy, kind="stable")[:7]
    for position in expected_top:
        assert f"<td>{position}</td>" in html
    assert "AUROC" in html and "precision" in html


def test_html_report_without_labels_or_training_scores(fitted, tmp_path):
    model, test, _, _folder = fitted
    model.save(tmp_path / "bare.dagmm", include_training_scores=False)
    bare = load(tmp_path / "bare.dagmm")
    out = tmp_path / "report.html"
    write_report(bare, test, out, top=3)
    page = _parse(out)
    assert len(page.images) == len(FIGURES) - 1  # no ROC/PR without labels
    assert "Detection quality" not in page.headings
    assert "holds no training energies" in out.read_text(encoding="utf-8")
    assert "predicted labels" in out.read_text(encoding="utf-8")


def test_png_format(fitted, tmp_path):
    model, test, y, _ = fitted
    out = tmp_path / "figures"
    written = write_report(model, test, out, labels=y, fmt="png")
    assert sorted(p.name for p in written) == sorted(f"{name}.png" for name in FIGURES)
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 5000  # a real plot, not an empty canvas
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)


def test_bad_labels_and_format(fitted, tmp_path):
    model, test, y, _ = fitted
    with pytest.raises(InvalidInputError, match="0 \\(normal\\) or 1"):
        write_report(model, test, tmp_path / "r.html", labels=np.where(y == 1, 2, 0))
    with pytest.raises(InvalidInputError, match="values for"):
        write_report(model, test, tmp_path / "r.html", labels=y[:10])
    with pytest.raises(InvalidInputError, match="format"):
        write_report(model, test, tmp_path / "r.html", fmt="pdf")
    assert not (tmp_path / "r.html").exists()


def test_collapsed_component_warning(fitted, tmp_path):
    model, test, _, _ = fitted
    import copy

    broken = copy.deepcopy(model)
    weights = broken.mixture_.weights.clone()
    weights[0] = 1e-6
    broken.mixture_ = broken.mixture_._replace(weights=weights / weights.sum())
    assert [k for k, _ in collapsed_components(broken)] == [0]
    assert collapsed_components(model) == [] or all(k != 0 for k, _ in collapsed_components(model))
    out = tmp_path / "r.html"
    write_report(broken, test, out, top=0)
    assert "Component 0 looks collapsed" in out.read_text(encoding="utf-8")


def test_a_report_of_no_top_rows_has_no_such_section_and_one_row_is_one_row(fitted, tmp_path):
    # until 2026-12-07 --top 0 wrote "Most anomalous rows (top 0)", its paragraph and an
    # empty table; a one-row file printed "report on 1 rows"
    from _cli import invoke

    _, test, _, folder = fitted
    test.head(1).to_csv(tmp_path / "one.csv", index=False)
    code, output = invoke("report", folder / "model.dagmm", tmp_path / "one.csv", "--out",
                          tmp_path / "r.html", "--top", "0")  # fmt: skip
    assert code == 0 and "report on 1 row written to" in output, output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Energy" in page and "Most anomalous rows" not in page and "<tbody></tbody>" not in page
    code, output = invoke("report", folder / "model.dagmm", tmp_path / "one.csv", "--out",
                          tmp_path / "r1.html")  # fmt: skip
    assert code == 0, output
    assert "Most anomalous rows (top 1)" in (tmp_path / "r1.html").read_text(encoding="utf-8")


def test_missing_matplotlib_is_a_clear_error(fitted, tmp_path, monkeypatch):
    model, test, _, _ = fitted
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match="pip install 'dagmm\\[plots\\]'"):
        write_report(model, test, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "dagmm.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_report_and_explain(fitted, tmp_path):
    _, _test, _, folder = fitted
    model, data = str(folder / "model.dagmm"), str(folder / "test.csv")
    out = tmp_path / "r.html"
    result = _run(
        "report", model, data, "--labels", "label", "--id-column", "flow_id", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    page = _parse(out)
    assert len(page.images) == len(FIGURES)
    assert "id-" in out.read_text(encoding="utf-8")  # ids from --id-column

    # the rest in this process (_cli: no interpreter start-up, stdout and stderr together)
    result = _cli("report", model, data, "--labels", "flow_id", "--out", tmp_path / "x.html")
    assert result.exit_code == 2
    assert "flow_id" in result.output and "0 (normal) or 1" in result.output
    assert not (tmp_path / "x.html").exists()

    result = _cli("report", model, data, "--labels", "nope", "--out", tmp_path / "x.html")
    assert result.exit_code == 2 and "nope" in result.output

    result = _cli("report", model, data, "--format", "png", "--out", tmp_path / "figs")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "figs").glob("*.png"))) == len(FIGURES) - 1

    explained = tmp_path / "why.csv"
    result = _cli(
        "explain", model, data, "--top", 2, "--rows", 5, "--id-column", "flow_id",
        "--out", explained,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(explained)
    assert len(table) == 10
    assert list(table.columns[:2]) == ["row", "flow_id"]
    assert set(table["rank"]) == {1, 2}
    assert (table["flow_id"] == [f"id-{r}" for r in table["row"]]).all()

    result = _cli("explain", model, data, "--rows", 1)
    assert result.exit_code == 0, result.output
    assert "contribution" in result.output


@pytest.mark.slow
def test_demo_writes_a_report(tmp_path):
    out = tmp_path / "demo.html"
    result = _run("demo", "--rows", "4000", "--report", str(out))
    assert result.returncode == 0, result.stderr
    page = _parse(out)
    assert len(page.images) == len(FIGURES)
    assert "Detection quality" in page.headings


def test_report_of_a_model_with_restarts(tmp_path):
    from dagmm.report import collect

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    frame.loc[:14, "a"] += 6.0
    y = (np.arange(300) < 15).astype(int)
    model = DAGMM(epochs=5, random_state=0, n_restarts=3, hidden_sizes=(6,), latent_dim=2)
    model.fit(frame)
    data = collect(model, frame, labels=y, top=4)
    # the combined score is reported; the z space is the first restart's own
    np.testing.assert_array_equal(data.energy, model.decision_function(frame))
    assert_same_floats(data.z, model.transform(frame)[:, :4], model.device_)
    out = tmp_path / "r.html"
    write_report(model, frame, out, labels=y, top=4)
    html = out.read_text(encoding="utf-8")
    assert "The model combines 3 restarts (mean of their standardised energies" in html
    assert html.count("<tr>") > 4


def test_report_of_an_early_stopped_fit_says_the_epochs_run_and_the_weights_kept(tmp_path):
    """Until 2026-12-07 the report of a model whose fit early stopping ended after 17 of
    200 epochs, keeping epoch 15's weights, said "200 epochs" (the epochs scheduled). It
    says what ``dagmm info`` says (the same words, ``estimator.describe_epochs``): the
    epochs run, and the epoch whose weights the model holds with its losses."""
    frame, _ = make_tabular_anomalies(400, 0.05, random_state=0)
    model = DAGMM(
        epochs=200, validation_fraction=0.3, patience=2, batch_size=32, learning_rate=0.05,
        random_state=0,
    ).fit(frame)  # fmt: skip
    run, best = len(model.history_["loss"]), model.best_epoch_
    assert run < 200 and 0 < best < run  # the case: stopped early, earlier weights kept
    model.save(tmp_path / "m.dagmm")
    frame.head(50).to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "r.html"
    result = _cli("report", tmp_path / "m.dagmm", tmp_path / "d.csv", "--out", out)
    assert result.exit_code == 0, result.output
    text = "".join(_parse(out).text)
    assert f"trained {run} of 200 epochs (stopped early)" in text, text
    loss, val = model.history_["loss"][best - 1], model.history_["val_loss"][best - 1]
    kept = f"weights kept: epoch {best}'s (lowest validation loss): loss {loss:.5g}"
    assert f"{kept}, validation loss {val:.5g}" in text, text
    assert "200 epochs<" not in out.read_text(encoding="utf-8")
    result = _cli("info", tmp_path / "m.dagmm")
    assert f"trained: {run} of 200 epochs (stopped early)" in result.output
    assert f"  {kept}, validation loss {val:.5g}" in result.output


@pytest.mark.parametrize(
    "command, out, message",
    [
        (["report"], "missing/r.html", "does not exist"),
        (["report"], "{file}/r.html", "is not a directory"),
        (["report", "--format", "png"], "{file}/figs", "is a file, not a directory"),
        (["explain"], "missing/why.csv", "does not exist"),
        # until 2026-12-05 written: HTML under a name no PDF reader or image viewer opens
        (["report"], "r.pdf", "name must end in .html or .htm (got '.pdf')"),
        (["report"], "r.png", "--format png writes one PNG file per figure"),
    ],
    ids=[
        "report_missing_folder",
        "report_under_file",
        "png_under_file",
        "explain_missing",
        "report_named_pdf",
        "report_named_png",
    ],
)
def test_cli_report_and_explain_check_out_before_reading_the_model(
    fitted, tmp_path, monkeypatch, command, out, message
):
    """Until 2026-12-05 a mistyped --out was found only after the model and the data
    were read and scored (``explain``: every row explained), the work then lost."""
    from click.testing import CliRunner

    import dagmm
    from dagmm.cli.main import cli

    _, _test, _, folder = fitted
    (tmp_path / "file").write_text("a file")

    def must_not_load(path):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(dagmm, "load", must_not_load)
    target = str(tmp_path / out.replace("{file}", "file"))
    result = CliRunner().invoke(
        cli, [command[0], str(folder / "model.dagmm"), str(folder / "test.csv"),
              *command[1:], "--out", target]
    )  # fmt: skip
    assert result.exit_code == 2, (result.output, result.exception)
    assert message in result.output and result.output.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_write_report_checks_out_before_scoring(fitted, tmp_path, monkeypatch):
    model, test, _, _ = fitted

    def must_not_score(*args, **kwargs):
        raise AssertionError("scored before out was checked")

    monkeypatch.setattr("dagmm.report.collect", must_not_score)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(model, test, tmp_path / "missing" / "r.html")
    with pytest.raises(IsADirectoryError):
        write_report(model, test, tmp_path)
    (tmp_path / "file").write_text("a file")
    with pytest.raises(NotADirectoryError, match="is a file"):
        write_report(model, test, tmp_path / "file" / "figs", fmt="png")


def test_report_names_the_share_its_threshold_flags_after_set_params(fitted, tmp_path):
    # After set_params(contamination=0.2) without fitting again the report printed
    # "contamination 0.2" and "the 80.0% quantile" beside the 5 % model's threshold.
    from dagmm.persistence import load_bytes, model_bytes
    from dagmm.report import collect

    model, test, y, _ = fitted
    changed = load_bytes(model_bytes(model)).set_params(contamination=0.2)
    data = collect(changed, test, labels=y, top=3)
    assert list(data.metrics) == ["at the model threshold", "top 5.0% of these rows"]
    assert data.threshold == model.threshold_
    out = tmp_path / "r.html"
    write_report(changed, test, out, labels=y, top=3)
    html = out.read_text(encoding="utf-8")
    assert "contamination<b>0.05</b>" in html and "(the 95.0% quantile" in html


def test_png_report_into_an_earlier_ones_folder_leaves_one_report(fitted, tmp_path, monkeypatch):
    """Until 2026-12-05 a report without labels into the folder of one with them left the
    earlier ROC/PR figure beside the new figures, as if it were theirs."""
    model, test, y, _ = fitted
    out = tmp_path / "figures"
    out.mkdir()
    (out / "notes.txt").write_text("the user's")
    (out / "logo.png").write_bytes(PNG_MAGIC)
    (out / "roc_pr.png.d").mkdir()  # not a report file either, though near one's name
    first = write_report(model, test, out, labels=y, fmt="png")
    assert (out / "roc_pr.png") in first
    before = {path.name: path.read_bytes() for path in first}
    second = write_report(model, test.head(300), out, fmt="png")  # no labels: no ROC/PR
    assert sorted(p.name for p in second) == sorted(f"{n}.png" for n in FIGURES if n != "roc_pr")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [p.name for p in second] + ["logo.png", "notes.txt", "roc_pr.png.d"]
    )
    assert (out / "notes.txt").read_text() == "the user's"
    assert (out / "energy.png").read_bytes() != before["energy.png"]  # the new report's
    # a failure while the figures are written leaves the earlier report's, every one
    third = {path.name: path.read_bytes() for path in second}

    real_write, calls = Path.write_bytes, []

    def full_disk(self, data):  # the third figure finds the disk full
        calls.append(self)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_report(model, test, out, labels=y, fmt="png")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.glob("*.png") if p.name != "logo.png"} == third
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


# --- report and explain on files read chunk by chunk (big inputs) -------------------


def _cli(*args):
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_collect_file_in_small_chunks_equals_collect_on_the_whole_table(fitted):
    from dagmm.report import collect, collect_file

    _, test, y, folder = fitted
    # on the CPU: on a GPU a chunk's scores differ from the whole table's in their 7th
    # digit, and near ties can then rank other rows and columns first (a CPU without
    # AVX-512 rounds them apart too, less: _devices.CPU_BATCH_EXACT)
    model = load(folder / "model.dagmm", device="cpu")
    ids = np.array([f"id-{i}" for i in range(len(test))], dtype=object)
    whole = collect(model, test, labels=y, ids=ids, top=7)
    chunked = collect_file(
        model, folder / "test.csv", labels="label", id_column="flow_id", top=7, chunk_rows=37
    )
    assert_same_floats(chunked.energy, whole.energy, "cpu", rtol=1e-12, across_batches=True)
    np.testing.assert_array_equal(chunked.top_rows, whole.top_rows)
    np.testing.assert_array_equal(chunked.labels, whole.labels)
    np.testing.assert_array_equal(chunked.predicted, whole.predicted)
    assert_same_floats(chunked.z, whole.z, "cpu", rtol=1e-6, across_batches=True)
    # the ids of the listed rows are kept, not those of every row
    assert list(chunked.ids[chunked.top_rows]) == list(whole.ids[whole.top_rows])
    pd.testing.assert_frame_equal(chunked.explanations, whole.explanations)
    assert chunked.metrics.keys() == whole.metrics.keys()
    for way, values in whole.metrics.items():
        assert chunked.metrics[way] == pytest.approx(values)


def test_top_rows_kept_across_chunks_are_the_global_top_with_ties_by_position():
    from dagmm.report import TopRows

    energy = np.array([1.0, 5.0, 3.0, 5.0, 2.0, 5.0, 0.5, 4.0])
    data = np.arange(len(energy), dtype=np.float32)[:, None]
    best = TopRows(4)
    for start in range(0, len(energy), 3):
        best.add(energy[start : start + 3], data[start : start + 3], start)
    expected = np.lexsort((np.arange(len(energy)), -energy))[:4]
    np.testing.assert_array_equal(best.positions, expected)  # [1, 3, 5, 7]
    np.testing.assert_array_equal(best.data[:, 0], expected)


def test_cli_report_and_explain_stream_the_file(fitted, tmp_path, monkeypatch):
    """Neither command reads the whole table at once (a 5-million-row file would be
    several GB in memory): chunks of --chunk-rows rows."""
    import dagmm.tableio

    def refuse(*args, **kwargs):
        raise AssertionError("read the whole table")

    monkeypatch.setattr(dagmm.tableio, "read_table", refuse)
    _, _, _, folder = fitted
    model, data = folder / "model.dagmm", folder / "test.csv"
    out = tmp_path / "r.html"
    # --device cpu: on a GPU near ties between columns fall another way in another chunk
    cpu = ("--device", "cpu")
    result = _cli(
        "report", model, data, "--labels", "label", "--chunk-rows", 50, "--out", out, *cpu
    )
    assert result.exit_code == 0, result.output
    assert "report on 600 rows" in result.output

    one, many = tmp_path / "one.csv", tmp_path / "many.csv"
    for path, chunk in ((one, 100000), (many, 13)):
        result = _cli(
            "explain", model, data, "--rows", 9, "--id-column", "flow_id",
            "--chunk-rows", chunk, "--out", path, *cpu,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(one), pd.read_csv(many))
    assert len(pd.read_csv(many)) == 9 * 3

    # every row, written chunk by chunk: the same lines as in one chunk
    for path, chunk in ((one, 100000), (many, 13)):
        result = _cli("explain", model, data, "--chunk-rows", chunk, "--out", path, *cpu)
        assert result.exit_code == 0, result.output
        assert "explained 600 rows" in result.output
    # the same up to float32 round-off (the gradients of a batch of another size; `expected`,
    # text holding numbers and categories alike, in its 7th digit)
    a, b = pd.read_csv(one), pd.read_csv(many)
    for name in ("value", "expected"):
        texts = a.pop(name), b.pop(name)
        x, y = (pd.to_numeric(text, errors="coerce") for text in texts)
        np.testing.assert_array_equal(x.isna(), y.isna())
        np.testing.assert_array_equal(texts[0][x.isna()], texts[1][y.isna()])  # categories
        np.testing.assert_allclose(x[x.notna()], y[y.notna()], rtol=1e-5, atol=1e-6)
        assert x.notna().sum() > 100 and x.isna().sum() > 100  # numbers and categories
    pd.testing.assert_frame_equal(a, b, rtol=1e-4, atol=1e-5)


def test_cli_report_and_explain_score_on_the_device_named(fitted, tmp_path):
    # as score does: a GPU model explained on the CPU of a machine with a GPU, say
    import torch

    _, test, _, folder = fitted
    model, data = folder / "model.dagmm", folder / "test.csv"
    out = tmp_path / "e.csv"
    result = _cli("explain", model, data, "--rows", 4, "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    cpu = load(model, device="cpu")
    expected = np.sort(cpu.decision_function(test))[::-1][:4]
    np.testing.assert_allclose(
        pd.read_csv(out)["energy"].drop_duplicates().to_numpy(), expected, rtol=1e-6
    )
    report = tmp_path / "r.html"
    result = _cli("report", model, data, "--out", report, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert report.is_file()
    for command, target in (("explain", tmp_path / "bad.csv"), ("report", tmp_path / "bad.html")):
        result = _cli(command, model, data, "--out", target, "--device", "gpu")
        assert result.exit_code == 2, result.output
        assert "unknown device 'gpu'" in result.output and not target.exists()
        if not torch.cuda.is_available():
            result = _cli(command, model, data, "--out", target, "--device", "cuda")
            assert "device 'cuda' requested but CUDA is not available" in result.output
            assert result.exit_code == 2 and not target.exists()


def test_cli_explain_refuses_to_print_every_row_of_a_big_file(fitted, tmp_path, monkeypatch):
    import dagmm.cli.report

    _, _, _, folder = fitted
    model, data = folder / "model.dagmm", folder / "test.csv"
    monkeypatch.setattr(dagmm.cli.report, "PRINT_LIMIT", 100)
    result = _cli("explain", model, data)
    assert result.exit_code == 2
    assert "--rows N" in result.output and "--out FILE" in result.output
    assert "contribution" not in result.output  # nothing half-printed
    # the way out the message names works
    result = _cli("explain", model, data, "--rows", 3)
    assert result.exit_code == 0 and "contribution" in result.output


def test_cli_report_names_the_files_row_of_a_bad_label_in_a_later_chunk(fitted, tmp_path):
    _, test, y, folder = fitted
    bad = test.assign(label=y)
    bad.loc[123, "label"] = 7
    data = tmp_path / "bad.csv"
    bad.to_csv(data, index=False)
    out = tmp_path / "r.html"
    result = _cli("report", folder / "model.dagmm", data, "--labels", "label", "--chunk-rows", 50,
                  "--out", out)  # fmt: skip
    assert result.exit_code == 2
    assert "row 123" in result.output and str(data) in result.output
    assert not out.exists()


@pytest.mark.parametrize("name", ["score", "report", "explain", "info"])
def test_every_option_of_the_scoring_commands_says_what_it_does(name):
    import click

    from dagmm.cli.main import cli

    command = cli.commands[name]
    silent = [
        p.name for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert not silent, f"dagmm {name}: options without help: {silent}"


def test_cli_report_of_labels_holding_one_class_shows_no_nan(fitted, tmp_path):
    # AUROC and AUPRC need both classes: metrics.evaluate gives NaN, which the report
    # printed as "nan" in its table until 2026-12-05; it says n/a and why.
    _, test, _, folder = fitted
    data = tmp_path / "all-normal.csv"
    test.head(60).assign(label=0).to_csv(data, index=False)
    out = tmp_path / "r.html"
    result = _cli("report", folder / "model.dagmm", data, "--labels", "label", "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Detection quality" in _parse(out).headings
    assert not re.search(r"\bnan\b", html, flags=re.IGNORECASE)
    assert '<td class="num">n/a</td>' in html and "The labels hold one class only" in html


def test_labels_naming_classes_take_the_anomaly_values(fitted, tmp_path):
    """Until 2026-12-05 a label column of class names ("normal", "attack") was refused as
    not 0/1, with no way to say which class is the anomaly but rewriting the file."""
    from dagmm.report import collect_file

    model, test, y, folder = fitted
    named = test.assign(
        kind=np.where(y == 1, "attack", np.where(np.arange(len(y)) % 2, "normal", "backup")),
        code=np.where(y == 1, 2, 7),  # numbers that are not 0/1
    )
    data = tmp_path / "named.csv"
    named.to_csv(data, index=False)
    reference = collect_file(model, folder / "test.csv", labels="label", chunk_rows=37)
    for column, values in (("kind", ["attack"]), ("code", ["2"]), ("code", ["2.0", "5"])):
        got = collect_file(model, data, labels=column, anomaly_values=values, chunk_rows=37)
        np.testing.assert_array_equal(got.labels, reference.labels)
        assert got.metrics.keys() == reference.metrics.keys()
        for way, values in reference.metrics.items():
            assert got.metrics[way] == pytest.approx(values)
    # every value but the named ones is normal: two classes of normal rows here
    both = collect_file(model, data, labels="kind", anomaly_values=["attack", "backup"])
    np.testing.assert_array_equal(both.labels, (named["kind"] != "normal").astype(int))

    out = tmp_path / "r.html"
    refused = _cli("report", folder / "model.dagmm", data, "--labels", "kind", "--out", out)
    assert refused.exit_code == 2 and not out.exists()
    assert "must be 0 (normal) or 1 (anomaly); row 0 holds" in refused.output
    assert "(dagmm report --anomaly-value attack, repeatable)" in " ".join(refused.output.split())
    numbers = _cli("report", folder / "model.dagmm", data, "--labels", "code", "--out", out)
    assert numbers.exit_code == 2 and not out.exists()
    # the number as the file writes it: until 2026-12-07 numpy's repr, "np.int64(7)"
    said = " ".join(numbers.output.split())
    assert re.search(r"must be 0 \(normal\) or 1 \(anomaly\); row 0 holds [27]\b", said), said
    typo = _cli("report", folder / "model.dagmm", data, "--labels", "kind", "--anomaly-value",
                "atack", "--chunk-rows", 50, "--out", out)  # fmt: skip
    assert typo.exit_code == 2 and not out.exists()
    assert (
        f"{data}: no row's 'kind' is 'atack' (anomaly_values, or --anomaly-value in dagmm "
        "report); it holds 'attack', 'backup', 'normal'"
    ) in " ".join(typo.output.split())
    alone = _cli("report", folder / "model.dagmm", data, "--anomaly-value", "attack", "--out", out)
    assert alone.exit_code == 2 and "give --labels too" in alone.output and not out.exists()
    written = _cli("report", folder / "model.dagmm", data, "--labels", "kind", "--anomaly-value",
                   "attack", "--out", out)  # fmt: skip
    assert written.exit_code == 0, written.output
    assert "AUROC" in out.read_text()


def test_label_column_messages_name_the_python_argument_too(fitted, tmp_path):
    """Until 2026-12-05 ``collect_file`` and ``write_report_file`` named only the command
    line's ``--anomaly-value`` when refusing class-name labels, which Python callers lack."""
    from dagmm.report import collect_file, write_report_file

    model, test, y, _ = fitted
    data = tmp_path / "named.csv"
    test.assign(kind=np.where(y == 1, "attack", "normal")).to_csv(data, index=False)
    with pytest.raises(InvalidInputError, match=r"e\.g\. anomaly_values=\['attack'\] \(dagmm"):
        collect_file(model, data, labels="kind")
    out = tmp_path / "r.html"
    with pytest.raises(InvalidInputError, match=r"is 'atack' \(anomaly_values, or --anomaly-v"):
        write_report_file(model, data, out, labels="kind", anomaly_values=["atack"])
    assert not out.exists()


def test_report_rows_show_imputed_values_missing_and_every_digit_of_a_value(tmp_path):
    """Until 2026-12-07 the report's top rows wrote values to 4 significant digits (a
    Unix time read 1.7e+09, whatever the second) and a value the encoder imputed as
    the training median, as if the row held it; now each is what ``dagmm explain``
    writes: "<missing>", or every digit of the value the network saw."""
    rng = np.random.default_rng(0)
    times = 1_700_000_000 + rng.integers(0, 3600, 150)
    frame = pd.DataFrame({"ts": times, "a": rng.normal(size=150), "b": rng.normal(size=150)})
    model = DAGMM(epochs=1, missing="impute", random_state=0).fit(frame)
    assert "ts" in model.encoder_.shifts  # sent as ts - shift: float32 resolves seconds
    rows = frame.head(12).astype({"ts": float})
    rows.loc[5, "a"], rows.loc[9, "b"] = np.nan, np.inf
    data, model_path = tmp_path / "rows.csv", tmp_path / "m.dagmm"
    rows.to_csv(data, index=False)
    model.save(model_path)

    def shown(html):
        cells = re.findall(r"<b>(\w+)</b> = (\S+) <small>", html)
        assert len(cells) == 3 * len(rows)  # every row, every column
        return cells

    expected_ts = sorted(str(int(t)) for t in rows["ts"])
    write_report(model, rows, tmp_path / "memory.html", top=len(rows))
    result = _cli("report", model_path, data, "--out", tmp_path / "file.html",
                  "--top", len(rows), "--chunk-rows", 5)  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("memory.html", "file.html"):
        cells = shown((tmp_path / name).read_text(encoding="utf-8"))
        assert sorted(v for c, v in cells if c == "ts") == expected_ts, name
        assert sorted(c for c, v in cells if v == "&lt;missing&gt;") == ["a", "b"], name
