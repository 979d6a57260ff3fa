"""Check what `python -m build` made: the files a user's `pip install dagmm` gets.

Usage: python .ci/check_dist.py DIST_DIR

Every test above this step runs an editable install, which reads the source tree. A module
left out of the wheel, a license file missing from it, or a sdist that cannot rebuild the
wheel would pass them all. This script fails, naming the file, when:
- DIST_DIR does not hold exactly one wheel and one sdist of this version;
- the wheel's modules differ from the package's files in the source tree (src/dagmm), or it
  carries anything else (tests, caches, data);
- the wheel's metadata lacks the license expression, its file, the `dagmm` command or the
  Python floor of pyproject.toml;
- the sdist lacks a tracked file (`git ls-files`: the package, its license, and the tests,
  docs and benchmarks that distributors run from it).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: `build` brings tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FILES = ("*.py", "py.typed")


def _package_files() -> set[str]:
    package = ROOT / "src"
    found = set()
    for pattern in PACKAGE_FILES:
        for path in (package / "dagmm").rglob(pattern):
            if "__pycache__" not in path.parts:
                found.add(path.relative_to(package).as_posix())
    return found


def _one(dist: Path, pattern: str) -> Path:
    matches = sorted(dist.glob(pattern))
    if len(matches) != 1:
        raise SystemExit(f"{dist}: expected one {pattern}, found {[m.name for m in matches]}")
    return matches[0]


def check_wheel(wheel: Path, project: dict, stem: str, package_files: set[str]) -> None:
    info = f"{stem}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    modules = {name for name in names if not name.startswith(f"{info}/")}
    if modules != package_files:
        raise SystemExit(
            f"{wheel.name}: missing {sorted(package_files - modules)}, "
            f"unexpected {sorted(modules - package_files)}"
        )
    if not project.get("license-files"):
        raise SystemExit("pyproject.toml: no project.license-files for the wheel to carry")
    for name in project["license-files"]:
        if f"{info}/licenses/{name}" not in names:
            raise SystemExit(f"{wheel.name}: no {info}/licenses/{name}")
    checks = {
        "License-Expression": project["license"],
        "Requires-Python": project["requires-python"],
        "Name": project["name"],
    }
    for field, value in checks.items():
        if metadata.get(field) != value:
            found = metadata.get(field)
            raise SystemExit(f"{wheel.name}: METADATA {field} is {found!r}, not {value!r}")
    command = f"dagmm = {project['scripts']['dagmm']}"
    if command not in entry_points:
        raise SystemExit(f"{wheel.name}: entry_points.txt lacks {command!r}")


def check_sdist(sdist: Path, stem: str) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(f"{stem}/") for name in archive.getnames()}
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    needed = {name for name in tracked if name != ".gitignore"}
    if missing := sorted(needed - names):
        raise SystemExit(f"{sdist.name}: missing {missing}")


def main() -> None:
    dist = Path(sys.argv[1])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    stem = f"dagmm-{project['version']}"
    wheel = _one(dist, f"{stem}-py3-none-any.whl")
    sdist = _one(dist, f"{stem}.tar.gz")
    package_files = _package_files()
    check_wheel(wheel, project, stem, package_files)
    check_sdist(sdist, stem)
    print(f"{wheel.name}: {len(package_files)} package files; {sdist.name}: every tracked file")


if __name__ == "__main__":
    main()
