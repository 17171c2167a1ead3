"""Scenario 1 (steady state, one instance) and 5 (growth from the smallest to the largest N).

Per N: top qBittorrent's category up to N torrents, warm the world up once (a first manager
sends the import of every finished download, the Arr takes them off its queue: the state a
long-running setup is in), then per repeat a manager with a fresh store runs 1 cold cycle and
20 more in its own process (``bench.probe``). Cycle kinds: ``cold`` (the first: everything is
new), ``idle`` (no torrent changed, nothing done), ``change`` (some torrents changed: the
harness pauses 10 seeding torrents before cycle 10 and resumes them before cycle 11).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from services.arr_emulator import EmulatorProcess, start_arr_emulator

from .configs import API_KEY, InstanceSpec, write_config
from .stats import median, summary
from .world import Loaded, World

log = logging.getLogger("bench")
REPO = Path(__file__).resolve().parent.parent
CATEGORY = "radarr-bench"
INSTANCE = "radarr"
CYCLES = 21
CHANGE_AT = 10
#: Per-cycle figures summarised for each cycle kind.
CYCLE_FIGURES = ("wall_ms", "cpu_ms", "qbit_requests", "qbit_bytes", "arr_requests",
                 "arr_bytes", "sql_statements", "sql_writes", "mqtt_messages")  # fmt: skip


def run_probe(spec: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    """Run ``bench.probe`` in a fresh interpreter; its JSON result."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.probe", json.dumps(spec)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"probe failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class Steady:
    """Runs the steady-state scenario for a list of N on one World."""

    def __init__(self, world: World, workdir: Path) -> None:
        self.world = world
        self.workdir = workdir
        self.arr: EmulatorProcess | None = None
        self.linked: set[str] = set()

    def emulator(self) -> EmulatorProcess:
        if self.arr is None:
            self.arr = start_arr_emulator(
                self.workdir / "arr", "radarr", api_key=API_KEY, qbit_url=self.world.qbit.url,
                category=CATEGORY, command_step=0.02,
            )  # fmt: skip
        return self.arr

    def stop(self) -> None:
        if self.arr is not None:
            self.arr.stop()

    def config(self, tag: str) -> Path:
        data = self.workdir / "steady" / tag
        return write_config(
            data / "config.yaml", data_dir=data, qbit_url=self.world.qbit.url,
            mqtt_port=self.world.mqtt.port,
            instances=[InstanceSpec(INSTANCE, "radarr", self.emulator().url, CATEGORY)],
        )  # fmt: skip

    def link_seeding(self, hashes: list[str]) -> None:
        """Give every finished torrent a library item, so the Arr imports it and drops it
        from its queue (as the real apps do: the queue holds what is not imported yet)."""
        new = [h for h in hashes if h not in self.linked]
        if not new:
            return
        arr = self.emulator()
        for h, media_id in zip(new, arr.generate(len(new)), strict=True):
            arr.link(h, [media_id])
        self.linked.update(new)

    def prepare(self, n: int) -> tuple[Loaded, dict[str, Any]]:
        """Load N torrents, give the finished ones library items, and let a first manager
        import them (the Arr then drops them from its queue); the warm-up probe's result."""
        loaded = self.world.load(CATEGORY, n)
        self.link_seeding(loaded.seeding)
        warm = run_probe({"config": str(self.config(f"warm-{n}")), "instance": INSTANCE,
                          "cycles": 4, "pause": 2.0, "idle_wait": 1.0})  # fmt: skip
        log.info("N=%d warm-up: %s actions", n, [c["actions"] for c in warm["cycles"]])
        return loaded, warm

    def run(self, n: int, repeats: int) -> dict[str, Any]:
        loaded, warm = self.prepare(n)
        runs = []
        for r in range(repeats):
            spec = {"config": str(self.config(f"n{n}-r{r}")), "instance": INSTANCE,
                    "cycles": CYCLES, "pause": 1.0, "change_at": CHANGE_AT, "change_count": 10,
                    "idle_wait": 10.0}  # fmt: skip
            try:
                result = run_probe(spec)
            except RuntimeError as exc:  # one lost repeat does not lose the whole run
                log.error("N=%d repeat %d failed: %s", n, r + 1, exc)
                continue
            runs.append(per_run(result))
            log.info("N=%d repeat %d: %s", n, r + 1, json.dumps(runs[-1]))
        if not runs:
            raise RuntimeError(f"every repeat at N={n} failed")
        return {
            "n": n,
            "mix": {"seeding": len(loaded.seeding), "stalled": len(loaded.stalled),
                    "missing_files": len(loaded.missing), "downloading": len(loaded.downloading)},
            "queue_after_warmup": warm["cycles"][-1]["torrents"],
            "runs": runs,
            "summary": {k: summary(run.get(k) for run in runs) for k in runs[0]},
        }  # fmt: skip


def per_run(result: dict[str, Any]) -> dict[str, float | None]:
    """One repeat's figures: medians per cycle kind, RSS, between-cycle polling."""
    cycles = result["cycles"]
    kinds: dict[str, list[dict[str, Any]]] = {"cold": cycles[:1], "idle": [], "change": []}
    for c in cycles[1:]:
        kinds["idle" if c["changed_torrents"] == 0 and c["actions"] == 0 else "change"].append(c)
    out: dict[str, float | None] = {}
    for kind, items in kinds.items():
        for fig in CYCLE_FIGURES:
            values = [c[fig] for c in items]
            worst = kind == "change" and fig == "cpu_ms"  # the budget is for any such cycle
            out[f"{kind}.{fig}"] = (max(values) if values else None) if worst else median(values)
        out[f"{kind}.cycles"] = len(items)
    out["rss_mb"] = result["rss_kib"] / 1024
    out["peak_rss_mb"] = result["peak_rss_kib"] / 1024
    out["wait_sql_per_min"] = result["wait_sql_per_min"]
    out["wait_sql_writes_per_min"] = result["wait_sql_writes_per_min"]
    out["wait_cpu_ms_per_min"] = result["wait_cpu_ms_per_min"]
    return out


def growth(steady: list[dict[str, Any]]) -> dict[str, Any]:
    """Scenario 5: how cycle CPU and RSS grow from the smallest to the largest N."""
    if len(steady) < 2:
        return {}
    rows = sorted(steady, key=lambda s: s["n"])
    first, last = rows[0], rows[-1]

    def med(s: dict[str, Any], key: str) -> float | None:
        return s["summary"].get(key, {}).get("median")

    out: dict[str, Any] = {"from_n": first["n"], "to_n": last["n"],
                           "n_ratio": last["n"] / first["n"], "points": []}  # fmt: skip
    for s in rows:
        out["points"].append({"n": s["n"], **{k: med(s, k) for k in
                              ("cold.cpu_ms", "idle.cpu_ms", "change.cpu_ms", "rss_mb")}})  # fmt: skip
    for key in ("cold.cpu_ms", "idle.cpu_ms", "rss_mb"):
        a, b = med(first, key), med(last, key)
        out[f"{key}.ratio"] = (b / a) if a and b is not None else None
    a, b = med(first, "rss_mb"), med(last, "rss_mb")
    if a is not None and b is not None:
        out["rss_mb_per_1k_torrents"] = (b - a) / ((last["n"] - first["n"]) / 1000)
    return out
