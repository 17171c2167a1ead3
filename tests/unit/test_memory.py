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
