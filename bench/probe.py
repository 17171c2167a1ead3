"""The manager under measurement, in a process of its own: ``python -m bench.probe SPEC``.

Builds the manager exactly as ``qbitrr-mqtt manager NAME`` does (store, qBittorrent and Arr
clients, MQTT publisher, metrics), then runs ``cycles`` cycles back to back and measures each
one: wall and CPU time (``time.process_time``: every thread of this process), HTTP requests
and bytes from qBittorrent and the Arr, SQL statements and writes (counted by the lean
store's ``Database``), MQTT messages sent, torrents that changed, actions taken.
At the end it reads its own RSS, so the harness's imports never count. Prints one JSON line.

SPEC (JSON): ``config``, ``instance``, ``cycles``, ``pause`` (seconds between cycles),
``change_at`` (cycle index at which ``change_count`` torrents are paused, resumed the next),
``idle_wait`` (seconds of between-cycle waiting to count inbox polls).
"""

from __future__ import annotations

import cProfile
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: Torrent fields whose change means "something happened" (not the ever-ticking counters).
WATCHED = ("state", "progress", "downloaded", "tags", "category", "amount_left")


def rss_kib() -> tuple[int, int]:
    """VmRSS and VmHWM (peak) of this process, KiB."""
    text = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _view(torrents: dict[str, dict[str, Any]]) -> dict[str, int]:
    """A fingerprint of each torrent's watched fields. A hash, not the tuple: the harness
    lives in the measured process, and 10,000 tuples would count in the manager's RSS."""
    return {h: hash(tuple(t.get(k) for k in WATCHED)) for h, t in torrents.items()}


def main(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    from qbitrr_mqtt.clients.arr import ArrClient
    from qbitrr_mqtt.clients.qbit import QbitClient
    from qbitrr_mqtt.config import load_config
    from qbitrr_mqtt.manager.loop import Manager
    from qbitrr_mqtt.manager.main import _mqtt
    from qbitrr_mqtt.memory import keep_heap_small
    from qbitrr_mqtt.metrics import ProcessMetrics
    from qbitrr_mqtt.store.lean import LeanStore

    keep_heap_small()  # as manager/main.py does first
    config = load_config(spec["config"])
    name = spec["instance"]
    instance = config.arr[name]
    store = LeanStore.open(config.database.url)  # what manager/main.py opens
    sql = store.db  # counts its statements and writes
    qcfg = config.client_for(instance)
    qbit = QbitClient(qcfg.url, timeout=qcfg.timeout)
    arr = ArrClient(instance)
    conn, publisher = _mqtt(config, name, store)
    if conn is not None:
        conn.wait_connected(10)
    manager = Manager(config, name, store, qbit, arr, publisher=publisher,
                      metrics=ProcessMetrics(instance.program, name),
                      mqtt_stats=conn.stats if conn is not None else None)  # fmt: skip
    import_seconds = time.perf_counter() - started
    # BENCH_PROFILE=FILE: cProfile (process time) of the cycles after the first two, except
    # the changed ones, saved to FILE (read it with `python -m pstats FILE`).
    profile_to = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile(time.process_time) if profile_to else None
    change_at = spec.get("change_at")
    quiet_skip = set() if change_at is None else {change_at, change_at + 1}
    cycles: list[dict[str, Any]] = []
    before_view: dict[str, int] = {}
    changed_hashes: list[str] = []
    for i in range(int(spec["cycles"])):
        if spec.get("change_at") is not None and i in (spec["change_at"], spec["change_at"] + 1):
            changed_hashes = _toggle(qbit, manager, spec, changed_hashes)
        actions0 = store.last_action_id()
        sent = conn.stats().messages_sent if conn is not None else 0
        q0, a0 = qbit.stats, (arr.stats.requests, arr.stats.bytes_received)
        s0, w0 = sql.statements, sql.writes
        profiled = profiler is not None and i >= 2 and i not in quiet_skip
        if profiled:
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        manager.cycle()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profiled:
            profiler.disable()
        s1, w1 = sql.statements, sql.writes
        if conn is not None:
            time.sleep(0.3)  # let paho hand the messages to the broker before counting
        view = _view(manager._torrents)
        changed = sum(1 for h, v in view.items() if before_view.get(h) != v) + sum(
            1 for h in before_view if h not in view
        )
        before_view = view
        q1 = qbit.stats
        cycles.append(
            {
                "wall_ms": wall * 1000,
                "cpu_ms": cpu * 1000,
                "qbit_requests": q1.requests - q0.requests,
                "qbit_bytes": q1.bytes_received - q0.bytes_received,
                "arr_requests": arr.stats.requests - a0[0],
                "arr_bytes": arr.stats.bytes_received - a0[1],
                "sql_statements": s1 - s0,
                "sql_writes": w1 - w0,
                "mqtt_messages": (conn.stats().messages_sent - sent) if conn is not None else 0,
                "changed_torrents": changed,
                "actions": store.last_action_id() - actions0,
                "torrents": len(view),
            }
        )
        time.sleep(float(spec.get("pause", 1.0)))
    if profiler is not None and profile_to:
        profiler.dump_stats(profile_to)
    rss, hwm = rss_kib()
    idle = _between_cycles(manager, sql, float(spec.get("idle_wait", 5.0)))
    if conn is not None:
        conn.stop()
    store.close()
    return {"cycles": cycles, "rss_kib": rss, "peak_rss_kib": hwm,
            "startup_s": import_seconds, **idle}  # fmt: skip


def _toggle(qbit: Any, manager: Any, spec: dict[str, Any], previous: list[str]) -> list[str]:
    """Pause ``change_count`` seeding torrents (first call) or resume them (second call)."""
    if previous:
        qbit.resume(previous)
        return []
    seeding = sorted(
        h for h, t in manager._torrents.items() if t.get("state") in ("stalledUP", "uploading")
    )
    picked = seeding[: int(spec.get("change_count", 10))]
    qbit.pause(picked)
    time.sleep(1.0)  # qBittorrent applies it asynchronously
    return picked


def _between_cycles(manager: Any, sql: Any, seconds: float) -> dict[str, Any]:
    """SQL statements while the manager waits for its next cycle (its inbox polls)."""
    s0, w0, cpu0 = sql.statements, sql.writes, time.process_time()
    manager._wait_until(time.time() + seconds)
    per_minute = 60.0 / seconds
    return {
        "wait_sql_per_min": (sql.statements - s0) * per_minute,
        "wait_sql_writes_per_min": (sql.writes - w0) * per_minute,
        "wait_cpu_ms_per_min": (time.process_time() - cpu0) * 1000 * per_minute,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
