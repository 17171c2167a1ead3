"""Process-tree figures from /proc: RSS and CPU time of a process and all its descendants."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from state (index 0) on


def children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant still running."""
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def name(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in cmd if w]
    tail = [w for w in words[1:] if not w.startswith("-")][-2:]
    return " ".join([Path(words[0]).name, *tail]) if words else "?"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (its own, not its children's)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size (MB): private pages plus each shared page divided by the number
    of processes mapping it (``/proc/PID/smaps_rollup``). Summed over a process tree it
    counts libpython, libcrypto and the other shared libraries once, where a sum of RSS
    counts them once per process; 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_pss(pid: int) -> dict[str, float]:
    """PSS (MB) of each process of the tree, keyed ``name[pid]``."""
    return {f"{name(p)}[{p}]": pss_mb(p) for p in tree(pid)}


def tree_rss(pid: int) -> dict[str, float]:
    """RSS (MB) of each process of the tree, keyed ``name[pid]``."""
    return {f"{name(p)}[{p}]": rss_mb(p) for p in tree(pid)}


def tree_cpu(pid: int) -> dict[int, float]:
    return {p: cpu_seconds(p) for p in tree(pid)}
