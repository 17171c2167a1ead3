"""The real stack the fault tests break (not a test module itself).

``FaultStack`` writes a config pointing at real services (a Mosquitto, a qbittorrent-nox and
one Arr emulator per instance, each linked to its qBittorrent category), then runs
``python -m qbitrr_mqtt run -c config.yaml`` exactly as a user would: supervisord with one
``manager-<name>`` program per instance, the bridge, the WebUI and the events listener.
Nothing is a stand-in. The test then breaks one piece and watches the logs, the store,
MQTT (``MqttWatch``) and the emulator's call log.

The data directory lives under a short ``/tmp`` path because the supervisord socket path is
limited to ~107 bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from qbitrr_mqtt.store import Store
from qbitrr_mqtt.supervisor.rpc import ProcessInfo, SupervisorClient, SupervisorError
from qbitrr_mqtt.supervisor.run import paths
from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle, free_port
from services.torrents import (
    Added,
    add_stalled,
    api,
    make_payload,
    make_torrent,
    wait_state,
)

KEY = "fault-api-key-0123456789abcdef"
TOKEN = "fault-webui-token-0123456789abcdef"
KiB = 1024

#: A policy that acts quickly: one stalled torrent is struck every cycle from the first one.
FAST_POLICY: dict[str, Any] = {
    "stalled_strikes": 2,
    "stalled_delay": 0,
    "ignore_younger_than": 0,
    "metadata_timeout": 60,
    "import_grace": 0,
    "validate_media": False,
    "max_removals_per_cycle": 50,
    "maximum_deletable_percentage": 1.0,
    # qbittorrent-nox on loopback always reports "firewalled" (no incoming connections).
    "fail_closed_firewalled": False,
}


def wait_for[T](check: Callable[[], T], what: str, timeout: float = 90.0) -> T:
    """Poll ``check`` until it returns something truthy (a generous deadline: CI is slow)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (SupervisorError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@dataclass
class Instance:
    """One configured Arr instance and its emulator."""

    name: str
    arr: EmulatorProcess
    category: str
    policy: dict[str, Any] = field(default_factory=dict)
    supervisor: dict[str, Any] = field(default_factory=dict)
    timeout: float = 5

    @property
    def program(self) -> str:
        return f"manager-{self.name}"


class FaultStack:
    """A config file, the real services it points at, and (once started) ``qbitrr-mqtt run``."""

    def __init__(
        self,
        root: Path,
        *,
        qbit: QbitHandle,
        broker: MosquittoHandle | None,
        database_url: str | None = None,
        check_interval: int = 2,
        log_level: str = "INFO",
        base: str | None = None,
    ) -> None:
        self.root = root
        self.qbit = qbit
        self.broker = broker
        self.data_dir = root / "data"
        self.config_path = root / "config.yaml"
        self.base = base or f"f{uuid.uuid4().hex[:8]}"
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'qbitrr.db'}"
        self.settings: dict[str, Any] = {
            "check_interval": check_interval,
            "data_dir": str(self.data_dir),
            "log_level": log_level,
            "restart_delay": 0,
            "max_restarts": 10_000,
            "restart_window": 60,
            "policy": dict(FAST_POLICY),
        }
        self.instances: dict[str, Instance] = {}
        self.webui_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._store: Store | None = None
        self.where = paths(self.data_dir)

    # --- configuration ------------------------------------------------------------------

    def add_instance(
        self, name: str, arr: EmulatorProcess, category: str, timeout: float = 5, **policy: Any
    ) -> Instance:
        """One Arr instance (``policy`` overrides FAST_POLICY; ``timeout`` of its API calls)."""
        inst = Instance(name, arr, category, policy=policy, timeout=timeout)
        self.instances[name] = inst
        return inst

    def mqtt_section(self) -> dict[str, Any]:
        if self.broker is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "host": self.broker.host,
            "port": self.broker.port,
            "base_topic": self.base,
            "client_id": self.base,
            "discovery_prefix": f"{self.base}-ha",
            "keepalive": 5,
        }

    def document(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "qbittorrent": {"default": {"url": self.qbit.url, "timeout": 5}},
            "mqtt": self.mqtt_section(),
            "webui": {"host": "127.0.0.1", "port": self.webui_port, "token": TOKEN},
            "database": {"url": self.database_url},
            "arr": {
                i.name: {
                    "type": i.arr.kind,
                    "url": i.arr.url,
                    "api_key": i.arr.api_key,
                    "category": i.category,
                    "timeout": i.timeout,
                    "policy": i.policy,
                    "supervisor": {
                        "startsecs": 1,
                        "startretries": 100,
                        "stopwaitsecs": 10,
                        **i.supervisor,
                    },
                }
                for i in self.instances.values()
            },
        }

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.document()), encoding="utf-8")
        os.replace(tmp, self.config_path)

    # --- running ------------------------------------------------------------------------

    def start(self, env: dict[str, str] | None = None) -> None:
        """``qbitrr-mqtt run -c config.yaml`` in its own session; waits for every manager."""
        self.write_config()
        out = (self.root / "run.out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qbitrr_mqtt", "run", "-c", str(self.config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        out.close()
        for inst in self.instances.values():
            self.wait_running(inst.program)

    @property
    def client(self) -> SupervisorClient:
        return SupervisorClient(self.where.socket, timeout=10)

    def info(self, program: str) -> ProcessInfo:
        return self.client.info(program)

    def wait_running(self, program: str, not_pid: int | None = None, timeout: float = 90) -> int:
        """Wait until ``program`` is RUNNING (with a pid other than ``not_pid``); its pid."""

        def check() -> int | None:
            info = self.info(program)
            ok = info.statename == "RUNNING" and info.pid and info.pid != not_pid
            return info.pid if ok else None

        return int(wait_for(check, f"{program} to be RUNNING", timeout))

    def supervisord_pid(self) -> int:
        return self.client.pid()

    def children(self) -> dict[str, int]:
        """Every running program of supervisord and its pid."""
        return {p.full_name: p.pid for p in self.client.status() if p.pid}

    def log(self, program: str) -> str:
        path = self.where.log_dir / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def output(self) -> str:
        path = self.root / "run.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.database_url)
        return self._store

    def stop(self) -> None:
        """SIGTERM ``qbitrr-mqtt run`` (it forwards to supervisord), then clean up leftovers."""
        pids: list[int] = []
        with contextlib.suppress(SupervisorError):
            pids = [p.pid for p in self.client.status() if p.pid]
            pids.append(self.client.pid())
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- torrents -----------------------------------------------------------------------

    def stalled(self, inst: Instance, name: str) -> tuple[Added, int]:
        """A stalled torrent of ``inst``'s category linked to one new library item."""
        ext = ".flac" if inst.arr.kind == "lidarr" else ".mkv"
        files = {f"{name}{ext}": 16 * KiB, f"{name}.nfo": 100}
        media = inst.arr.generate(1)
        # Linked before qBittorrent has it and allowed to vanish during the wait: with one
        # stall strike the manager blocklists it through the Arr as soon as it stalls.
        added = add_stalled(
            self.qbit,
            f"{name}.{inst.category}",
            files,
            category=inst.category,
            before_add=lambda h: inst.arr.link(h, media),
            may_vanish=True,
        )
        return added, media[0]

    def stalled_batch(self, inst: Instance, names: list[str], category: str) -> list[str]:
        """Several stalled torrents at once (added together, then waited for together), in
        ``category``, each linked to a new library item of ``inst``'s Arr; their hashes."""
        client = api(self.qbit)
        hashes = []
        for name in names:
            scratch = self.qbit.workdir / "payloads" / f"{name}-{uuid.uuid4().hex[:8]}"
            payload = make_payload(scratch / "source", name, {f"{name}.mkv": 16 * KiB})
            torrent, h = make_torrent(payload)
            client.torrents_add(
                torrent_files=torrent,
                save_path=str(scratch / "save"),
                category=category,
                use_auto_torrent_management=False,
            )
            inst.arr.link(h, inst.arr.generate(1))
            hashes.append(h)
        for h in hashes:
            wait_state(client, h, {"stalledDL"})
        return hashes


class Feeder(threading.Thread):
    """Keeps ``in_flight`` stalled torrents in the manager's category (a background thread),
    so the manager always has removals to do.

    Each is added under a holding category until qBittorrent calls it stalledDL, then moved
    in, so the manager never removes a torrent the test is still waiting for."""

    def __init__(self, stack: FaultStack, inst: Instance, in_flight: int) -> None:
        super().__init__(daemon=True)
        self.stack, self.inst, self.in_flight = stack, inst, in_flight
        self.hold = f"{inst.category}-hold"
        client = api(stack.qbit)
        for name in {inst.category, self.hold} - set(client.torrents_categories()):
            client.torrents_create_category(name=name)
        self.added: list[str] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def top_up(self) -> None:
        """Add what is missing to reach ``in_flight`` torrents in the category."""
        client = api(self.stack.qbit)
        present = {t["hash"] for t in client.torrents_info(category=self.inst.category)}
        missing = self.in_flight - len(present)
        if missing <= 0:
            return
        names = [f"Kill.{len(self.added) + i:03d}" for i in range(missing)]
        fresh = self.stack.stalled_batch(self.inst, names, self.hold)
        client.torrents_set_category(category=self.inst.category, torrent_hashes=fresh)
        self.added.extend(fresh)

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.top_up()
                self.stopping.wait(0.3)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            self.error = exc

    def stop(self) -> list[str]:
        """Stop feeding; every hash added (re-raises what failed in the thread)."""
        self.stopping.set()
        self.join(120)
        if self.error is not None:
            raise self.error
        return self.added


@contextlib.contextmanager
def make_fault_stack(**kwargs: Any) -> Iterator[FaultStack]:
    """A FaultStack in a short temporary directory, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="qbf-", dir="/tmp"))
    stack = FaultStack(root, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()
        if os.environ.get("QBITRR_KEEP_FAULT_DIRS"):
            print(f"fault stack kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Seen:
    """One message an ``MqttWatch`` received."""

    topic: str
    payload: bytes
    retain: bool
    at: float

    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")


class MqttWatch:
    """A plain subscriber that records everything under some filters, across broker restarts
    (it subscribes again on every connect, so retained messages arrive again too)."""

    def __init__(self, broker: MosquittoHandle, filters: list[str]) -> None:
        self.filters = filters
        self.seen: list[Seen] = []
        self.connects = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        wait_for(lambda: self.connects, "the test subscriber to connect")

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        for f in self.filters:
            client.subscribe(f, qos=1)
        self.connects += 1

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append(Seen(msg.topic, bytes(msg.payload), bool(msg.retain), time.time()))

    def on(self, topic: str, since: float = 0.0) -> list[Seen]:
        with self._lock:
            return [m for m in self.seen if m.topic == topic and m.at >= since]

    def last(self, topic: str) -> Seen | None:
        found = self.on(topic)
        return found[-1] if found else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
