"""Give freed heap memory back to the system.

After a cycle that parsed many new torrents (the cold start's ``sync/maindata``,
``torrents/files`` and ``torrents/properties`` answers, every row written), glibc's malloc
keeps the freed arenas for reuse: the Python objects are gone but RSS stays at the peak.
``malloc_trim(0)`` returns the free pages at the top of every arena and the unused whole pages
inside them (measured: ~30 MB at 5,000 torrents, in ~4 ms). Elsewhere (musl, macOS) it is a
no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None when the C library has none.

    Looked up in the process's own symbols (``dlopen(NULL)``): no ``ldconfig`` subprocess,
    and the C library the interpreter really uses. ctypes is imported on the first call only.
    """
    try:
        import ctypes

        fn = ctypes.CDLL(None).malloc_trim
    except (ImportError, OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


def trim() -> None:
    """Return the heap's free memory to the system (glibc ``malloc_trim(0)``; else nothing)."""
    fn = _malloc_trim()
    if fn is not None:
        fn(0)


#: ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's own default for both, which it leaves once a large block is freed.
HEAP_THRESHOLD = 128 * 1024


def keep_heap_small(threshold: int = HEAP_THRESHOLD) -> None:
    """Pin glibc's trim and mmap thresholds (a process that runs all day calls this first).

    glibc raises both after a large block is freed (its "dynamic mmap threshold"), up to
    32 MB and 64 MB: after a cold cycle freed its multi-megabyte answers, blocks of that size
    came from the heap instead of their own mappings, and the heap kept up to that much free
    memory at its top. Setting them turns the adjustment off (as ``MALLOC_TRIM_THRESHOLD_``
    would). Measured on a manager at 10,000 torrents: 82.1 -> 80.5 MB (80.5 -> 78.7 with
    the lean store's smaller SQLite page cache). Elsewhere a no-op.
    """
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mallopt(_M_TRIM_THRESHOLD, threshold)
    mallopt(_M_MMAP_THRESHOLD, threshold)
