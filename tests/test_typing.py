"""The public API's annotations as a user's type checker sees them (PEP 561, ``py.typed``)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy")

USER_CODE = """
import numpy as np
from dagmm import DAGMM, fit_ensemble, load

X = np.zeros((100, 3))
model = DAGMM.from_preset("thyroid", epochs=1).fit(X)
energy: np.ndarray = model.decision_function(X)
labels, confidence = model.predict(X, return_confidence=True)
proba, proba_confidence = model.predict_proba(X, return_confidence=True)
contributions = model.explain(X, top_k=2)
same: DAGMM = load("model.dagmm")
reveal_type(model.predict(X))
reveal_type(model.predict(X, return_confidence=True))
reveal_type(model.predict_proba(X, "unify"))
reveal_type(load("model.dagmm"))
reveal_type(model.threshold_at(0.01))
reveal_type(model.threshold_)
reveal_type(model.history_)
members = fit_ensemble(DAGMM(), X, seeds=[0, 1])
"""

MISUSE = """
import numpy as np
from dagmm import DAGMM

DAGMM(n_components="two")
DAGMM().fit(np.zeros((4, 2)), epochs=3)
DAGMM().predict(np.zeros((4, 2)), return_confidence=True).shape
"""


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What mypy printed of each script, by name: one run for both (most of a run's time
    is mypy reading dagmm, numpy and torch)."""
    folder = tmp_path_factory.mktemp("typing")
    scripts = {"user.py": USER_CODE, "misuse.py": MISUSE}
    for name, code in scripts.items():
        (folder / name).write_text(textwrap.dedent(code))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--cache-dir",
            str(folder / "cache"),
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            "--ignore-missing-imports",  # pandas-stubs need not be installed
            *scripts,
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stdout.splitlines()
    return {name: [line for line in lines if line.startswith(f"{name}:")] for name in scripts}


def test_a_users_type_checker_reads_the_public_annotations(checked: dict[str, list[str]]) -> None:
    lines = checked["user.py"]
    errors = [line for line in lines if ": error:" in line]
    assert errors == []
    revealed = [re.sub(r".*Revealed type is ", "", line) for line in lines if "Revealed" in line]
    ndarray = r'"numpy\.ndarray\[.*\]"'
    assert re.fullmatch(ndarray, revealed[0]), revealed[0]
    assert re.fullmatch(r'"tuple\[numpy\.ndarray\[.*\], numpy\.ndarray\[.*\]\]"', revealed[1])
    assert re.fullmatch(ndarray, revealed[2]), revealed[2]
    assert revealed[3] == '"dagmm.estimator.DAGMM"'
    assert re.fullmatch(r'"(builtins\.)?float"', revealed[4]), revealed[4]
    assert re.fullmatch(r'"(builtins\.)?float"', revealed[5]), revealed[5]  # fitted attributes
    assert re.fullmatch(
        r'"(builtins\.)?dict\[(builtins\.)?str, (builtins\.)?list\[(builtins\.)?float\]\]"',
        revealed[6],
    ), revealed[6]


def test_a_users_type_checker_flags_misuse(checked: dict[str, list[str]]) -> None:
    errors = [line for line in checked["misuse.py"] if ": error:" in line]
    assert len(errors) == 3, errors
    assert 'Argument "n_components" to "DAGMM" has incompatible type "str"' in errors[0]
    assert 'Unexpected keyword argument "epochs" for "fit"' in errors[1]
    assert '"tuple[' in errors[2] and '"shape"' in errors[2]
