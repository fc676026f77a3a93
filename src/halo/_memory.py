"""Keeping the resident memory of long runs down."""

from __future__ import annotations

import contextlib
import functools
import sys


def release_freed_memory() -> None:
    """Hand freed heap memory back to the operating system (glibc's ``malloc_trim``, and Arrow's memory pool).

    glibc keeps the freed pages of each thread's arena for reuse, so with tiles in several threads, and large
    short-lived copies while writing, the resident memory creeps up by hundreds of MB over a slide (measured:
    ``docs/scale.md``); dask.distributed trims its workers the same way. Arrow (which reads and writes the points
    and shapes) allocates from its own pool, which keeps what it freed too (~80 MB after a 16-tile slide).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    if "pyarrow" in sys.modules:  # only a pool that was used: importing pyarrow here would cost more than it frees
        sys.modules["pyarrow"].default_memory_pool().release_unused()


@functools.cache
def _malloc_trim():
    """Look glibc's ``malloc_trim`` up once (finding the C library runs ``ldconfig``); ``None`` elsewhere."""
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl): nothing to trim
        return None


@contextlib.contextmanager
def released_during_dask(*, every_s: float = 0.25):
    """Within this block, hand freed memory back after dask's local tasks, at most once every ``every_s`` seconds.

    A dask computation with many small tasks (writing a points element partition by partition) leaves the freed
    copies of each in the worker threads' arenas until it ends: hundreds of MB on a gigapixel slide.
    """
    import time

    from dask.callbacks import Callback

    last = [time.monotonic()]

    def posttask(*_) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            release_freed_memory()
            last[0] = time.monotonic()

    with Callback(posttask=posttask):
        yield
