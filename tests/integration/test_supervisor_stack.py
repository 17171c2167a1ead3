"""The stack under a real supervisord (the venv's), with stand-in programs for the managers.

Each test renders the programs from a real config file, starts supervisord in a fresh
temporary data directory and drives it through the XML-RPC client and supervisorctl. The
managers, bridge and WebUI are a small script (their real code is tested elsewhere), whose
behaviour per program comes from ``<tmp>/<program>.mode`` read at each start; the ``events``
listener is the real one, writing to a real SQLite store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bridge_stack import alive, wait_for

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.supervisor.rpc import SupervisorClient, SupervisorError, SupervisorUnreachable
from qbitrr_mqtt.supervisor.run import prepare, refresh_programs, status_table

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

FAKE = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    name, here = sys.argv[1], sys.argv[2]
    try:
        mode = open(os.path.join(here, name + ".mode")).read().split()
    except FileNotFoundError:
        mode = ["run"]
    print(f"{name} pid {os.getpid()} mode {mode}", flush=True)
    if mode[0] == "crash":
        sys.exit(3)
    if mode[0] == "crash-after":
        time.sleep(float(mode[1]))
        sys.exit(3)
    if mode[0] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    if mode[0] == "with-child":
        child = subprocess.Popen(["sleep", "1000"])
        open(os.path.join(here, name + ".child"), "w").write(str(child.pid))
    while True:
        time.sleep(0.5)
    """
)


class Stack:
    """A config file, its rendered supervisord files and (once started) supervisord."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_path = root / "config.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.arr: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, Any] = {"data_dir": str(root / "data"), "restart_delay": 1}

    def instance(self, name: str, mode: str = "run", **supervisor: Any) -> None:
        self.arr[name] = {
            "type": "radarr",
            "url": "http://127.0.0.1:7878",
            "api_key": "k" * 32,
            "category": name,
            "supervisor": {"startsecs": 1, "stopwaitsecs": 5, **supervisor},
        }
        self.mode(f"manager-{name}", mode)

    def mode(self, program: str, mode: str) -> None:
        (self.root / f"{program}.mode").write_text(mode)

    def write_config(self) -> Any:
        doc = {
            "settings": self.settings,
            "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
            "mqtt": {"enabled": False},
            "arr": self.arr,
        }
        self.config_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return load_config(self.config_path)

    def overrides(self) -> dict[str, str]:
        script = self.root / "fake.py"
        script.write_text(FAKE)
        names = ["bridge", "webui", *(f"manager-{n}" for n in self.arr)]
        return {n: f"{sys.executable} {script} {n} {self.root}" for n in names}

    def render(self) -> Any:
        self.config = self.write_config()
        self.where = prepare(self.config, overrides=self.overrides())
        self.client = SupervisorClient(self.where.socket, timeout=20)
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

    def state(self, name: str) -> str:
        return self.client.info(name).statename

    def wait_state(self, name: str, state: str, timeout: float = 60.0) -> Any:
        return wait_for(
            lambda: (info := self.client.info(name)).statename == state and info,
            f"{name} to be {state}",
            timeout,
        )

    def pid(self, name: str) -> int:
        return int(self.wait_state(name, "RUNNING").pid)

    def store(self) -> Any:
        return open_store(self.config.database.url)

    def health(self, name: str) -> Any:
        return self.store().get_process_health(name)

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = []
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


@pytest.fixture
def stack() -> Iterator[Stack]:
    # A short directory under /tmp: unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="qsv-", dir="/tmp"))
    s = Stack(root)
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(root, ignore_errors=True)


def listening_tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A":  # LISTEN
                inodes.add(cols[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def test_all_programs_come_up_and_supervisorctl_sees_them(stack: Stack) -> None:
    stack.instance("a")
    stack.instance("b")
    stack.start()
    for name in ("manager-a", "manager-b", "bridge", "webui"):
        stack.wait_state(name, "RUNNING")

    out = subprocess.run(
        [str(BIN / "supervisorctl"), "-c", str(stack.where.conf), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}
    assert lines == {
        "bridge": "RUNNING",
        "events": "RUNNING",
        "manager-a": "RUNNING",
        "manager-b": "RUNNING",
        "webui": "RUNNING",
    }
    # The top-level supervisord.conf reaches the same supervisord given the data directory.
    env = {**os.environ, "QBITRR_DATA_DIR": str(stack.where.data_dir)}
    top = subprocess.run(
        [str(BIN / "supervisorctl"), "-c", str(REPO / "supervisord.conf"), "status", "manager-a"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "manager-a" in top.stdout and "RUNNING" in top.stdout

    mode = stat.S_IMODE(stack.where.socket.stat().st_mode)
    assert stat.S_ISSOCK(stack.where.socket.stat().st_mode) and mode == 0o700
    assert stack.proc is not None
    assert not socket_inodes(stack.proc.pid) & listening_tcp_inodes()

    # The listener recorded every program in the store and in health.json.
    wait_for(
        lambda: (
            {h.name for h in stack.store().list_process_health() if h.state == "RUNNING"}
            >= {"manager-a", "manager-b", "bridge", "webui"}
        ),
        "health rows",
    )
    table = wait_for(
        lambda: (t := status_table(stack.config, client=stack.client)) and "manager-b" in t and t,
        "status table",
    )
    assert "RUNNING" in table and "not reachable" not in table


def test_killed_manager_is_restarted_and_counted(stack: Stack) -> None:
    stack.instance("a")
    stack.instance("b")
    stack.start()
    a, b = stack.pid("manager-a"), stack.pid("manager-b")
    os.kill(a, signal.SIGKILL)
    new = wait_for(
        lambda: (p := stack.client.info("manager-a")).statename == "RUNNING" and p.pid != a and p,
        "manager-a to run again",
    )
    assert new.pid != a and stack.pid("manager-b") == b
    health = wait_for(
        lambda: (h := stack.health("manager-a")) and h.restart_count == 1 and h, "restart count"
    )
    assert "killed by a signal (unexpected)" in health.last_exit
    assert health.restart_limit_reached is False and health.last_restart is not None


def test_crash_on_start_is_given_up_for_that_instance_only(stack: Stack) -> None:
    stack.instance("a")
    stack.instance("b", mode="crash", startretries=1)
    stack.start()
    a = stack.pid("manager-a")
    stack.wait_state("manager-b", "FATAL")
    # The listener's first resync may see FATAL before it reads the buffered events: the
    # limit is then set at once with supervisord's spawn error, and the FATAL event adds the
    # reason a moment later. Wait for the record with both.
    health = wait_for(
        lambda: (
            (h := stack.health("manager-b"))
            and h.restart_limit_reached
            and "startretries" in (h.last_exit or "")
            and h
        ),
        "limit with its reason",
    )
    assert health.restart_count == 1  # one BACKOFF retry (startretries=1)
    assert stack.pid("manager-a") == a and stack.health("manager-a").restart_limit_reached is False
    assert "restart limit reached" in status_table(stack.config, client=stack.client)

    # Fixed and started by hand: running again, the limit cleared.
    stack.mode("manager-b", "run")
    assert stack.client.start("manager-b") > 0
    wait_for(lambda: not stack.health("manager-b").restart_limit_reached, "limit cleared")


def test_restart_window_gives_up_after_max_restarts(stack: Stack) -> None:
    stack.settings["restart_delay"] = 2
    stack.instance("a")
    stack.instance("b", mode="crash-after 1.5", max_restarts=2, restart_window=600)
    stack.start()
    a = stack.pid("manager-a")
    health = wait_for(
        lambda: (h := stack.health("manager-b")) and h.restart_limit_reached and h,
        "manager-b to be given up",
        timeout=90,
    )
    assert "exited unexpectedly 3 times" in health.last_exit and health.restart_count == 2
    assert stack.state("manager-b") == "EXITED"
    time.sleep(3)  # longer than restart_delay: nothing restarts it any more
    assert stack.state("manager-b") == "EXITED"

    events, _ = stack.store().list_process_events("manager-b", limit=100)
    events.reverse()  # oldest first
    exits = [e for e in events if e.to_state == "EXITED" and e.from_state == "RUNNING"]
    assert len(exits) == 3 and all(e.expected is False for e in exits)
    assert "restart limit reached" in (events[-1].detail or "")
    # Each restart waited restart_delay after the exit (a lower bound: safe on a slow box).
    for i, event in enumerate(events):
        if event.to_state == "EXITED" and i + 1 < len(events):
            nxt = next((e for e in events[i + 1 :] if e.to_state == "STARTING"), None)
            if nxt is not None:
                assert (nxt.at - event.at).total_seconds() >= 1.9
    assert stack.pid("manager-a") == a

    # A manual restart after a fix clears the limit and gives a new pid.
    stack.mode("manager-b", "run")
    pid = stack.client.restart("manager-b")
    assert pid > 0 and stack.pid("manager-b") == pid
    wait_for(lambda: not stack.health("manager-b").restart_limit_reached, "limit cleared")


def test_rpc_restart_and_clear_errors(stack: Stack) -> None:
    stack.instance("a")
    stack.start()
    old = stack.pid("manager-a")
    new = stack.client.restart("manager-a")
    assert new != old and stack.pid("manager-a") == new and not alive(old)

    with pytest.raises(SupervisorError) as err:
        stack.client.restart("manager-nope")
    assert err.value.kind == "unknown_program" and "manager-a" in str(err.value)
    stack.client.stop("manager-a")
    with pytest.raises(SupervisorError) as err:
        stack.client.stop("manager-a")
    assert err.value.kind == "not_running" and "already stopped" in str(err.value)
    assert stack.client.start("manager-a") > 0
    with pytest.raises(SupervisorError) as err:
        stack.client.start("manager-a")
    assert err.value.kind == "already_started"
    # A manual stop is never restarted by the listener.
    stack.client.stop("manager-a")
    time.sleep(2.5)  # > restart_delay
    assert stack.state("manager-a") == "STOPPED"

    bridge = stack.pid("bridge")
    stack.client.shutdown()
    assert stack.proc is not None and stack.proc.wait(120) == 0
    assert not alive(bridge)
    with pytest.raises(SupervisorUnreachable):
        stack.client.status()


def test_unreachable_supervisord(tmp_path: Path) -> None:
    missing = SupervisorClient(tmp_path / "none.sock", timeout=5)
    with pytest.raises(SupervisorUnreachable, match="no such socket") as err:
        missing.status()
    assert isinstance(err.value, ConnectionError) and err.value.kind == "unreachable"

    import socket

    stale = tmp_path / "stale.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(stale))
    sock.close()  # the file stays, nobody listens: like a supervisord that died
    with pytest.raises(SupervisorUnreachable, match="refused"):
        SupervisorClient(stale, timeout=5).restart("manager-a")

    silent = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(silent))
    server.listen(1)  # accepts the connection but never answers
    try:
        with pytest.raises(SupervisorUnreachable, match="no answer within"):
            SupervisorClient(silent, timeout=0.5).ping()
    finally:
        server.close()


def test_reread_update_adds_and_removes_instances(stack: Stack) -> None:
    stack.instance("a")
    stack.start()
    a = stack.pid("manager-a")
    bridge = stack.pid("bridge")

    stack.instance("c")
    config = stack.write_config()
    result = refresh_programs(config, client=stack.client, overrides=stack.overrides())
    assert result.added == ["manager-c"] and result.removed == [] and result.changed == []
    stack.pid("manager-c")
    assert stack.pid("manager-a") == a and stack.pid("bridge") == bridge

    stack.arr["c"]["enabled"] = False
    result = refresh_programs(
        stack.write_config(), client=stack.client, overrides=stack.overrides()
    )
    assert result.removed == ["manager-c"]
    assert "manager-c" not in {p.name for p in stack.client.status()}
    assert stack.pid("manager-a") == a


RUNNER = textwrap.dedent(
    """
    import json, sys
    from qbitrr_mqtt.config import load_config
    from qbitrr_mqtt.supervisor.run import run_stack
    config = load_config(sys.argv[1])
    sys.exit(run_stack(config, overrides=json.loads(sys.argv[2])))
    """
)


def test_run_stack_stops_everything_on_sigterm(stack: Stack) -> None:
    import json

    stack.instance("a", mode="with-child")
    stack.instance("b", mode="stubborn", stopwaitsecs=2)
    stack.render()
    run = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(stack.config_path), json.dumps(stack.overrides())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pids = {n: stack.pid(n) for n in ("manager-a", "manager-b", "bridge", "webui", "events")}
        child_file = stack.root / "manager-a.child"
        grandchild = int(wait_for(lambda: child_file.exists() and child_file.read_text(), "child"))
        supervisord = stack.client.pid()
        assert supervisord != run.pid  # run_stack runs supervisord as its child

        run.send_signal(signal.SIGTERM)
        assert run.wait(120) == 0
        assert not alive(supervisord)
        still = [n for n, p in pids.items() if alive(p)]
        assert still == []  # manager-b ignored SIGTERM: killed after its stopwaitsecs
        assert not alive(grandchild)  # stopasgroup reached the manager's own child
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
