"""Progress bars that leave no thread behind."""

from __future__ import annotations

from typing import Any


def progress_bar(**options: Any) -> Any:
    """A ``tqdm.auto.tqdm`` bar without tqdm's monitor thread.

    The monitor, a daemon thread waking every 10 s to check for a stalled bar, would
    outlive the bar in the caller's process (a fit in a notebook, a command run in
    a test); these bars advance once per epoch or chunk and need none.

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

    return _Bar(**options)
