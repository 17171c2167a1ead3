"""The watchdog against a real supervisord: a frozen (SIGSTOP) manager and a frozen WebUI
are dumped, restarted and reported; a slow but live manager is left alone.

The manager is a small stand-in that writes real heartbeats to a real SQLite store (its
cycle is ``fake_cycle_loop``, which the stack dump must name); the WebUI stand-in answers
``/api/health`` over real HTTP. Both register faulthandler on SIGUSR1 as the real programs do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.bridge.watchdog import Watchdog, WebUIProbe, hung_managers, webui_health_url
from qbitrr_mqtt.config import config_from_dict, load_config
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.supervisor.rpc import ProcessInfo, SupervisorClient, SupervisorError
from qbitrr_mqtt.supervisor.run import prepare

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

FAKE_MANAGER = textwrap.dedent(
    """
    import faulthandler, os, signal, sys, time
    from datetime import UTC, datetime
    from qbitrr_mqtt.store import open_store

    url, instance, period = sys.argv[1], sys.argv[2], float(sys.argv[3])
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    store = open_store(url)
    print(f"fake manager {instance} pid {os.getpid()}", flush=True)

    def fake_cycle_loop():
        while True:
            time.sleep(period)  # the cycle's work
            store.upsert_instance_state(instance, heartbeat_at=datetime.now(UTC))

    fake_cycle_loop()
    """
)

FAKE_WEBUI = textwrap.dedent(
    """
    import faulthandler, http.server, signal, sys
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"status": "ok"}'
            self.send_response(200 if self.path == "/api/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def fake_webui_serve():
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()

    fake_webui_serve()
    """
)

IDLE = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nwhile True: time.sleep(1)\n"


def wait_for[T](check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(SupervisorError):
            last = check()
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """supervisord running the stand-ins, with a real events listener and store."""

    def __init__(self, root: Path, period: float) -> None:
        self.root = root
        port = free_port()
        doc = {
            "settings": {"data_dir": str(root / "data"), "check_interval": 1},
            "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
            "mqtt": {"enabled": False},
            "webui": {"port": port},
            "arr": {
                "x": {
                    "type": "radarr",
                    "url": "http://127.0.0.1:7878",
                    "api_key": "k" * 32,
                    "supervisor": {"startsecs": 1, "stopwaitsecs": 5},
                }
            },
        }
        path = root / "config.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        self.config = load_config(path, env={})
        scripts = {"manager": FAKE_MANAGER, "webui": FAKE_WEBUI, "idle": IDLE}
        for name, text in scripts.items():
            (root / f"{name}.py").write_text(text)
        py = sys.executable
        overrides = {
            "manager-x": f"{py} {root / 'manager.py'} {self.config.database.url} x {period}",
            "webui": f"{py} {root / 'webui.py'} {port}",
            "bridge": f"{py} {root / 'idle.py'}",
        }
        self.where = prepare(self.config, overrides=overrides)
        self.client = SupervisorClient(self.where.socket, timeout=20)
        self.store = open_store(self.config.database.url)
        out = (root / "supervisord.out").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "supervisord"), "-n", "-c", str(self.where.conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def running_pid(self, name: str) -> int:
        info = wait_for(
            lambda: (i := self.client.info(name)).statename == "RUNNING" and i, f"{name} RUNNING"
        )
        return int(info.pid)

    def log(self, program: str) -> str:
        return (self.where.log_dir / f"{program}.log").read_text(errors="replace")

    def stop(self) -> None:
        pids = []
        with contextlib.suppress(SupervisorError):
            pids = [p.pid for p in self.client.status() if p.pid]
        for pid in pids:  # a stopped process cannot act on SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.store.close()


@pytest.fixture
def make_stack() -> Iterator[Callable[[float], Stack]]:
    made: list[tuple[Stack, Path]] = []

    def make(period: float) -> Stack:
        root = Path(tempfile.mkdtemp(prefix="qwd-", dir="/tmp"))  # short: socket path limit
        stack = Stack(root, period)
        made.append((stack, root))
        return stack

    yield make
    for stack, root in made:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


def first_heartbeat(stack: Stack) -> datetime:
    return wait_for(
        lambda: (st := stack.store.get_instance_state("x")) and st.heartbeat_at, "a heartbeat"
    )


def test_a_frozen_manager_is_dumped_restarted_and_reported(make_stack: Any) -> None:
    stack = make_stack(0.3)
    old_pid = stack.running_pid("manager-x")
    stack.running_pid("webui")
    first_heartbeat(stack)
    dog = Watchdog(stack.config, stack.store, stack.client, hang_timeout=3, dump_wait=1.0)
    assert dog.check() == []  # alive: heartbeats every 0.3 s

    os.kill(old_pid, signal.SIGSTOP)
    reports = wait_for(dog.check, "the watchdog to act", timeout=60)

    assert [r.program for r in reports] == ["manager-x"]
    report = reports[0]
    assert report.old_pid == old_pid and report.error is None
    assert report.new_pid and report.new_pid != old_pid
    assert "no heartbeat for" in report.reason and "hang_timeout 3 s" in report.reason
    assert stack.running_pid("manager-x") == report.new_pid
    log = wait_for(lambda: "fake_cycle_loop" in (t := stack.log("manager-x")) and t, "the dump")
    assert "Current thread" in log or "Thread 0x" in log
    events, _ = stack.store.list_process_events("manager-x")
    hung = [e for e in events if e.to_state == "HUNG"]
    assert len(hung) == 1 and hung[0].pid == old_pid and hung[0].expected is False
    assert hung[0].detail and f"restarted as pid {report.new_pid}" in hung[0].detail
    # The new process gets a full timeout before its first heartbeat is due.
    assert dog.check() == []


def test_a_slow_but_live_manager_is_not_mistaken_for_a_hang(make_stack: Any) -> None:
    stack = make_stack(2.0)  # each cycle takes 2 s, check_interval is 1 s
    pid = stack.running_pid("manager-x")
    beat = first_heartbeat(stack)
    dog = Watchdog(stack.config, stack.store, stack.client, hang_timeout=5, dump_wait=0)
    seen = {beat}
    while len(seen) < 5:  # several slow cycles, checked all along
        assert dog.check() == []
        state = stack.store.get_instance_state("x")
        assert state is not None and state.heartbeat_at is not None
        seen.add(state.heartbeat_at)
        time.sleep(0.5)
    assert stack.running_pid("manager-x") == pid
    assert "fake_cycle_loop" not in stack.log("manager-x")


def test_a_frozen_webui_is_dumped_and_restarted(make_stack: Any) -> None:
    stack = make_stack(0.3)
    old_pid = stack.running_pid("webui")
    url = webui_health_url(stack.config)
    probe = WebUIProbe(url, timeout=1.0, failures=2)
    dog = Watchdog(
        stack.config, stack.store, stack.client, hang_timeout=60, dump_wait=1.0, webui=probe
    )
    wait_for(lambda: probe.probe(url, 2.0) is None, "the WebUI to answer")
    assert dog.check() == []

    os.kill(old_pid, signal.SIGSTOP)
    reports = wait_for(dog.check, "the watchdog to act on the WebUI", timeout=60)
    assert [r.program for r in reports] == ["webui"]
    assert "did not answer within 1 s" in reports[0].reason
    assert reports[0].new_pid and reports[0].new_pid != old_pid
    wait_for(lambda: "fake_webui_serve" in stack.log("webui"), "the WebUI's dump")
    wait_for(lambda: probe.probe(url, 2.0) is None, "the new WebUI to answer")


# --- the decision alone --------------------------------------------------------------------

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def info(state: str = "RUNNING", started: datetime = NOW - timedelta(hours=1)) -> ProcessInfo:
    return ProcessInfo.from_rpc(
        {
            "name": "manager-x",
            "group": "manager-x",
            "statename": state,
            "pid": 42,
            "start": int(started.timestamp()),
        }
    )


@pytest.mark.parametrize(
    ("heartbeat", "proc", "hung"),
    [
        (NOW - timedelta(seconds=299), info(), False),
        (NOW - timedelta(seconds=301), info(), True),
        (None, info(), True),  # never beat since it started an hour ago
        (None, info(started=NOW - timedelta(seconds=10)), False),  # just started
        (NOW - timedelta(hours=2), info(started=NOW - timedelta(seconds=10)), False),  # restarted
        (NOW - timedelta(hours=2), info("BACKOFF"), False),  # supervisord's business
        (NOW - timedelta(hours=2), None, False),  # not under supervisord
    ],
)
def test_hang_decision(heartbeat: datetime | None, proc: ProcessInfo | None, hung: bool) -> None:
    config = config_from_dict({"arr": {"x": {"type": "radarr", "url": "http://h", "api_key": "k"}}})
    assert config.settings.effective_hang_timeout == 300
    processes = {"manager-x": proc} if proc else {}
    found = hung_managers(config, {"x": heartbeat}, processes, NOW, 300)
    assert bool(found) is hung
    if hung:
        assert found[0].program == "manager-x" and found[0].pid == 42
