"""The command line run in the test's own process: no interpreter start-up (two to four
seconds of importing torch, pandas and scikit-learn for each command), for the tests whose
subject is what a command reads, writes or says rather than the process around it."""

from __future__ import annotations

from typing import Any


def invoke(*args: Any) -> tuple[int, str]:
    """``dagmm ARGS...`` in this process: its exit code and what it printed, stdout and
    stderr together. An exception the command does not turn into an error message ends
    it with exit code 1, as an uncaught one ends ``dagmm`` (with a traceback there)."""
    from click.testing import CliRunner

    from dagmm.cli.main import cli

    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output
