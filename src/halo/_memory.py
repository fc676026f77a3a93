"""Keeping the resident memory of long runs down."""

from __future__ import annotations

import functools
import sys


def release_freed_memory() -> None:
    """Hand freed heap memory back to the operating system (glibc's ``malloc_trim``; elsewhere nothing).

    glibc keeps the freed pages of each thread's arena for reuse, so with tiles in several threads, and large
    short-lived copies while writing, the resident memory creeps up by hundreds of MB over a slide (measured:
    ``docs/scale.md``); dask.distributed trims its workers the same way.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


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
