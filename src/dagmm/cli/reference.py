"""The command-line reference page, ``docs/cli.md``, written from the commands themselves.

Below its marker line the page holds, for the ``dagmm`` group and every command registered
on it, the command's ``--help`` text: usage, description, every option with its help,
type, choices, range and default. Above the marker is a hand-written introduction, which
regenerating keeps::

    python -m dagmm.cli.reference docs/cli.md           # rewrite the generated part
    python -m dagmm.cli.reference --check docs/cli.md   # exit 1 when the page is stale
    python -m dagmm.cli.reference                       # print the generated part

The help is laid out at a fixed width (:data:`WIDTH`), never the terminal's, so the page
is the same on every machine; ``tests/test_cli_reference.py`` fails when it is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import click

#: The line between the hand-written introduction and the generated reference.
MARKER = (
    "<!-- Generated below this line from the commands' own --help "
    "(python -m dagmm.cli.reference docs/cli.md); edits below it are overwritten. -->"
)
#: Columns the help text is laid out in, whatever the terminal.
WIDTH = 100
#: The introduction of a page written for the first time.
DEFAULT_INTRO = "# Command-line reference\n\n"


def _contexts(
    command: click.Command, name: str, parent: click.Context | None = None
) -> Iterator[click.Context]:
    """A context for ``command`` and, if it is a group, for each of its visible commands
    (recursively, in the order ``--help`` lists them), laid out at :data:`WIDTH`."""
    settings = {
        **command.context_settings,
        "terminal_width": WIDTH,
        "max_content_width": WIDTH,
    }
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    # click (8.1.8 on) keeps a command's help option as first made, with the names of the
    # context that asked first: one made without the group (a test's make_context) would
    # show `--help` alone where `dagmm fit -h` takes both. Show what the command line takes.
    shown = command.get_help_option(ctx)
    if shown is not None and set(shown.opts) != set(ctx.help_option_names):
        command._help_option = None
    yield ctx
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                yield from _contexts(sub, sub_name, ctx)


def commands() -> list[str]:
    """The command paths the reference covers: ``dagmm`` and each of its commands.

    Returns
    -------
    list of str
        ``["dagmm", "dagmm benchmark", ...]``, in the order of the page.
    """
    from .main import cli

    return [ctx.command_path for ctx in _contexts(cli, "dagmm")]


def render() -> str:
    """The generated part of the page: the marker line, then per command a heading and its
    ``--help`` text in a fenced block.

    Returns
    -------
    str
        Markdown text ending in one newline; the same on every machine and terminal.
    """
    from .main import cli

    lines = [MARKER, ""]
    for ctx in _contexts(cli, "dagmm"):
        help_text = ctx.command.get_help(ctx)
        lines += [f"## {ctx.command_path}", "", "```text"]
        lines += [line.rstrip() for line in help_text.splitlines()]
        lines += ["```", ""]
    return "\n".join(lines)


def updated(page: str | None) -> str:
    """``page`` with everything from its marker line on replaced by :func:`render`'s text.

    Parameters
    ----------
    page : str or None
        The page as it is, or None for a page not written yet (it then gets a title).

    Returns
    -------
    str
        The hand-written introduction of ``page``, unchanged, followed by the reference.

    Raises
    ------
    ValueError
        If ``page`` has no marker line, so nothing tells the introduction from the rest.
    """
    if page is None:
        intro = DEFAULT_INTRO
    else:
        intro, found, _ = page.partition(MARKER)
        if not found:
            raise ValueError(
                f"no marker line in the page; put this line under its introduction: {MARKER}"
            )
    return intro + render()


def main(argv: list[str] | None = None) -> int:
    """``python -m dagmm.cli.reference [--check] [PAGE]``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the process's).

    Returns
    -------
    int
        The exit status: 0, or 1 when ``--check`` finds the page stale, 2 on a mistake.
    """
    parser = argparse.ArgumentParser(
        prog="python -m dagmm.cli.reference",
        description="Write the command-line reference page (docs/cli.md) from the commands.",
    )
    parser.add_argument(
        "page", nargs="?", type=Path, help="the page to update in place (default: print)"
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if PAGE is stale"
    )
    args = parser.parse_args(argv)
    if args.page is None:
        if args.check:
            parser.error("--check needs PAGE")
        sys.stdout.write(render())
        return 0
    current = args.page.read_text(encoding="utf-8") if args.page.exists() else None
    try:
        text = updated(current)
    except ValueError as exc:
        print(f"{args.page}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if text != current:
            print(
                f"{args.page} is stale: run python -m dagmm.cli.reference {args.page}",
                file=sys.stderr,
            )
            return 1
        return 0
    if text != current:
        with args.page.open("w", encoding="utf-8", newline="\n") as out:
            out.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
