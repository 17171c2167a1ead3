"""``python -m bench [scenario] [--n N ...] [--repeat R] [--smoke]``.

Scenarios: ``all`` (default), ``steady`` (1 and 5: steady state at each N, growth), ``stack``
(2-4: reaction, the whole stack, the WebUI, at the largest N). ``--smoke`` is the CI version:
N = 200, 1 repeat, short windows, results in ``<date>-smoke.json`` and the doc left alone.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report
from .stack import Stack
from .stats import summary
from .steady import Steady, growth
from .world import World

log = logging.getLogger("bench")
DEFAULT_NS = [1000, 5000, 10000]


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="all", choices=["all", "steady", "stack"])
    ap.add_argument("--n", type=int, nargs="+", help="torrent counts (default 1000 5000 10000)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats per figure (default 3)")
    ap.add_argument("--smoke", action="store_true", help="CI version: N=200, 1 repeat, short")
    ap.add_argument("--out", type=Path, default=report.RESULTS, help="results directory")
    ap.add_argument("--no-doc", action="store_true", help="leave docs/BENCHMARKS.md alone")
    ap.add_argument("--check-interval", type=int, default=10, help="stack managers' interval (s)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.repeat, args.no_doc = args.n or [200], 1, True
    args.n = sorted(args.n or DEFAULT_NS)
    if any(n < 20 for n in args.n) or args.repeat < 1:
        ap.error("--n must be at least 20 and --repeat at least 1")
    return args


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict) and k not in ("rss_by_process_mb", "pss_by_process_mb"):
            out.update(flatten(v, f"{prefix}{k}."))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def run_stack(steady: Steady, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Scenarios 2-4 on one stack; each figure measured ``args.repeat`` times."""
    if steady.world.loaded.get("radarr-bench") is None or steady.arr is None:
        steady.prepare(n)
    stack = Stack(steady.world, steady.workdir, args.check_interval, steady.emulator())
    runs = []
    try:
        stack.wait_cycled("radarr")
        time.sleep(3 if args.smoke else 15)  # let the first cycles' bursts settle
        for r in range(args.repeat):
            run: dict[str, Any] = {}
            run.update(stack.footprint(10 if args.smoke else 60))
            run["mqtt"] = stack.mqtt_round_trips(3 if args.smoke else 10)
            run["restart"] = stack.restart_to_new_pid(1 if args.smoke else 3)
            run["stall"] = stack.stall_to_blocklist(3 if args.smoke else 5)
            run["import"] = stack.complete_to_import()
            run["api"] = stack.api_latency(n, 50, 3 if args.smoke else 15)
            run["sse"] = stack.sse(100, 10 if args.smoke else 50, 10.0)
            runs.append(run)
            log.info("stack repeat %d: %s", r + 1, {k: v for k, v in flatten(run).items()})
    finally:
        stack.stop()
    flat = [flatten(r) for r in runs]
    keys = sorted({k for f in flat for k in f})
    return {"n": n, "check_interval": args.check_interval, "runs": runs,
            "summary": {k: summary(f.get(k) for f in flat) for k in keys}}  # fmt: skip


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each budget of the issue against the median measured at the largest N."""
    out = []

    def add(text: str, value: float | None, limit: float, below: bool = True) -> None:
        ok = None if value is None else (value <= limit if below else value >= limit)
        out.append({"budget": text, "measured": value, "limit": limit, "ok": ok})

    steady = results.get("steady") or []
    if steady:
        big = max(steady, key=lambda s: s["n"])
        n, s = big["n"], big["summary"]

        def med(key: str) -> float | None:
            return s.get(key, {}).get("median")

        add(f"idle cycle at N={n:,}: qBittorrent requests ≤ 1", med("idle.qbit_requests"), 1)
        add(f"idle cycle at N={n:,}: MQTT messages = 0", med("idle.mqtt_messages"), 0)
        add(f"idle cycle at N={n:,}: SQL writes = 0", med("idle.sql_writes"), 0)
        add(f"idle cycle at N={n:,}: CPU < 50 ms", med("idle.cpu_ms"), 50)
        add(f"change cycle at N={n:,}: CPU < 300 ms", med("change.cpu_ms"), 300)
        add(f"manager RSS at N={n:,} < 80 MB", med("rss_mb"), 80)
    st = results.get("stack")
    if st:
        s = st["summary"]

        def smed(key: str) -> float | None:
            return s.get(key, {}).get("median")

        add("whole stack, 4 instances: RSS < 400 MB", smed("rss_total_mb"), 400)
        add("MQTT run_now request → response p95 < 1 s", smed("mqtt.run_now.p95_s"), 1)
        add("MQTT search request → response p95 < 1 s", smed("mqtt.search.p95_s"), 1)
        add("HTTP restart → new pid < 3 s", smed("restart.p95_s"), 3)
        add("stall threshold → blocklist within one check interval (median of the samples)",
            smed("stall.intervals"), 1)  # fmt: skip
        out[-1]["max"] = s.get("stall.intervals_max", {}).get("max")  # the worst sample
        add("/api/v1/torrents?limit=100 p95 < 50 ms, 50 clients polling once a second",
            smed("api.torrents_paced.p95_ms"), 50)  # fmt: skip
        add("/api/v1/torrents?limit=100 p95 < 50 ms, 50 clients back to back",
            smed("api.torrents.p95_ms"), 50)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    workdir = Path(tempfile.mkdtemp(prefix="qbitrr-bench-"))
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": report.machine(), "versions": report.versions(),
        "params": {"ns": args.n, "repeats": args.repeat, "smoke": args.smoke,
                   "scenario": args.scenario, "check_interval": args.check_interval},
        "notes": [],
    }  # fmt: skip
    world = World(workdir)
    steady = Steady(world, workdir)
    try:
        if args.scenario in ("all", "steady"):
            results["steady"] = [steady.run(n, args.repeat) for n in args.n]
            results["growth"] = growth(results["steady"])
        if args.scenario in ("all", "stack"):
            results["stack"] = run_stack(steady, max(args.n), args)
    finally:
        steady.stop()
        world.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["budgets"] = budgets(results)
    path = report.write_results(results, args.out)
    print(f"results: {path}")
    if not args.no_doc:
        report.update_doc(results)
        print(f"table: {report.DOC}")
    for b in results["budgets"]:
        print(
            f"{'ok ' if b['ok'] else 'MISS' if b['ok'] is False else '?  '} {b['budget']}: {b['measured']}"
            + (f" (max {b['max']})" if b.get("max") is not None else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
