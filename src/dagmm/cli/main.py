"""``dagmm`` command group: user mistakes end in one clear line and a non-zero exit."""

from __future__ import annotations

import os
import signal
import sys
import warnings

import click

from .. import __version__
from ..exceptions import DAGMMError, DistributedInputError
from .pipes import shown

EXIT_USER_ERROR = 2
#: The status of a command whose reader left (``dagmm info m | head -1``): a shell's
#: for a process ended by SIGPIPE (128 + 13), as other command-line tools end then.
EXIT_BROKEN_PIPE = 141


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # on stderr, whatever the command: its stdout may carry data (score --out -)
    print(f"dagmm: warning: {shown(str(message))}", file=sys.stderr)


#: Errors a user can act on: reported in one line, without a traceback.
USER_ERRORS = (DAGMMError, FloatingPointError, OSError, MemoryError)


def user_message(exc: BaseException) -> str:
    """The one-line report of one of :data:`USER_ERRORS`."""
    if isinstance(exc, MemoryError):
        return (
            "out of memory; ask for less at a time: a smaller --chunk-rows or --sample-rows "
            "(fit, score, explain, report), fewer --seeds or --restarts (reproduce, benchmark)"
        )
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


#: The longest another rank waits for rank 0 to print an error they share (seconds).
RANK_0_REPORT_WAIT_S = 60.0


def reported_by_rank_0(exc: BaseException) -> bool:
    """Whether this process leaves ``exc`` to rank 0 to report: torchrun started it as
    another rank, and ``exc`` is an error every process raises alike (one they agreed
    on, or a mistake in the command line, which every process parses the same)."""
    return _shared_under_torchrun(exc) and torchrun_rank() != 0


def _shared_under_torchrun(exc: BaseException) -> bool:
    shared = isinstance(exc, (DistributedInputError, click.UsageError))
    return shared and torchrun_rank() is not None


def report_user_error(exc: BaseException) -> click.exceptions.Exit:
    """Print one of :data:`USER_ERRORS` or a usage error in one line; return the exit.

    Under torchrun an error every process shares (:func:`reported_by_rank_0`) is
    printed by rank 0 alone, and the other ranks end only once it has been printed:
    torchrun stops every process as soon as one has ended, so a rank ending first
    could stop rank 0 before it had said why (seen under load).
    """
    if reported_by_rank_0(exc):
        _await_rank_0_report()
        return click.exceptions.Exit(EXIT_USER_ERROR)
    if isinstance(exc, click.UsageError):
        # an option's value, a missing argument, an unknown option or command: one
        # line like every other mistake, with where to read the command's usage
        where = exc.ctx.command_path if exc.ctx is not None else "dagmm"
        status = _fail(f"{exc.format_message()} (see '{where} -h')")
    else:
        status = _fail(user_message(exc))
    if _shared_under_torchrun(exc):
        _announce_rank_0_report()
    return status


def _report_key() -> str:
    # torchrun restarts every worker after a failure when --max-restarts allows it
    return f"dagmm/error-printed/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def _torchrun_store(timeout_s: float):
    """A client of the key-value store torchrun's agent keeps for its workers (at
    ``MASTER_ADDR:MASTER_PORT``), else the process group's own store (rank 0's), else
    None: then no process group ties this process to others."""
    from datetime import timedelta

    timeout = timedelta(seconds=timeout_s)
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        from torch.distributed import TCPStore

        return TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
            timeout=timeout,
        )  # fmt: skip
    # torch 2.2 and 2.3 under torchrun's c10d rendezvous keep no agent store for the
    # workers, but the agent stops them all the same
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    store = dist.distributed_c10d._get_default_store()
    store.set_timeout(timeout)
    return store


def _announce_rank_0_report() -> None:
    try:
        store = _torchrun_store(RANK_0_REPORT_WAIT_S)
        if store is not None:
            store.set(_report_key(), "1")
    except Exception:  # the error is printed; the others end at their wait's end
        pass


def _await_rank_0_report() -> None:
    try:
        store = _torchrun_store(RANK_0_REPORT_WAIT_S)
        if store is not None:
            store.wait([_report_key()])
    except Exception:  # a rank 0 that never printed: end all the same
        pass


class _Group(click.Group):
    """Turns the package's own errors and OS errors into one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _stdout_to_devnull()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except (*USER_ERRORS, click.UsageError) as exc:
            raise report_user_error(exc) from None
        except KeyboardInterrupt:
            # the status a shell gives a command Ctrl-C ended: until 2026-12-07 click's
            # "Aborted!" and 1, the status of any failure, so a wrapper could not tell
            # (every file being written has removed its temporary by now)
            from .core import EXIT_INTERRUPTED

            click.echo("dagmm: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


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
    # one line whatever the message (third-party texts can span several); DATA read from
    # a pipe named as the user gave it, not by its temporary copy
    click.echo(f"dagmm: error: {' '.join(shown(message).split())}", err=True)
    return click.exceptions.Exit(EXIT_USER_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dagmm")
def cli() -> None:
    """DAGMM: unsupervised anomaly detection for tabular data (Zong et al., ICLR 2018)."""
    warnings.showwarning = _show_warning
    # A library's notice that an API it offers will change is for the code calling it,
    # not for someone at a command line (matplotlib 3.7 under pyparsing 3.3 printed
    # "'enablePackrat' deprecated - use 'enable_packrat'" under every `dagmm report`).
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)


#: Modules of ``dagmm.cli`` whose ``COMMANDS`` list is added to the group.
COMMAND_MODULES = ["core", "report", "reproduce"]


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


class Terminated(BaseException):
    """SIGTERM arrived (``kill``, ``docker stop``, a batch scheduler's time limit).

    Raised in the main thread, it unwinds the command as Ctrl-C does, so each file
    being written removes its temporary (an earlier output is kept, as ever); the
    process then ends by SIGTERM, as it would have without the handler. A
    ``BaseException``: no ``except Exception`` of the package or its libraries takes
    it for an error to report.
    """


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main() -> None:
    """Console-script entry point."""
    # Not under torchrun, which stops its workers with SIGTERM when one fails: they may
    # be waiting in a collective, and rank 0 alone writes, after the last one.
    if torchrun_rank() is None:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        cli(prog_name="dagmm")
    except Terminated:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":  # pragma: no cover
    # `python -m dagmm.cli.main` (torchrun, the tests) runs this file as __main__, a second
    # copy of the module: run the package's own, whose Terminated the commands catch
    from dagmm.cli.main import main as package_main

    package_main()
