"""``python -m bench.webui_memory [--rounds R] [--n N]``: the WebUI's RSS across rounds of load.

The WebUI process alone (``qbitrr-mqtt webui``, no supervisord: ``/api/v1/processes``
answers its error) over a store of N tracked torrents, written directly. Its RSS is read
fresh, after one client's first requests (the routes' lazy imports and a first listing),
then per round: after 50 clients paging ``/api/v1/torrents`` and polling
``/api/v1/processes`` (the stack bench's WebUI load), after 100 SSE clients with 50 actions,
and after an idle wait past the caches' idle time (``webui/cache.py``: dropped after
``CACHE_IDLE`` s, looked for every ``SWEEP_EVERY`` s). A WebUI that kept what a round left
would grow by the round; one that gives it back stays flat after the idle wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qbitrr_mqtt.store import Store
from qbitrr_mqtt.webui.cache import CACHE_IDLE, SWEEP_EVERY
from services.runners import free_port

from . import procs
from .configs import InstanceSpec, write_config
from .stack import _latency_all, _sse
from .world import wait_until

BIN = Path(sys.executable).parent
INSTANCES = [("radarr", "radarr", "r"), ("sonarr", "sonarr", "s"), ("lidarr", "lidarr", "l")]


def _fill(store: Store, n: int) -> None:
    """N torrents in the first instance, 100 in each other one."""
    now = datetime.now(UTC)
    for j, (name, _, _) in enumerate(INSTANCES):
        count = n if j == 0 else 100
        rows = [
            {"hash": f"{j}{k:039x}", "name": f"Some.Movie.{k}.2020.1080p.BluRay.x264-GROUP",
             "state": "uploading", "health": "seeding", "progress": 1.0, "size": 2**33 + k,
             "added_on": now, "tracker": "http://tracker.example/announce", "private": False}
            for k in range(count)
        ]  # fmt: skip
        store.upsert_torrents(name, rows)


def _answers(base: str) -> bool:
    """Whether the WebUI answers at ``base`` (any HTTP status)."""
    try:
        urllib.request.urlopen(base + "/api/v1/health", timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def measure(workdir: Path, n: int, rounds: int) -> dict[str, Any]:
    port = free_port()
    instances = [
        InstanceSpec(name, kind, "http://127.0.0.1:9", cat) for name, kind, cat in INSTANCES
    ]
    config = write_config(workdir / "config.yaml", data_dir=workdir / "data",
                          qbit_url="http://127.0.0.1:9", mqtt_port=None, instances=instances,
                          webui_port=port)  # fmt: skip
    store = Store.open(f"sqlite:///{workdir / 'data' / 'qbitrr.db'}")
    _fill(store, n)
    proc = subprocess.Popen([str(BIN / "qbitrr-mqtt"), "webui", "--config", str(config)])
    base = f"http://127.0.0.1:{port}"

    def rss() -> float:
        return round(procs.rss_mb(proc.pid), 1)

    out: dict[str, Any] = {"n": n, "rounds": []}
    try:
        wait_until(lambda: _answers(base), f"the WebUI answering at {base}", 60)
        time.sleep(2)
        out["fresh_mb"] = rss()
        asyncio.run(_latency_all(base, n, 1, 0.5))
        asyncio.run(_sse(base, store, 1, 2, 10.0))
        time.sleep(1)
        out["warm_mb"] = rss()
        for r in range(rounds):
            api = asyncio.run(_latency_all(base, n, 50, 15))
            after_api = rss()
            asyncio.run(_sse(base, store, 100, 50, 10.0))
            after_sse = rss()
            time.sleep(CACHE_IDLE + SWEEP_EVERY + 5)
            row = {"after_api_mb": after_api, "after_sse_mb": after_sse, "idle_mb": rss(),
                   "torrents_p95_ms": api["torrents"]["p95_ms"]}  # fmt: skip
            print(f"round {r + 1}: {row}", flush=True)
            out["rounds"].append(row)
    finally:
        proc.terminate()
        proc.wait(30)
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.webui_memory", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qbitrr-webui-mem-") as tmp:
        result = measure(Path(tmp), args.n, args.rounds)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
