"""Scenarios 2-4 on the whole stack: ``qbitrr-mqtt run`` (supervisord, 4 managers, bridge,
WebUI) against the loaded qbittorrent-nox, four Arr emulators and Mosquitto.

- stack: RSS of every process of the tree, CPU per minute while idle;
- reaction: MQTT ``run_now`` / ``search`` request → response, HTTP restart → new pid,
  stall threshold → the Arr's blocklist call, download complete → import command;
- webui: latency percentiles of ``/api/v1/torrents?limit=100`` and ``/api/v1/processes`` under
  50 concurrent clients, and 100 SSE clients while actions stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import free_port

from . import procs
from .configs import API_KEY, TOKEN, InstanceSpec, write_config
from .stats import percentile
from .world import World, wait_until

log = logging.getLogger("bench")
BIN = Path(sys.executable).parent
HEADERS = {"X-API-Token": TOKEN}
#: Policy of the instance whose stalled torrent must go at the first look.
STRICT = {"stalled_strikes": 1, "stalled_delay": 0, "ignore_younger_than": 0}
INSTANCES = [  # name, kind, category, policy
    ("radarr", "radarr", "radarr-bench", {}),
    ("sonarr", "sonarr", "sonarr-bench", STRICT),
    ("lidarr", "lidarr", "lidarr-bench", {}),
    ("radarr-4k", "radarr", "radarr4k-bench", {}),
]


class Stack:
    """The whole stack as a user runs it; ``stop()`` sends SIGTERM and waits."""

    def __init__(
        self, world: World, workdir: Path, check_interval: int, radarr: EmulatorProcess
    ) -> None:
        """Start the other emulators and the stack; wait until it runs. ``radarr`` is the
        steady scenario's emulator of the loaded category (finished torrents imported)."""
        self.world = world
        self.workdir = workdir
        self.check_interval = check_interval
        self.arrs: dict[str, EmulatorProcess] = {}
        self.owned: list[EmulatorProcess] = []
        specs = []
        for name, kind, category, policy in INSTANCES:
            if name == "radarr":
                arr = radarr
            else:
                arr = start_arr_emulator(workdir / "arr" / name, kind, api_key=API_KEY,
                                         qbit_url=world.qbit.url, category=category,
                                         command_step=0.02)  # fmt: skip
                self.owned.append(arr)
            self.arrs[name] = arr
            specs.append(InstanceSpec(name, kind, arr.url, category, policy))
        self.port = free_port()
        self.data = workdir / "stack"
        self.config = write_config(self.data / "config.yaml", data_dir=self.data,
                                   qbit_url=world.qbit.url, mqtt_port=world.mqtt.port,
                                   instances=specs, check_interval=check_interval,
                                   webui_port=self.port)  # fmt: skip
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (self.data / "run.log").open("wb")
        self.proc = subprocess.Popen([str(BIN / "qbitrr-mqtt"), "run", "-c", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        try:
            wait_until(self._all_running, "every program RUNNING", 120)
        except BaseException:
            self.stop()
            raise

    def api(self, path: str, method: str = "GET", timeout: float = 30) -> Any:
        import urllib.request

        req = urllib.request.Request(self.base + path, method=method, headers=HEADERS)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def processes(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.api("/api/v1/processes")["processes"]}

    def _all_running(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"qbitrr-mqtt run exited {self.proc.returncode}; see {self.log.name}"
            )
        try:
            procs_ = self.processes()
        except OSError:
            return False
        return len(procs_) >= len(INSTANCES) + 2 and all(
            str(p["status"]).upper() == "RUNNING" for p in procs_.values()
        )

    def wait_cycled(self, name: str, timeout: float = 900) -> None:
        """Until the manager ``name`` has finished a cycle (its state has a last cycle)."""

        def done() -> bool:
            rows = self.api("/api/v1/instances")
            items = rows.get("instances", rows) if isinstance(rows, dict) else rows
            return any(i.get("name") == name and i.get("last_cycle_at") for i in items)

        wait_until(done, f"a first cycle of {name}", timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        for arr in self.owned:
            arr.stop()

    # --- scenario 3 -------------------------------------------------------------------

    def footprint(self, window: float) -> dict[str, Any]:
        """The tree's CPU over ``window`` idle seconds (per minute) and its RSS at the end
        of them: the stack as it sits idle. The RSS at their start is reported too; from the
        second repeat on it is the stack just after the previous repeat's API and SSE load
        (the WebUI drops what that load left in ~30 s, ``webui/cache.py``)."""
        at_start = sum(procs.tree_rss(self.proc.pid).values())
        before = procs.tree_cpu(self.proc.pid)
        time.sleep(window)
        after = procs.tree_cpu(self.proc.pid)
        used = sum(after[p] - before.get(p, 0.0) for p in after)
        rss = procs.tree_rss(self.proc.pid)
        pss = procs.tree_pss(self.proc.pid)
        return {"rss_total_mb": sum(rss.values()), "rss_by_process_mb": rss,
                "rss_start_mb": at_start,
                "pss_total_mb": sum(pss.values()), "pss_by_process_mb": pss,
                "idle_cpu_s_per_min": used * 60 / window, "window_s": window}  # fmt: skip

    # --- scenario 2 -------------------------------------------------------------------

    def mqtt_round_trips(self, count: int) -> dict[str, Any]:
        """``run_now`` and ``search`` over MQTT: seconds from request to response."""
        import paho.mqtt.client as mqtt

        got: dict[str, float] = {}
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}"
        )

        def on_message(_c: Any, _u: Any, m: Any) -> None:
            got.setdefault(
                str(json.loads(m.payload or b"{}").get("transaction")), time.perf_counter()
            )

        client.on_message = on_message
        client.connect("127.0.0.1", self.world.mqtt.port)
        client.subscribe("bench/bridge/response/#", qos=1)
        client.loop_start()
        time.sleep(1.0)
        out: dict[str, Any] = {}
        try:
            for command, extra in (("run_now", {}), ("search", {"missing": True})):
                times = []
                for _ in range(count):
                    tx = uuid.uuid4().hex
                    sent = time.perf_counter()
                    client.publish(
                        f"bench/bridge/request/{command}",
                        json.dumps({"instance": "radarr-4k", "transaction": tx, **extra}),
                        qos=1,
                    )
                    wait_until(lambda tx=tx: tx in got, f"{command} response", 30)  # type: ignore[misc]
                    times.append(got[tx] - sent)
                    time.sleep(0.2)
                out[command] = {"p50_s": percentile(times, 50), "p95_s": percentile(times, 95),
                                "max_s": max(times), "count": len(times)}  # fmt: skip
        finally:
            client.loop_stop()
            client.disconnect()
        return out

    def restart_to_new_pid(self, count: int) -> dict[str, Any]:
        """POST restart → a new pid in ``/api/v1/processes`` (any state), and → the POST's
        answer (it comes once supervisord counts the program started: ``startsecs``)."""
        import threading

        program = "manager-radarr-4k"
        seen, answered = [], []
        for _ in range(count):
            old = self.processes()[program]["pid"]
            sent = time.perf_counter()
            done: list[float] = []

            def restart(done: list[float] = done) -> None:
                self.api("/api/v1/instances/radarr-4k/restart", "POST", timeout=120)
                done.append(time.perf_counter())

            post = threading.Thread(target=restart)
            post.start()

            def new_pid(old: int = old) -> bool:
                return self.processes()[program]["pid"] not in (None, old)

            wait_until(new_pid, "a new pid", 60)
            seen.append(time.perf_counter() - sent)
            post.join(120)
            answered.append((done[0] if done else time.perf_counter()) - sent)
            time.sleep(1.0)
        return {"p50_s": percentile(seen, 50), "p95_s": percentile(seen, 95), "max_s": max(seen),
                "answer_p50_s": percentile(answered, 50), "count": len(seen)}  # fmt: skip

    def stall_to_blocklist(self, samples: int = 5) -> dict[str, Any]:
        """Torrents stall in the strict instance's category → the Arr's DELETE (blocklist).

        The threshold passes when qBittorrent first reports stalledDL (strikes 1, delay 0);
        the time to the call is the wait for the next cycle (anywhere in one interval) plus
        that cycle's time until the call. One sample would mostly measure where in the cycle
        the torrent happened to stall, so ``samples`` torrents stall one after the other,
        each added a different share of the interval after the previous call (the phases
        spread over the cycle); the figures are their median and maximum."""
        arr = self.arrs["sonarr"]
        seconds = []
        for k in range(samples):
            before = len(self._blocklists(arr))
            made = self.world.add_stalled("sonarr-bench")
            wait_until(lambda: self.world.state_of(made.hash) == "stalledDL", "stalledDL", 60)  # noqa: B023
            stalled_at = time.perf_counter()
            wait_until(lambda: len(self._blocklists(arr)) > before, "the blocklist call",  # noqa: B023
                       self.check_interval * 3 + 60)  # fmt: skip
            seconds.append(time.perf_counter() - stalled_at)
            if k + 1 < samples:  # the next one stalls at another point of the cycle
                time.sleep(self.check_interval * (k + 1) / samples)
        middle, worst = statistics.median(seconds), max(seconds)
        return {"seconds": middle, "max_s": worst, "samples": samples,
                "each_s": seconds, "check_interval_s": self.check_interval,
                "intervals": middle / self.check_interval,
                "intervals_max": worst / self.check_interval}  # fmt: skip

    @staticmethod
    def _blocklists(arr: EmulatorProcess) -> list[dict[str, Any]]:
        return [c for c in arr.calls(method="DELETE")
                if "/queue/" in c["path"] and c.get("query", {}).get("blocklist") == "true"]  # fmt: skip

    @staticmethod
    def _imports(arr: EmulatorProcess) -> list[dict[str, Any]]:
        return [c for c in arr.calls(method="POST")
                if (c.get("json") or {}).get("name") == "DownloadedAlbumsScan"]  # fmt: skip

    def complete_to_import(self) -> dict[str, Any]:
        """A download finishes → the Arr receives the import command (seconds)."""
        arr = self.arrs["lidarr"]
        before = len(self._imports(arr))
        made = self.world.add_download("lidarr-bench", 2 * 1024 * 1024, ext=".flac")
        arr.link(made.hash, arr.generate(1))

        def complete() -> bool:
            rows = self.world.client.torrents_info(torrent_hashes=made.hash)
            return bool(rows) and rows[0]["progress"] == 1

        wait_until(complete, "download complete", 300)
        done_at = time.perf_counter()

        def imported() -> bool:
            return len(self._imports(arr)) > before

        wait_until(imported, "the import command", self.check_interval * 3 + 60)
        seconds = time.perf_counter() - done_at
        return {"seconds": seconds, "check_interval_s": self.check_interval,
                "intervals": seconds / self.check_interval}  # fmt: skip

    # --- scenario 4 -------------------------------------------------------------------

    def api_latency(self, n: int, clients: int, seconds: float) -> dict[str, Any]:
        return asyncio.run(_latency_all(self.base, n, clients, seconds))

    def sse(self, clients: int, actions: int, rate: float) -> dict[str, Any]:
        from qbitrr_mqtt.store import Store

        store = Store.open(f"sqlite:///{self.data / 'qbitrr.db'}")
        try:
            return asyncio.run(_sse(self.base, store, clients, actions, rate))
        finally:
            store.close()


async def _latency(
    base: str, path_of: Any, clients: int, seconds: float, every: float | None = None
) -> dict[str, Any]:
    """``clients`` concurrent clients for ``seconds``: back to back (``every`` None: the
    saturated server, latency = clients / throughput) or each once per ``every`` seconds
    from a random phase (a page of dashboards polling)."""
    times: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(headers=HEADERS,
                                     connector=aiohttp.TCPConnector(limit=clients)) as session:  # fmt: skip

        async def worker() -> None:
            nonlocal errors
            if every:
                await asyncio.sleep(random.uniform(0, every))
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with session.get(base + path_of()) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                times.append(time.perf_counter() - start)
                if every:
                    await asyncio.sleep(max(0.0, every - (time.perf_counter() - start)))

        await asyncio.gather(*(worker() for _ in range(clients)))
    ms = [t * 1000 for t in times]
    return {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99),
            "requests": len(ms), "rps": len(ms) / seconds, "errors": errors, "clients": clients}  # fmt: skip


async def _latency_all(base: str, n: int, clients: int, seconds: float) -> dict[str, Any]:
    def page() -> str:
        return f"/api/v1/torrents?limit=100&offset={random.randrange(0, max(1, n - 100))}"

    def processes() -> str:
        return "/api/v1/processes"

    return {
        "torrents": await _latency(base, page, clients, seconds),
        "processes": await _latency(base, processes, clients, seconds),
        "torrents_paced": await _latency(base, page, clients, seconds, every=1.0),
        "processes_paced": await _latency(base, processes, clients, seconds, every=1.0),
    }


async def _sse(base: str, store: Any, clients: int, actions: int, rate: float) -> dict[str, Any]:
    """``clients`` streams open; ``actions`` actions journalled at ``rate``/s; per action and
    client the delay from journalling to receipt."""
    received: list[dict[int, float]] = [{} for _ in range(clients)]
    hello = asyncio.Event()
    ready = [0]

    async def listen(i: int, session: aiohttp.ClientSession) -> None:
        async with session.get(base + "/api/v1/events") as r:
            event = None
            async for raw in r.content:
                line = raw.decode().strip()
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "hello":
                    ready[0] += 1
                    if ready[0] == clients:
                        hello.set()
                elif line.startswith("data:") and event == "action":
                    item = json.loads(line[5:])
                    received[i].setdefault(int(item["id"]), time.perf_counter())

    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(headers=HEADERS, timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=clients + 5)) as session:  # fmt: skip
        tasks = [asyncio.create_task(listen(i, session)) for i in range(clients)]
        await asyncio.wait_for(hello.wait(), 60)
        sent: dict[int, float] = {}
        for k in range(actions):
            row = await asyncio.to_thread(store.record_intent, "radarr", None, f"bench {k}",
                                          "bench", "benchmark action stream")  # fmt: skip
            sent[row.id] = time.perf_counter()
            await asyncio.to_thread(store.mark_done, row.id)
            await asyncio.sleep(1 / rate)
        deadline = time.perf_counter() + 15
        while time.perf_counter() < deadline and not all(len(r) >= actions for r in received):
            await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    delays = [(r[i] - at) * 1000 for r in received for i, at in sent.items() if i in r]
    return {"clients": clients, "actions": actions, "rate_per_s": rate,
            "delivered": len(delays) / (clients * actions),
            "p50_ms": percentile(delays, 50), "p95_ms": percentile(delays, 95),
            "max_ms": max(delays) if delays else None}  # fmt: skip
