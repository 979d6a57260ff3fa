"""pyproject.toml names what CI runs: its dependency floors (.ci/lowest.txt) and its Pythons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11 on

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for line in project["dependencies"] + project["optional-dependencies"]["plots"]:
        requirement = Requirement(line)
        [spec] = [s for s in requirement.specifier if s.operator == ">="]
        floors[requirement.name] = Version(spec.version)
    return floors


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "lowest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = Version(version)
    return pins


def test_every_floor_is_pinned_in_the_lowest_run():
    # a floor raised or added in pyproject.toml without CI running it would be a guess again
    # (until 2026-12-05 the package failed on torch 2.2 and 2.3, pyarrow 14 and
    # scikit-learn 1.3, all of which pyproject.toml allowed)
    assert _pins() == _floors()


def test_ci_runs_the_tests_under_the_lowest_pins():
    script = (ROOT / ".ci" / "run").read_text()
    assert "-c .ci/lowest.txt" in script
    assert script.count("-m pytest -q") >= 2


def test_ci_runs_every_python_the_classifiers_name():
    # the classifiers tell users which Pythons work: from requires-python's floor (CI's
    # lowest run) up to the newest without a gap, and CI runs the tests on each of them:
    # the main run on the machine's python3, the others by name (find_python)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    prefix = "Programming Language :: Python :: 3."
    minors = sorted(int(c[len(prefix) :]) for c in project["classifiers"] if c.startswith(prefix))
    floor = Version(project["requires-python"].removeprefix(">="))
    assert minors == list(range(floor.minor, minors[-1] + 1))
    script = (ROOT / ".ci" / "run").read_text()
    named = {int(m) for m in re.findall(r"find_python 3\.(\d+)\)", script)}
    [loop] = re.findall(r"^for version in ([\d. ]+); do$", script, flags=re.M)
    named |= {int(v.removeprefix("3.")) for v in loop.split()}
    assert floor.minor in named and minors[-1] in named
    # one classifier at most is left to the main run's python3
    assert len(set(minors) - named) <= 1, sorted(set(minors) - named)
    assert named <= set(minors), sorted(named - set(minors))


def test_the_distribution_carries_its_license():
    # PEP 639: an SPDX expression and the file it names, which .ci/check_dist.py finds in the
    # built wheel and sdist (a TOML table here is refused by setuptools from 2027-02-18)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    [license_file] = project["license-files"]
    text = (ROOT / license_file).read_text()
    assert text.startswith("MIT License\n") and 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    [setuptools] = [Requirement(r) for r in build["requires"] if r.startswith("setuptools")]
    assert setuptools.specifier.contains("77") and not setuptools.specifier.contains("76.1")
    script = (ROOT / ".ci" / "run").read_text()
    assert "python .ci/check_dist.py" in script and "python -m build" in script
