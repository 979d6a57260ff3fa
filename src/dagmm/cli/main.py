"""``dagmm`` command group: user mistakes end in one clear line and a non-zero exit."""

from __future__ import annotations

import os
import sys
import warnings

import click

from .. import __version__
from ..exceptions import DAGMMError, DistributedInputError

EXIT_USER_ERROR = 2
#: The status of a command whose reader left (``dagmm info m | head -1``): a shell's
#: for a process ended by SIGPIPE (128 + 13), as other command-line tools end then.
EXIT_BROKEN_PIPE = 141


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"dagmm: warning: {message}", file=sys.stderr)


#: Errors a user can act on: reported in one line, without a traceback.
USER_ERRORS = (DAGMMError, FloatingPointError, OSError, MemoryError)


def user_message(exc: BaseException) -> str:
    """The one-line report of one of :data:`USER_ERRORS`."""
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller --chunk-rows or --sample-rows"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc)


def torchrun_rank() -> int | None:
    """This process's rank when torchrun started it (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR`` and ``MASTER_PORT`` all set), else None."""
    names = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    if not all(os.environ.get(name) for name in names):
        return None
    try:
        return int(os.environ["RANK"])
    except ValueError:
        return None


def reported_by_rank_0(exc: BaseException) -> bool:
    """Whether this process leaves ``exc`` to rank 0 to report: torchrun started it as
    another rank, and ``exc`` is an error every process raises alike (one they agreed
    on, or a mistake in the command line, which every process parses the same)."""
    if not isinstance(exc, (DistributedInputError, click.UsageError)):
        return False
    return torchrun_rank() not in (None, 0)


class _Group(click.Group):
    """Turns the package's own errors and OS errors into one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _stdout_to_devnull()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except (*USER_ERRORS, click.UsageError) as exc:
            if reported_by_rank_0(exc):  # under torchrun: one message, not one per process
                raise click.exceptions.Exit(EXIT_USER_ERROR) from None
            if isinstance(exc, USER_ERRORS):
                raise _fail(user_message(exc)) from None
            assert isinstance(exc, click.UsageError)
            # an option's value, a missing argument, an unknown option or command: one
            # line like every other mistake, with where to read the command's usage
            where = exc.ctx.command_path if exc.ctx is not None else "dagmm"
            raise _fail(f"{exc.format_message()} (see '{where} -h')") from None


def _stdout_to_devnull() -> None:
    """Point stdout at nothing: the reader of what the command printed has gone, which is
    no error to report, and the interpreter's flush of stdout at exit must not fail again."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _fail(message: str) -> click.exceptions.Exit:
    # one line whatever the message (third-party texts can span several)
    click.echo(f"dagmm: error: {' '.join(message.split())}", err=True)
    return click.exceptions.Exit(EXIT_USER_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dagmm")
def cli() -> None:
    """DAGMM: unsupervised anomaly detection for tabular data (Zong et al., ICLR 2018)."""
    warnings.showwarning = _show_warning


#: Modules of ``dagmm.cli`` whose ``COMMANDS`` list is added to the group.
COMMAND_MODULES = ["core", "report", "reproduce"]


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="dagmm")


if __name__ == "__main__":  # pragma: no cover
    main()
