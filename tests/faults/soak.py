"""``make soak``: the whole stack under steady load for a bounded time (default 30 minutes),
with the RSS and open file descriptors of every program sampled; exit 1 when one grows.

Not a pytest module (CI does not run it). The stack is the fault tests' real one: a
qbittorrent-nox, a Mosquitto, a Radarr emulator and ``qbitrr-mqtt run`` (supervisord, a
manager checking every few seconds, the bridge, the WebUI, the events listener). The load:
stalled torrents kept arriving (so the manager strikes, blocklists and the Arr removes all
the time), an MQTT ``run_now`` request and a few WebUI API reads at every sample.

Verdict, per program, on the samples after a warm-up (the first fifth): the median RSS of
the last third may exceed that of the first third by at most ``max(4 MiB, 10 %)``, and the
open fds of the last third may exceed the first third's maximum by at most 3. A program
that restarted during the soak fails it too (a restart hides a leak).

    python tests/faults/soak.py --minutes 30 [--interval 10] [--json soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fault_stack import TOKEN, FaultStack, Feeder, MqttWatch, make_fault_stack  # noqa: E402

from services.arr_emulator import start_arr_emulator  # noqa: E402
from services.runners import start_mosquitto, start_qbittorrent  # noqa: E402

MiB = 1024 * 1024
WARMUP_SHARE = 0.2
RSS_SLACK_BYTES = 4 * MiB
RSS_SLACK_SHARE = 0.10
FD_SLACK = 3


@dataclass
class Series:
    """The samples of one program."""

    pids: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sample(stack: FaultStack, series: dict[str, Series]) -> None:
    """One RSS / fd reading of supervisord and each of its programs."""
    pids = {"supervisord": stack.supervisord_pid(), **stack.children()}
    for name, pid in pids.items():
        s = series.setdefault(name, Series())
        try:
            rss, fds = rss_of(pid), fds_of(pid)
        except FileNotFoundError:
            continue  # exited between the listing and the reading: the pid check tells
        s.pids.append(pid)
        s.rss.append(rss)
        s.fds.append(fds)


def load(stack: FaultStack, watch: MqttWatch) -> None:
    """One round of outside load: an MQTT request and WebUI API reads."""
    watch.client.publish(
        f"{stack.base}/bridge/request/run_now",
        json.dumps({"instance": "radarr", "transaction": uuid.uuid4().hex}),
    )
    for route in ("processes", "instances", "torrents?limit=50", "actions?limit=50"):
        req = urllib.request.Request(
            f"http://127.0.0.1:{stack.webui_port}/api/v1/{route}",
            headers={"X-API-Token": TOKEN},
        )
        with urllib.request.urlopen(req, timeout=30) as answer:
            answer.read()


def thirds(values: list[int]) -> tuple[list[int], list[int]]:
    """The first and last third of the samples after the warm-up."""
    settled = values[int(len(values) * WARMUP_SHARE) :]
    n = max(1, len(settled) // 3)
    return settled[:n], settled[-n:]


def verdict(name: str, s: Series) -> dict[str, Any]:
    """Growth figures of one program and whether they pass."""
    rss_a, rss_c = thirds(s.rss)
    fd_a, fd_c = thirds(s.fds)
    rss_first, rss_last = statistics.median(rss_a), statistics.median(rss_c)
    rss_limit = rss_first + max(RSS_SLACK_BYTES, RSS_SLACK_SHARE * rss_first)
    fd_limit = max(fd_a) + FD_SLACK
    problems = []
    if len(set(s.pids)) > 1:
        problems.append(f"restarted (pids {sorted(set(s.pids))})")
    if rss_last > rss_limit:
        problems.append(f"RSS grew {rss_first / MiB:.1f} -> {rss_last / MiB:.1f} MiB")
    if max(fd_c) > fd_limit:
        problems.append(f"open fds grew {max(fd_a)} -> {max(fd_c)}")
    return {
        "program": name,
        "samples": len(s.rss),
        "rss_start_mib": round(s.rss[0] / MiB, 1),
        "rss_first_third_mib": round(rss_first / MiB, 1),
        "rss_last_third_mib": round(rss_last / MiB, 1),
        "rss_max_mib": round(max(s.rss) / MiB, 1),
        "fds_first_third_max": max(fd_a),
        "fds_last_third_max": max(fd_c),
        "problems": problems,
    }


def soak(minutes: float, interval: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the stack under load for ``minutes``; the per-program verdicts and run facts."""
    root = Path(tempfile.mkdtemp(prefix="qbsoak-", dir="/tmp"))
    try:
        return _soak(root, minutes, interval)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _soak(
    root: Path, minutes: float, interval: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    category = f"soak-{uuid.uuid4().hex[:6]}"
    series: dict[str, Series] = {}
    with (
        start_qbittorrent(root / "qbit") as qbit,
        start_mosquitto(root / "mosquitto") as broker,
        start_arr_emulator(
            root, "radarr", api_key="k" * 32, qbit_url=qbit.url, category=category
        ) as arr,
        make_fault_stack(qbit=qbit, broker=broker, check_interval=5) as stack,
    ):
        inst = stack.add_instance("radarr", arr, category, stalled_strikes=2)
        feeder = Feeder(stack, inst, 3)
        stack.start()
        feeder.start()
        watch = MqttWatch(broker, [f"{stack.base}/#"])
        deadline = time.monotonic() + minutes * 60
        try:
            while time.monotonic() < deadline:
                load(stack, watch)
                sample(stack, series)
                time.sleep(interval)
        finally:
            added = feeder.stop()
            watch.close()
        _, total = stack.store().list_actions(instance="radarr", limit=1)
        facts = {
            "minutes": minutes,
            "interval_s": interval,
            "torrents_fed": len(added),
            "journal_rows": total,
            "arr_removals": len(arr.state()["removals"]),
            "mqtt_messages_seen": len(watch.seen),
        }
    return [verdict(name, s) for name, s in sorted(series.items())], facts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0:
        parser.error("--minutes and --interval must be positive")
    rows, facts = soak(args.minutes, args.interval)
    print(json.dumps(facts))
    head = f"{'program':16} {'samples':>7} {'RSS start':>9} {'RSS 1st/3':>9} {'RSS last/3':>10} {'RSS max':>8} {'fds 1st/3':>9} {'fds last/3':>10}  verdict"
    print(head)
    for r in rows:
        print(
            f"{r['program']:16} {r['samples']:>7} {r['rss_start_mib']:>9} "
            f"{r['rss_first_third_mib']:>9} {r['rss_last_third_mib']:>10} {r['rss_max_mib']:>8} "
            f"{r['fds_first_third_max']:>9} {r['fds_last_third_max']:>10}  "
            f"{'; '.join(r['problems']) or 'ok'}"
        )
    if args.json:
        args.json.write_text(json.dumps({"facts": facts, "programs": rows}, indent=2))
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
