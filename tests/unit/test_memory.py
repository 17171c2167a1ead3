"""``qbitrr_mqtt.memory.trim``: glibc's ``malloc_trim(0)`` through ctypes."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from qbitrr_mqtt import memory

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

# 80 MB of 8 KiB blocks, every 50th kept: free() alone gives none of it back (each stretch
# of free pages sits below a live block), malloc_trim(0) returns the whole free pages.
FRAGMENTED = textwrap.dedent(
    """
    from qbitrr_mqtt import memory

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024

    blocks = [bytes(8192) for _ in range(10_000)]
    kept = blocks[::50]
    del blocks
    before = rss_mb()
    result = memory.trim()
    print(before, rss_mb(), result)
    """
)


@glibc
def test_trim_calls_glibc_malloc_trim_and_returns_none() -> None:
    assert memory._malloc_trim() is not None  # found on this glibc Linux
    assert memory.trim() is None
    assert memory.trim() is None  # and again


@glibc
def test_trim_returns_freed_heap_pages_to_the_system() -> None:
    out = subprocess.run(
        [sys.executable, "-c", FRAGMENTED], capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, result = int(out[0]), int(out[1]), out[2]
    assert result == "None"
    assert before - after > 40, f"RSS {before} MB before the trim, {after} MB after"


def test_trim_is_a_no_op_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.trim() is None


def test_keep_heap_small_pins_glibcs_thresholds_in_a_real_process() -> None:
    """After ``keep_heap_small`` a freed large block no longer raises glibc's mmap threshold:
    a 4 MB block allocated after freeing one is still its own mapping (mmap), not heap."""
    import subprocess
    import sys

    code = (
        "import ctypes, sys\n"
        "from qbitrr_mqtt import memory\n"
        "if sys.argv[1] == 'pin': memory.keep_heap_small()\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.malloc.restype = ctypes.c_void_p\n"
        "libc.free.argtypes = [ctypes.c_void_p]\n"
        "libc.free(libc.malloc(8 << 20))\n"  # a large free: glibc raises its thresholds
        "p = libc.malloc(4 << 20)\n"
        "maps = open('/proc/self/maps').read().splitlines()\n"
        "heap = [l for l in maps if l.endswith('[heap]')]\n"
        "lo, hi = (int(x, 16) for x in heap[0].split()[0].split('-'))\n"
        "print('heap' if lo <= p < hi else 'mmap')\n"
    )
    out = {
        mode: subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
        ).stdout.strip()
        for mode in ("default", "pin")
    }
    assert out == {"default": "heap", "pin": "mmap"}
