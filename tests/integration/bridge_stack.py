"""A real supervisord stack for the bridge and CLI tests (not a test module itself).

supervisord, the ``events`` listener, the store (SQLite in the data directory) and, when a
broker is given, the real ``qbitrr-mqtt bridge`` all run for real. Managers and the WebUI are
a small stand-in script (their own code is tested elsewhere) whose behaviour per program comes
from ``<root>/<program>.mode`` read at each start: ``run``, ``crash`` (exit 3 at once) or
``crash-after SECONDS``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from qbitrr_mqtt.config import Config, load_config
from qbitrr_mqtt.store import Store
from qbitrr_mqtt.supervisor.rpc import ProcessInfo, SupervisorClient, SupervisorError
from qbitrr_mqtt.supervisor.run import prepare
from services.runners import free_port

BIN = Path(sys.executable).parent

STAND_IN = textwrap.dedent(
    """
    import os, signal, sys, time
    name, here = sys.argv[1], sys.argv[2]
    try:
        mode = open(os.path.join(here, name + ".mode")).read().split()
    except FileNotFoundError:
        mode = ["run"]
    print(f"{name} pid {os.getpid()} mode {mode}", flush=True)
    if mode[0] == "crash":
        sys.exit(3)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    deadline = time.monotonic() + float(mode[1]) if mode[0] == "crash-after" else None
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.2)
    sys.exit(3)
    """
)


def wait_for[T](check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy (generous deadline, loaded machine)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except SupervisorError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


class Stack:
    """A config file, its rendered supervisord files and (once started) supervisord."""

    def __init__(self, root: Path, broker: Any = None) -> None:
        self.root = root
        self.broker = broker
        self.base = f"t{uuid.uuid4().hex[:8]}"
        self.config_path = root / "config.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.arr: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {
            "data_dir": str(root / "data"),
            "restart_delay": 1,
            "dry_run": True,  # a real manager started by a test must never act on anything
        }
        # Nothing listens here: a real manager (added on reload) never reaches a real service.
        self.nowhere = f"http://127.0.0.1:{free_port()}"

    def instance(self, name: str, mode: str = "run", **supervisor: Any) -> None:
        self.arr[name] = {
            "type": "radarr",
            "url": self.nowhere,
            "api_key": "k" * 32,
            "category": name,
            "supervisor": {"startsecs": 1, "stopwaitsecs": 5, **supervisor},
        }
        self.mode(f"manager-{name}", mode)

    def mode(self, program: str, mode: str) -> None:
        (self.root / f"{program}.mode").write_text(mode)

    def mqtt(self) -> dict[str, Any]:
        if self.broker is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "host": self.broker.host,
            "port": self.broker.port,
            "base_topic": self.base,
            "client_id": self.base,
            "keepalive": 5,
        }

    def write_config(self) -> Config:
        doc = {
            "settings": self.settings,
            "qbittorrent": {"default": {"url": self.nowhere}},
            "mqtt": self.mqtt(),
            "arr": self.arr,
        }
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(doc), encoding="utf-8")
        os.replace(tmp, self.config_path)
        return load_config(self.config_path)

    def overrides(self) -> dict[str, str]:
        """Stand-ins for the managers and the WebUI; the bridge is real when there is a broker."""
        script = self.root / "stand_in.py"
        script.write_text(STAND_IN)
        names = ["webui", *(f"manager-{n}" for n in self.arr)]
        if self.broker is None:
            names.append("bridge")
        return {n: f"{sys.executable} {script} {n} {self.root}" for n in names}

    def render(self) -> Config:
        self.config = self.write_config()
        self.where = prepare(self.config, overrides=self.overrides())
        self.client = SupervisorClient(self.where.socket, timeout=30)
        return self.config

    def start(self) -> None:
        self.render()
        log = (self.root / "supervisord.out").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "supervisord"), "-n", "-c", str(self.where.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_state("events", "RUNNING")

    def wait_state(self, name: str, state: str, timeout: float = 60.0) -> ProcessInfo:
        return wait_for(
            lambda: (info := self.client.info(name)).statename == state and info,
            f"{name} to be {state}",
            timeout,
        )

    def pid(self, name: str) -> int:
        return int(self.wait_state(name, "RUNNING").pid)

    def store(self) -> Store:
        return Store.open(self.config.database.url)

    def log(self, program: str) -> str:
        path = self.where.log_dir / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``python -m qbitrr_mqtt ARGS -c <config>`` as a user would run it."""
        return subprocess.run(
            [sys.executable, "-m", "qbitrr_mqtt", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        pids: list[int] = []
        with contextlib.suppress(SupervisorError):
            pids = [p.pid for p in self.client.status() if p.pid]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc = None


@contextlib.contextmanager
def make_stack(broker: Any = None) -> Iterator[Stack]:
    """A stack in a short directory under /tmp (unix socket paths are limited to ~107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="qbr-", dir="/tmp"))
    stack = Stack(root, broker)
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
