"""``docs/cli.md`` is what the commands print: a changed option, help text or default
fails here until the page is regenerated (``python -m dagmm.cli.reference docs/cli.md``),
and the page reads the same whatever the machine, terminal or environment that wrote it.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pytest

from dagmm.cli import reference
from dagmm.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
REGENERATE = "python -m dagmm.cli.reference docs/cli.md"


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_the_page_is_the_commands_help() -> None:
    page = _page()
    expected = reference.updated(page)
    if page != expected:
        diff = difflib.unified_diff(
            page.splitlines(), expected.splitlines(), "docs/cli.md", "generated", lineterm="", n=1
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(f"docs/cli.md is stale: run `{REGENERATE}` and commit it.\n{shown}")


def test_the_page_covers_every_command_and_the_intro_names_each() -> None:
    page = _page()
    intro, marker, generated = page.partition(reference.MARKER)
    assert marker, "docs/cli.md lost its marker line"
    names = sorted(name for name, command in cli.commands.items() if not command.hidden)
    assert {"demo", "fit", "score", "explain", "info", "report", "reproduce", "benchmark"} <= set(
        names
    )
    assert reference.commands() == ["dagmm", *(f"dagmm {name}" for name in names)]
    for name in names:
        assert f"\n## dagmm {name}\n" in generated
        assert f"`dagmm {name}`" in intro, f"the introduction of docs/cli.md has no line for {name}"
        assert f"\nUsage: dagmm {name} [OPTIONS]" in generated
    # every option of every command, with its help
    for name in names:
        for param in cli.commands[name].params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.opts[-1] in generated, f"dagmm {name} {param.opts[-1]}"
                first_words = " ".join((param.help or "").split()[:3])
                assert first_words in generated, f"dagmm {name} {param.opts[-1]}: help"


def test_the_page_is_the_same_on_another_terminal_and_environment(tmp_path) -> None:
    # What another machine would write: another terminal width, data directory, home,
    # thread count, CPU set. A default read from the environment would differ here.
    env = {
        **os.environ,
        "COLUMNS": "43",
        "LINES": "7",
        "TERM": "dumb",
        "HOME": str(tmp_path),
        "DAGMM_DATA": str(tmp_path / "elsewhere"),
        "OMP_NUM_THREADS": "3",
        "TMPDIR": str(tmp_path),
        "PYTHONWARNINGS": "ignore",
    }
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )

    # one CPU for the child (where the platform can say so), then the module as -m runs it
    child = (
        "import os, runpy\n"
        "if hasattr(os, 'sched_setaffinity'):\n"
        "    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "runpy.run_module('dagmm.cli.reference', run_name='__main__', alter_sys=True)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout == reference.render()


def test_the_page_holds_no_path_of_this_machine() -> None:
    generated = _page().partition(reference.MARKER)[2]
    places = {str(Path.home()), str(ROOT), sys.prefix, tempfile.gettempdir(), os.getcwd()}
    if os.environ.get("DAGMM_DATA"):
        places.add(os.environ["DAGMM_DATA"])
    found = [place for place in places if len(place) > 1 and place in generated]
    assert not found, f"machine-specific values in docs/cli.md: {found}"


def test_a_changed_help_text_makes_the_page_stale(monkeypatch, tmp_path) -> None:
    epochs = next(p for p in cli.commands["fit"].params if p.name == "epochs")
    page = tmp_path / "cli.md"
    current = reference.updated(_page())  # the page as it should be now, stale or not
    page.write_text(current, encoding="utf-8")
    assert reference.main(["--check", str(page)]) == 0
    monkeypatch.setattr(epochs, "help", "Passes over the training data.")
    assert reference.updated(current) != current
    assert reference.main(["--check", str(page)]) == 1
    assert reference.main([str(page)]) == 0  # regenerated: the new help, the intro kept
    text = page.read_text(encoding="utf-8")
    assert "Passes over the training data." in text
    assert text.partition(reference.MARKER)[0] == _page().partition(reference.MARKER)[0]
    assert reference.main(["--check", str(page)]) == 0


def test_a_page_without_its_marker_is_refused(tmp_path, capsys) -> None:
    page = tmp_path / "cli.md"
    page.write_text("# Commands\n\nhand-written, no marker\n", encoding="utf-8")
    assert reference.main([str(page)]) == 2
    assert "no marker line" in capsys.readouterr().err
    assert page.read_text(encoding="utf-8") == "# Commands\n\nhand-written, no marker\n"
    with pytest.raises(ValueError, match="no marker line"):
        reference.updated("no marker")
    new = tmp_path / "new.md"
    assert reference.main([str(new)]) == 0
    assert new.read_text(encoding="utf-8").startswith(reference.DEFAULT_INTRO + reference.MARKER)


def test_the_page_shows_the_help_options_the_command_line_takes(monkeypatch) -> None:
    # click keeps a command's help option as first made: a context made without the group
    # (as tests/test_docs_commands.py parses commands) leaves `--help` alone, not `-h`.
    info = cli.commands["info"]
    # as in a fresh process (click 8.1 keeps none: it makes the option anew each time)
    monkeypatch.setattr(info, "_help_option", None, raising=False)
    info.make_context("info", [])
    assert "  --help  " in info.get_help(click.Context(info))
    generated = reference.render()
    assert generated.count("  -h, --help  ") == len(reference.commands())
    assert "  --help  " not in generated
