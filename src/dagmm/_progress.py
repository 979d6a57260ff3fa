"""Progress bars that leave no thread behind, and write lines to a log file."""

from __future__ import annotations

import sys
from typing import Any

#: Seconds between two lines of a bar written to a file that is not a terminal.
LOG_INTERVAL = 10.0


def progress_bar(**options: Any) -> Any:
    """A ``tqdm.auto.tqdm`` bar without tqdm's monitor thread.

    The monitor, a daemon thread waking every 10 s to check for a stalled bar, would
    outlive the bar in the caller's process (a fit in a notebook, a command run in
    a test); these bars advance once per epoch or chunk and need none.

    On a stream that is not a terminal (a log file, a pipe, ``nohup``) tqdm's
    carriage returns would pile every refresh onto one endless line; there the bar
    writes plain ASCII lines instead, one when it starts, one every
    ``LOG_INTERVAL`` seconds at most and one when it ends. A notebook keeps
    tqdm's own display.

    Parameters
    ----------
    **options
        ``tqdm``'s keyword arguments (``total``, ``desc``, ``unit``, ``file``, ...).

    Returns
    -------
    tqdm.auto.tqdm
    """
    from tqdm.auto import tqdm

    class _Bar(tqdm):
        monitor_interval = 0

    stream = options.get("file") or sys.stderr
    if _redraws_in_place(stream) or any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__):
        return _Bar(**options)

    class _LineBar(_Bar):
        @staticmethod
        def status_printer(file: Any) -> Any:
            def print_line(line: str) -> None:
                if line:
                    file.write(line.rstrip() + "\n")
                    getattr(file, "flush", lambda: None)()

            return print_line

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            if msg == "":  # tqdm clearing the line: nothing to clear in a log
                return False
            return bool(super().display(msg, pos))

        def set_postfix(
            self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any
        ) -> None:
            # shown with the next line, not as a line of its own
            super().set_postfix(ordered_dict, refresh=False, **kwargs)

        def close(self) -> None:
            if not self.disable and self.n != self.last_print_n:
                self.display()  # the last state, once
            super().close()

    options = {"ascii": True, **options, "leave": False}
    options["mininterval"] = max(float(options.get("mininterval", 0.0)), LOG_INTERVAL)
    return _LineBar(**options)


def _redraws_in_place(stream: Any) -> bool:
    """Whether ``stream`` shows a carriage return as a redraw: a terminal or a notebook."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
