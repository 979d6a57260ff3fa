"""Per-row explanations: planted anomalous columns must rank first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dagmm import DAGMM, InvalidInputError
from dagmm.explain import EXPLANATION_COLUMNS, UNSEEN_CATEGORY, explain
from dagmm.synthetic import STRUCTURED_COLOURS, STRUCTURED_NUMERIC, make_structured

_COLOURS = STRUCTURED_COLOURS
_NUMERIC = STRUCTURED_NUMERIC
_structured = make_structured


@pytest.fixture(scope="module")
def planted():
    train, _ = _structured(1500, seed=0)
    # min-max scaling, as benchmarks/explain_planted.py (docs/report.md): "auto" scales the
    # one-hot columns of a category down against standardised numeric columns
    model = DAGMM(epochs=100, n_components=3, scaler="minmax", random_state=0).fit(train)
    test, cluster = _structured(400, seed=1)
    rng = np.random.default_rng(2)
    rows = rng.choice(len(test), 80, replace=False)
    numeric_rows, categorical_rows = rows[:60], rows[60:]
    truth = {}
    for i, r in enumerate(numeric_rows):
        column = _NUMERIC[i % len(_NUMERIC)]
        # Six training standard deviations away: breaks the row's joint structure.
        test.loc[r, column] += rng.choice([-1.0, 1.0]) * 6.0 * train[column].std()
        truth[int(r)] = column
    for r in categorical_rows:
        test.loc[r, "colour"] = _COLOURS[(cluster[r] + 1) % 3]
        truth[int(r)] = "colour"
    return model, test, numeric_rows, categorical_rows, truth


def test_planted_numeric_column_ranks_first(planted):
    model, test, numeric_rows, _, truth = planted
    table = explain(model, test, top_k=1)
    first = table.set_index("row")["column"]
    hits = np.mean([first[r] == truth[int(r)] for r in numeric_rows])
    assert hits >= 0.7, f"planted numeric column ranked first for only {hits:.0%} of rows"


def test_planted_category_maps_back_to_its_column(planted):
    model, test, _, categorical_rows, _truth = planted
    table = model.explain(test, top_k=1).set_index("row")
    energy = model.decision_function(test)
    flagged = [int(r) for r in categorical_rows if energy[r] > model.threshold_]
    assert len(flagged) >= 10
    hits = np.mean([table.loc[r, "column"] == "colour" for r in flagged])
    assert hits >= 0.6, f"categorical column ranked first for only {hits:.0%} of flagged rows"
    for r in flagged:
        if table.loc[r, "column"] == "colour":
            # Reported with the observed (planted) category, not a one-hot feature name.
            assert table.loc[r, "value"] == test.loc[r, "colour"]
            assert table.loc[r, "expected"] in set(_COLOURS)


def test_table_layout_and_consistency(planted):
    model, test, *_ = planted
    sample = test.iloc[:25]
    table = model.explain(sample)
    columns = list(model.encoder_.columns)
    assert tuple(table.columns) == EXPLANATION_COLUMNS
    assert list(table.columns) == [
        "row",
        "energy",
        "rank",
        "column",
        "value",
        "expected",
        "contribution",
        "gradient",
        "reconstruction_error",
    ]
    assert len(table) == len(sample) * len(columns)
    for row, group in table.groupby("row"):
        assert sorted(group["column"]) == sorted(columns)  # one-hot groups summed
        assert list(group["rank"]) == list(range(1, len(columns) + 1))
        assert np.all(np.diff(group["contribution"].to_numpy()) <= 0)
        assert np.all(group["contribution"] >= 0)
        assert np.all(group["reconstruction_error"] >= 0)
        np.testing.assert_allclose(group["energy"], model.decision_function(sample)[row])
        numeric = group[group["column"] == "a"]
        assert float(numeric["value"].iloc[0]) == pytest.approx(sample["a"].iloc[row], rel=1e-6)
    top2 = model.explain(sample, top_k=2)
    assert len(top2) == 2 * len(sample)
    pd.testing.assert_frame_equal(
        top2.reset_index(drop=True),
        table[table["rank"] <= 2].reset_index(drop=True),
    )


def test_contribution_is_the_energy_drop_to_the_expected_value(planted):
    model, test, numeric_rows, _, _ = planted
    r = int(numeric_rows[0])
    row = test.iloc[[r]]
    table = model.explain(row, top_k=1)
    column, expected = table["column"].iloc[0], table["expected"].iloc[0]
    changed = row.copy()
    changed[column] = expected
    drop = model.decision_function(row)[0] - model.decision_function(changed)[0]
    assert table["contribution"].iloc[0] == pytest.approx(drop, rel=1e-3, abs=1e-3)


def test_gradient_column_matches_finite_differences(planted):
    model, test, numeric_rows, _, _ = planted
    r = int(numeric_rows[1])
    row = test.iloc[[r]]
    table = model.explain(row).set_index("column")
    # gradient = dE/dx_scaled * (x - x_hat) for column "a" (the first encoded feature):
    # the slope from central differences, the deviation from the network itself.
    scale = float(model.net_.input_scale[0, 0, 0])
    h = 1e-2
    up, down = row.copy(), row.copy()
    up["a"] += h / scale
    down["a"] -= h / scale
    slope = (model.decision_function(up)[0] - model.decision_function(down)[0]) / (2 * h)
    with torch.no_grad():
        encoded = torch.from_numpy(model.encoder_.transform(row)).unsqueeze(0)
        out = model.net_(encoded.to(model.net_.input_scale.device))
    deviation = float(out.x[0, 0, 0] - out.x_hat[0, 0, 0])
    assert table.loc["a", "reconstruction_error"] == pytest.approx(deviation**2, rel=1e-4)
    assert table.loc["a", "gradient"] == pytest.approx(slope * deviation, rel=0.05, abs=1e-3)


def test_unseen_category_and_arrays(planted):
    model, test, *_ = planted
    row = test.iloc[[0]].copy()
    row["colour"] = "purple"
    with pytest.warns(UserWarning, match="never seen"):
        table = model.explain(row)
    assert table.set_index("column").loc["colour", "value"] == UNSEEN_CATEGORY

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[:, 2] = X[:, 0] + X[:, 1]
    array_model = DAGMM(epochs=5, random_state=0).fit(X)
    out = array_model.explain(X[:4], top_k=2)
    assert set(out["column"]) <= {"0", "1", "2"}
    assert len(out) == 8


def test_bad_top_k(planted):
    model, test, *_ = planted
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError, match="top_k"):
            model.explain(test.iloc[:3], top_k=bad)


@pytest.mark.parametrize("scaler", ["minmax", None])
def test_other_scalers_give_finite_counterfactuals(scaler):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    X[:, 2] = X[:, 0] - X[:, 1]
    model = DAGMM(epochs=5, scaler=scaler, random_state=0).fit(X)
    rows = X[:5].copy()
    rows[0, 2] += 8.0
    table = model.explain(rows)
    assert np.isfinite(table["contribution"]).all() and (table["contribution"] >= 0).all()
    assert np.isfinite(table["expected"].astype(float)).all()
    # The reported drop is what the energy does when the column takes "expected".
    first = table[table["row"] == 0].iloc[0]
    changed = rows[[0]].copy()
    changed[0, int(first["column"])] = float(first["expected"])
    drop = model.decision_function(rows[[0]])[0] - model.decision_function(changed)[0]
    assert first["contribution"] == pytest.approx(max(drop, 0.0), rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("command", ["explain", "score"])
def test_cli_parquet_out_with_ids_missing_in_the_whole_first_chunk(tmp_path, command):
    """Until 2026-12-05 an --id-column missing in every row of the first chunk made the
    Parquet file's id column Arrow's null type, and the next chunk's ids failed the
    writer with a traceback (schema mismatch); now the column is text."""
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    frame["id"] = [None] * 20 + [f"r{i}" for i in range(20, 60)]
    data, model_path = tmp_path / "data.parquet", tmp_path / "model.dagmm"
    frame.to_parquet(data)
    DAGMM(epochs=1, random_state=0).fit(frame[["a", "b"]]).save(model_path)
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        cli, [command, str(model_path), str(data), "--id-column", "id", "--chunk-rows", "20",
              "--out", str(out)]
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    ids = pd.read_parquet(out)["id"]
    assert ids.isna().sum() == len(ids) // 3
    assert set(ids.dropna()) == {f"r{i}" for i in range(20, 60)}


def test_parquet_writer_casts_later_chunks_or_names_the_column(tmp_path):
    from dagmm.tableio import DataFileError, TableWriter

    out = tmp_path / "t.parquet"
    with TableWriter(out) as writer:
        writer.write(pd.DataFrame({"n": [1.5, 2.5], "id": [None, None]}))
        writer.write(pd.DataFrame({"n": [3, 4], "id": ["c", None]}))  # ints fit the floats
    back = pd.read_parquet(out)
    assert back["n"].tolist() == [1.5, 2.5, 3.0, 4.0]
    assert back["id"].iloc[2] == "c" and back["id"].isna().sum() == 3

    out.write_bytes(b"kept")
    with pytest.raises(DataFileError, match="'n' \\(double, was int64\\)"):
        with TableWriter(out) as writer:
            writer.write(pd.DataFrame({"n": [1, 2]}))
            writer.write(pd.DataFrame({"n": [0.5, 2.0]}))  # 0.5 is no int64
    assert out.read_bytes() == b"kept"
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_imputed_values_are_shown_missing_not_as_the_value_the_network_saw(tmp_path):
    """Until 2026-12-05 a model with missing="impute" reported a missing value as the
    training median (or most frequent category) that replaced it, as if the row held it;
    now it is "<missing>", in DAGMM.explain and in every dagmm explain path."""
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(90, 2)), columns=["a", "b"])
    frame["c"] = rng.choice(["x", "y"], size=90)
    model = DAGMM(epochs=1, missing="impute", random_state=0).fit(frame)
    holes = frame.astype(object)
    holes.loc[5, "a"], holes.loc[40, "b"], holes.loc[70, "c"] = np.nan, np.inf, None
    expected = {(5, "a"), (40, "b"), (70, "c")}

    def missing_cells(table):
        shown = table[table["value"] == "<missing>"]
        return set(zip(shown["row"].astype(int), shown["column"], strict=True))

    assert missing_cells(model.explain(holes)) == expected
    assert "<missing>" not in set(model.explain(frame)["value"])

    data, model_path = tmp_path / "holes.csv", tmp_path / "m.dagmm"
    holes.to_csv(data, index=False)
    model.save(model_path)
    for rows in ([], ["--rows", "90"]):
        out = tmp_path / "why.csv"
        result = CliRunner().invoke(
            cli, ["explain", str(model_path), str(data), "--chunk-rows", "32", *rows,
                  "--out", str(out)]
        )  # fmt: skip
        assert result.exit_code == 0, (result.output, result.exception)
        assert missing_cells(pd.read_csv(out, keep_default_na=False)) == expected, rows


def test_cli_writes_each_value_as_the_float32_the_network_saw(tmp_path):
    """Until 2026-12-05 ``dagmm explain`` wrote numbers to 6 significant digits: a byte
    count of 1234567 read 1.23457e+06. Now each is the shortest text of its float32."""
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"bytes": rng.integers(1_000_000, 9_000_000, size=80), "ratio": rng.random(80).round(3)}
    )
    frame.loc[7, ["bytes", "ratio"]] = [1234567, 0.1]
    model = DAGMM(epochs=1, random_state=0).fit(frame)
    data, model_path, out = tmp_path / "flows.csv", tmp_path / "m.dagmm", tmp_path / "why.csv"
    frame.to_csv(data, index=False)
    model.save(model_path)
    result = CliRunner().invoke(cli, ["explain", str(model_path), str(data), "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    table = pd.read_csv(out, dtype={"value": str, "expected": str})
    shown = table[table["row"] == 7].set_index("column")["value"]
    assert shown["bytes"] == "1234567" and shown["ratio"] == "0.1"
    # every numeric value reads back as the file's number (the counts are exact in float32)
    counts = table[table["column"] == "bytes"]
    np.testing.assert_array_equal(counts["value"].astype(np.int64), frame["bytes"][counts["row"]])
    assert all(np.float32(float(text)) == np.float32(float(text)) for text in table["expected"])


def test_expected_stays_within_the_training_range_with_the_default_scaler():
    # With scaler="auto" the candidates were a grid around each row's reconstruction:
    # an audit saw expected = -31.5 for a column with no negative values.
    rng = np.random.default_rng(0)
    amount = rng.lognormal(0.0, 1.0, 300)
    # float32 values, as the network reads them: the range is the float32 one
    train = pd.DataFrame(
        {
            "amount": amount,
            "fee": 0.1 * amount + rng.normal(0, 0.05, 300),
            "x": rng.normal(size=300),
        }
    ).astype(np.float32)
    model = DAGMM(epochs=5, batch_size=64, random_state=0).fit(train)
    low, high = train.min().to_numpy(), train.max().to_numpy()
    odd = pd.DataFrame({"amount": [0.05, 20.0], "fee": [15.0, -3.0], "x": [9.0, -9.0]})
    rows = pd.concat([train.iloc[:20], odd.astype(np.float32)], ignore_index=True)
    table = model.explain(rows)
    for j, name in enumerate(train.columns):
        expected = table.loc[table["column"] == name, "expected"].astype(float)
        assert ((expected >= low[j]) & (expected <= high[j])).all(), (name, expected.min())
    np.testing.assert_array_equal(model.input_range_, np.stack([low, high]))


def test_each_ensemble_model_keeps_its_own_rows_training_range():
    from dagmm import fit_ensemble

    X = np.random.default_rng(1).normal(size=(120, 3)).astype(np.float32)
    rows = [np.arange(0, 60), np.arange(50, 120)]
    models = fit_ensemble(DAGMM(epochs=1, batch_size=64), X, seeds=[0, 1], rows=rows)
    for model, kept in zip(models, rows, strict=True):
        expected = np.stack([X[kept].min(axis=0), X[kept].max(axis=0)])
        np.testing.assert_array_equal(model.input_range_, expected)
    # restarts kept together: every one trained on every row
    several = DAGMM(epochs=1, n_restarts=2, random_state=0).fit(X)
    np.testing.assert_array_equal(several.input_range_, np.stack([X.min(axis=0), X.max(axis=0)]))
    # and the levels of its own rows: a count of 0s and 1s in one's rows, 2s in the other's
    X[:, 0] = np.where(np.arange(120) < 60, np.arange(120) % 2, 2)
    models = fit_ensemble(DAGMM(epochs=1, batch_size=64), X, seeds=[0, 1], rows=rows)
    np.testing.assert_array_equal(models[0].input_levels_[0], [0.0, 1.0])
    np.testing.assert_array_equal(models[1].input_levels_[0], [0.0, 1.0, 2.0])
    assert models[0].input_levels_[1] is None
    several = DAGMM(epochs=1, n_restarts=2, random_state=0).fit(X)
    np.testing.assert_array_equal(several.input_levels_[0], [0.0, 1.0, 2.0])


def test_a_column_of_few_values_is_offered_only_values_training_saw(tmp_path):
    # A grid over a 0/1 flag's range offered 0.35, over a small count 1.65: values no
    # row holds. Columns of at most 32 distinct training values now offer those.
    rng = np.random.default_rng(0)
    n = 3000
    train = pd.DataFrame(
        {
            "bytes": rng.lognormal(5, 1, n),
            "is_tcp": (rng.random(n) < 0.9).astype(int),
            "fails": rng.poisson(0.3, n),
            "dur": rng.gamma(2, 1, n),
        }
    )
    model = DAGMM(epochs=30, random_state=0).fit(train)
    levels = dict(zip(model.encoder_.feature_names_out, model.input_levels_, strict=True))
    assert levels["bytes"] is None and levels["dur"] is None
    np.testing.assert_array_equal(levels["is_tcp"], [0.0, 1.0])
    np.testing.assert_array_equal(levels["fails"], np.unique(train["fails"]))
    odd = pd.DataFrame(
        {"bytes": [150.0, 150.0, 9e4], "is_tcp": [0, 1, 1], "fails": [6, 0, 2], "dur": [2, 40, 1]}
    )
    rows = pd.concat([train.iloc[:40], odd], ignore_index=True)
    for explained in (model, DAGMM.load(_saved(model, tmp_path))):
        table = explained.explain(rows)
        for name in ("is_tcp", "fails"):
            expected = table.loc[table["column"] == name, "expected"].astype(float)
            assert set(expected) <= set(levels[name]), (name, sorted(set(expected)))
        # columns of many values still search their range
        dur = table.loc[table["column"] == "dur", "expected"].astype(float)
        assert not set(dur) <= set(train["dur"].astype(np.float32).astype(float))


def test_a_value_imputed_is_not_offered_where_no_row_holds_it():
    # A flag of as many 0s as 1s has the median 0.5: imputed into its missing rows, it
    # became a level, and explain offered a 0/1 column 0.5.
    rng = np.random.default_rng(1)
    flag = np.r_[np.zeros(975), np.ones(975), np.full(50, np.nan)]
    train = pd.DataFrame({"flag": flag, "x": rng.normal(size=2000)})
    model = DAGMM(epochs=10, missing="impute", random_state=0).fit(train)
    assert model.encoder_.fill_values["flag"] == 0.5
    np.testing.assert_array_equal(model.input_levels_[0], [0.0, 1.0])
    table = model.explain(pd.DataFrame({"flag": [0.0, 1.0, np.nan], "x": [0.0, 5.0, -5.0]}))
    assert set(table.loc[table["column"] == "flag", "expected"].astype(float)) <= {0.0, 1.0}
    # a median some row holds stays a level
    train["flag"] = np.r_[np.zeros(975), np.ones(1000), np.full(25, np.nan)]
    model = DAGMM(epochs=1, missing="impute", random_state=0).fit(train)
    np.testing.assert_array_equal(model.input_levels_[0], [0.0, 1.0])


def _saved(model, tmp_path):
    path = tmp_path / "m.dagmm"
    model.save(path)
    return path


@pytest.mark.parametrize("name", EXPLANATION_COLUMNS)
def test_cli_id_column_named_as_an_output_column_is_one_line(tmp_path, name):
    """Until 2026-12-07 ``dagmm explain --id-column row`` (or ``rank``, ``energy``, ...)
    ended in a traceback: "ValueError: cannot insert row, already exists"."""
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    frame = pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0) % 7, name: np.arange(30)})
    model = DAGMM(epochs=1, random_state=0).fit(frame.drop(columns=[name]))
    data, model_path, out = tmp_path / "flows.csv", tmp_path / "m.dagmm", tmp_path / "why.csv"
    frame.to_csv(data, index=False)
    model.save(model_path)
    args = ["explain", str(model_path), str(data), "--id-column", name, "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"cannot copy column {name!r} to the output (--id-column)" in result.output
    assert not out.exists()
