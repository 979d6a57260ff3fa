"""Independent tasks run on torch's own OpenMP threads.

The fused step's compiled passes (:mod:`dagmm._kernels`) loop over an ensemble's
members on the calling thread while torch's other OpenMP thread spins idle: with
libgomp's default wait policy a worker keeps polling its core for a while after
every parallel product. A second Python thread for half of the members gained
nothing (docs/performance.md, "Checks of 2026-12-06, night"): it competed for
the core with that spinning worker. :func:`run` hands the work to the worker
itself instead, through ``GOMP_parallel`` (the call ``#pragma omp parallel``
compiles to) of the very ``libgomp`` torch uses, so the spinning thread joins at
once.

Each OpenMP thread of the region takes tasks off a shared queue until it is
empty, so every task runs exactly once whatever the team's size, and a task's
result cannot depend on the thread that ran it. Elsewhere (not Linux, torch
built without OpenMP or with another runtime, a forked child, one thread) the
tasks run one after another on the calling thread.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import itertools
import os
import sys
from collections.abc import Callable, Sequence

import torch

__all__ = ["available", "run"]


class _Call:
    """One :func:`run`: the tasks not yet taken and the errors raised."""

    def __init__(self, tasks: Sequence[Callable[[], object]]) -> None:
        self.pending = collections.deque(tasks)
        self.errors: list[BaseException] = []


#: The calls in flight, by the key handed to ``GOMP_parallel`` as its data pointer.
_CALLS: dict[int, _Call] = {}
_KEYS = itertools.count(1)
_REGION_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _take_tasks(key: int | None) -> None:
    # Runs on every thread of the region; nothing may escape a ctypes callback.
    call = None
    try:
        call = _CALLS[key or 0]
        while True:
            try:
                task = call.pending.popleft()
            except IndexError:
                return
            try:
                task()
            except BaseException as error:  # re-raised by run()
                call.errors.append(error)
    except BaseException as error:  # an interrupt between two tasks
        if call is not None:
            call.errors.append(error)


_BODY = _REGION_BODY(_take_tasks)


def _torch_libgomp(mapped: set[str], site_packages: str) -> str | None:
    """Which of the ``libgomp`` files mapped into this process torch's threads run on.

    torch's wheels carry their own copy (``torch/lib`` or ``torch.libs``), and
    other packages may bundle theirs (scikit-learn does, and ``torchvision.libs``
    is no copy of torch's); a copy from elsewhere (the system's, conda's) serves
    only where it is the only one mapped.
    """
    folders = tuple(os.path.join(site_packages, name) + os.sep for name in ("torch", "torch.libs"))
    ours = {p for p in mapped if p.startswith(folders)}
    if len(ours) == 1:
        return ours.pop()
    return next(iter(mapped)) if len(mapped) == 1 else None


def _mapped_libgomp() -> set[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return {line.split(None, 5)[-1].strip() for line in maps if "libgomp" in line}
    except OSError:
        return set()


class _Runtime:
    def __init__(self, library: ctypes.CDLL) -> None:
        self.pid = os.getpid()
        self.parallel = library.GOMP_parallel
        self.parallel.argtypes = [_REGION_BODY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        self.parallel.restype = None


@functools.cache
def _runtime() -> _Runtime | None:
    """torch's OpenMP runtime, where this process can hand it work."""
    if not sys.platform.startswith("linux"):
        return None
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    site_packages = os.path.dirname(os.path.dirname(os.path.abspath(torch.__file__)))
    path = _torch_libgomp(_mapped_libgomp(), site_packages)
    if path is None:
        return None
    try:
        # RTLD_NOLOAD: the library torch loaded, never a second copy
        return _Runtime(ctypes.CDLL(path, mode=os.RTLD_NOLOAD))
    except (OSError, AttributeError):
        return None


def _usable_runtime() -> _Runtime | None:
    """:func:`_runtime`, unless this process is a forked child.

    A child has no worker threads behind its parent's pool.
    """
    runtime = _runtime()
    return runtime if runtime is not None and runtime.pid == os.getpid() else None


def available() -> bool:
    """Whether :func:`run` can use torch's OpenMP threads in this process."""
    return _usable_runtime() is not None


def run(tasks: Sequence[Callable[[], object]], threads: int) -> None:
    """Run every task once, on up to ``threads`` of torch's OpenMP threads.

    Tasks must not depend on one another's order or thread (each writes its own
    outputs). The caller waits for all of them. An error a task raises is
    raised here: side by side, once the region ends (the first, if several
    failed); one after another, at once.
    """
    threads = min(threads, len(tasks))
    runtime = _usable_runtime() if threads > 1 else None
    if runtime is None:
        for task in tasks:
            task()
        return
    key = next(_KEYS)
    call = _CALLS[key] = _Call(tasks)
    try:
        runtime.parallel(_BODY, key, threads, 0)
    finally:
        del _CALLS[key]
    if call.errors:
        raise call.errors[0]
