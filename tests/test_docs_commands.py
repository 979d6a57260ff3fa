"""Every command the README and docs show still runs as written: each ``dagmm ...`` line
parses against the current command line (its subcommand, options and choices exist), and
each ``python benchmarks/...`` line names options its script takes.

A figure in the docs is only as good as the command printed beside it; a renamed option
would leave the command failing and the figure unrepeatable.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest

from dagmm.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks/README.md"]

#: Code blocks whose lines are commands (other blocks hold printed output).
SHELL_BLOCKS = ("bash", "sh", "shell", "console")
#: A word standing for a value the reader chooses (``--restarts R``, ``DATASET``, ``...``).
PLACEHOLDER = re.compile(r"^(\.\.\.|[A-Z][A-Z_]*|<[^>]+>)$")
#: ``VAR=value`` prefixes (``PYTHONPATH=src``, ``DAGMM_NUMBA=0``) before a command.
ENV_PREFIX = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)+")


def _shell_lines(text: str) -> list[str]:
    """The commands of a markdown text: inline code spans, lines of shell blocks (with
    continuation lines joined) and ``$ ``-prompted lines of other blocks."""
    found = [m.group(1) for m in re.finditer(r"`([^`\n]+)`", text)]
    language = None
    pending = ""
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence:
            language = None if language is not None else fence.group(1) or ""
            continue
        if language in SHELL_BLOCKS or (language is not None and line.startswith("$ ")):
            pending += line.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            found.append(pending.strip())
            pending = ""
    commands = []
    for entry in found:
        for part in re.split(r"\s*(?:&&|;|\|)\s*", entry):
            part = ENV_PREFIX.sub("", re.sub(r"^\$\s+", "", part.strip()))  # a `$ ` prompt
            part = re.sub(r"\s+#.*$", "", part)  # a trailing comment
            part = re.sub(r"\s+\d?>\S*.*$", "", part)  # a redirection and what follows
            commands.append(part)
    return commands


def _documented(prefix: str) -> list[tuple[str, list[str]]]:
    """``(file, argv)`` of every documented command that starts with ``prefix``."""
    out = []
    for path in DOCS:
        for command in _shell_lines(path.read_text(encoding="utf-8")):
            if not command.startswith(prefix + " "):
                continue
            try:
                argv = shlex.split(command)
            except ValueError:
                continue
            out.append((path.relative_to(ROOT).as_posix(), argv))
    return out


DAGMM_COMMANDS = _documented("dagmm")
BENCHMARK_COMMANDS = [
    (where, argv)
    for where, argv in _documented("python")
    if argv[1].startswith("benchmarks/") and "<" not in argv[1]  # not `benchmarks/<script>.py`
]


def _parse_error(argv: list[str]) -> str | None:
    """Why ``argv`` (after ``dagmm``) does not parse, or None. A missing argument is no
    error, nor a last option without its value: the docs name commands and options
    in prose (``dagmm score``, ``dagmm score --device``)."""
    if any(PLACEHOLDER.match(word) for word in argv):
        return None
    name, args = argv[0], argv[1:]
    command = cli.commands.get(name)
    if command is None:
        return f"no command {name!r}"
    try:
        command.make_context(name, args)
    except click.exceptions.Exit:
        return None
    except click.MissingParameter:
        return None
    except click.BadOptionUsage as exc:
        if argv[-1].startswith("-") and "requires an argument" in exc.format_message():
            return None  # prose naming an option (``dagmm score --device``)
        return exc.format_message()
    except click.UsageError as exc:
        return exc.format_message()
    return None


def test_the_docs_show_commands_to_check() -> None:
    # The scan must see the docs' commands, or the checks below would pass on nothing.
    names = {argv[1] for _, argv in DAGMM_COMMANDS if len(argv) > 1}
    assert {"demo", "fit", "score", "reproduce", "benchmark", "report", "explain"} <= names
    assert len(DAGMM_COMMANDS) > 50
    assert {argv[1] for _, argv in BENCHMARK_COMMANDS} >= {
        "benchmarks/bench_train.py",
        "benchmarks/bench_score.py",
        "benchmarks/bench_ensemble.py",
    }


def test_the_parse_check_catches_a_renamed_option() -> None:
    assert _parse_error(["fit", "data.csv", "--out", "m.dagmm", "--epoch", "3"]) is not None
    assert _parse_error(["reproduce", "kddcup", "--combine", "maen"]) is not None
    assert _parse_error(["scores", "m.dagmm"]) is not None
    assert _parse_error(["fit", "data.csv", "--out", "m.dagmm", "--epochs", "3"]) is None
    assert _parse_error(["fit", "--restarts", "R"]) is None  # a placeholder, not a value


@pytest.mark.parametrize(
    ("where", "argv"), DAGMM_COMMANDS, ids=[" ".join(a)[:60] for _, a in DAGMM_COMMANDS]
)
def test_every_documented_dagmm_command_parses(where: str, argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] in ("-h", "--help", "--version"):
        return
    error = _parse_error(argv[1:])
    assert error is None, f"{where}: `{' '.join(argv)}`: {error}"


def test_every_documented_benchmark_option_exists() -> None:
    scripts: dict[str, set[str]] = {}
    for _, argv in BENCHMARK_COMMANDS:
        options = {word.split("=")[0] for word in argv[2:] if word.startswith("--")}
        scripts.setdefault(argv[1], set()).update(options)
    present = sorted(script for script in scripts if (ROOT / script).is_file())
    problems = [f"{script}: no such script" for script in sorted(scripts.keys() - set(present))]
    # four --help at a time: each spends its seconds importing torch and numpy
    with ThreadPoolExecutor(4) as pool:
        helps = pool.map(
            lambda script: subprocess.run(
                [sys.executable, str(ROOT / script), "--help"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=120,
            ),
            present,
        )
        for script, shown in zip(present, helps, strict=True):
            assert shown.returncode == 0, f"{script} --help failed: {shown.stderr[-500:]}"
            known = set(re.findall(r"--[a-z][a-z0-9-]*", shown.stdout))
            problems += [f"{script}: no option {o}" for o in sorted(scripts[script] - known)]
    assert not problems, "\n".join(problems)


def _python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a markdown file."""
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_quickstart_and_the_explain_snippet_run(tmp_path, monkeypatch) -> None:
    # The first code a user copies: it must run as printed, given a flows.csv and new rows.
    import numpy as np

    from dagmm.synthetic import make_tabular_anomalies

    (quickstart,) = _python_blocks(ROOT / "README.md")
    (explain,) = _python_blocks(ROOT / "docs/report.md")
    frame, _ = make_tabular_anomalies(300, random_state=0)
    monkeypatch.chdir(tmp_path)
    frame.to_csv("flows.csv", index=False)
    namespace: dict = {"new_rows": frame.tail(40), "rows": frame.tail(3)}
    exec(compile(quickstart, "README.md", "exec"), namespace)
    exec(compile(explain, "docs/report.md", "exec"), namespace)
    model, same = namespace["model"], namespace["same"]
    np.testing.assert_array_equal(same.decision_function(frame), model.decision_function(frame))
    assert namespace["energy"].shape == (40,) and set(namespace["labels"]) <= {0, 1}
    assert namespace["proba"].shape == (40, 2) and namespace["steady"].n_members_ == 5
    assert set(namespace["why"]["row"]) == {0, 1, 2}
