"""``qbitrr-mqtt demo`` end to end, as a newcomer runs it.

The demo runs as a subprocess with its own work directory: real Mosquitto, two real
qbittorrent-nox, three Arr emulators and the real stack under supervisord. The test watches
it from the outside (HTTP API with the token of the written config, MQTT discovery on the
demo's broker), waits for the manager to act on the demo's torrents, then sends SIGTERM and
checks that the demo exits 0 and that no process it started is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.demo import MARKER, SCENARIO
from qbitrr_mqtt.mqtt.testing import MqttProbe

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

START_TIMEOUT = 300.0  # services, torrents (one real download set-up each), supervisord
ACTION_TIMEOUT = 300.0  # stalled_delay is 1 minute, strikes every 10 s
STOP_TIMEOUT = 120.0
INSTANCES = ("radarr", "sonarr", "lidarr")


def wait_until(check: Callable[[], Any], what: str, timeout: float, demo: Demo) -> Any:
    """Poll ``check`` until truthy; fail naming ``what`` (and the demo's output) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if demo.proc.poll() is not None:
            pytest.fail(f"the demo exited ({demo.proc.returncode}) before {what}:\n{demo.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout:.0f}s; demo output:\n{demo.output()}")
        time.sleep(1)


class Demo:
    """A running ``qbitrr-mqtt demo --workdir``; the HTTP API once its config exists."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir.parent / "demo.out"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qbitrr_mqtt", "demo", "--workdir", str(workdir)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the test's signals are the test's
            )
        self.config: dict[str, Any] = {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def load_config(self) -> bool:
        path = self.workdir / "config.yaml"
        if not path.exists():
            return False
        try:
            self.config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:  # being written
            return False
        return bool(self.config.get("webui"))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.config['webui']['port']}"

    def get(self, path: str, *, token: bool = True) -> tuple[int, Any]:
        request = urllib.request.Request(self.base + path)
        if token:
            request.add_header("X-API-Token", self.config["webui"]["token"])
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (urllib.error.URLError, OSError, ValueError):
            return 0, None

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        return body if status == 200 else None


# --- processes the demo started ----------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def processes_of(workdir: Path) -> dict[int, str]:
    """Live processes that belong to the demo in ``workdir``: its path in their command
    line, working directory or environment (the stack's programs get QBITRR_DATA_DIR)."""
    needle = str(workdir).encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        cmdline = _read(entry / "cmdline")
        try:
            cwd = os.readlink(entry / "cwd").encode()
        except OSError:
            cwd = b""
        if b"State:\tZ" in _read(entry / "status"):
            continue
        if needle in cmdline or cwd.startswith(needle) or needle in _read(entry / "environ"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def alive(pid: int) -> bool:
    status = _read(Path(f"/proc/{pid}/status"))
    return bool(status) and b"State:\tZ" not in status


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    workdir = tmp_path / "demo"
    running = Demo(workdir)
    try:
        yield running
    finally:
        if running.proc.poll() is None:  # the test failed half-way: stop it, then make sure
            running.proc.send_signal(signal.SIGTERM)
            try:
                running.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                running.proc.kill()
                running.proc.wait()
        for pid in processes_of(workdir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_demo_runs_acts_and_stops_cleanly(demo: Demo) -> None:
    wait_until(demo.load_config, "the demo's config.yaml", START_TIMEOUT, demo)
    assert (demo.workdir / MARKER).exists()
    wait_until(
        lambda: demo.get("/api/health", token=False)[0] == 200,
        "GET /api/health 200",
        START_TIMEOUT,
        demo,
    )
    assert demo.get("/api/v1/processes", token=False)[0] == 401  # the token is needed

    # supervisord runs a manager per Arr, the bridge and the WebUI
    def running_programs() -> set[str] | None:
        body = demo.json("/api/v1/processes")
        if not body:
            return None
        states = {p["name"]: p["status"] for p in body["processes"]}
        wanted = {f"manager-{i}" for i in INSTANCES} | {"bridge", "webui"}
        return wanted if all(states.get(n) == "RUNNING" for n in wanted) else None

    wait_until(running_programs, "managers, bridge and WebUI RUNNING", START_TIMEOUT, demo)

    # Home Assistant discovery for every instance on the demo's own broker
    mqtt = demo.config["mqtt"]
    assert mqtt["enabled"], "mosquitto is installed here: the demo must use it"
    with MqttProbe("127.0.0.1", mqtt["port"], "homeassistant/#") as probe:
        for instance in INSTANCES:
            seen = probe.wait_for(
                f"homeassistant/device/qbitrr_{instance}/config", lambda m: bool(m.payload), 120
            )
            payload = json.loads(seen.payload)
            assert payload.get("cmps") or payload.get("components"), seen.text()[:200]

    # every torrent of the scenario is tracked with a state
    names = {spec.name for spec in SCENARIO}

    def tracked() -> dict[str, dict[str, Any]] | None:
        body = demo.json("/api/v1/torrents?limit=1000")
        rows = {t["name"]: t for t in (body or {}).get("torrents", [])}
        return rows if names <= set(rows) else None

    rows = wait_until(tracked, f"all {len(names)} demo torrents tracked", ACTION_TIMEOUT, demo)
    assert all(rows[n]["state"] for n in names), {n: rows[n]["state"] for n in names}
    assert {rows[s.name]["instance"] for s in SCENARIO} == set(INSTANCES)

    # the manager acts: the .exe release and the stalled one are blocklisted and removed
    dangerous = next(s.name for s in SCENARIO if any(f.endswith(".exe") for f in s.files))
    stalled = next(s.name for s in SCENARIO if s.state == "stalled")

    def removed() -> dict[str, dict[str, Any]] | None:
        body = demo.json("/api/v1/actions?status=done&limit=1000")
        done = {
            a["name"]: a
            for a in (body or {}).get("actions", [])
            if a["action"] in ("blocklist", "remove")
        }
        return done if {dangerous, stalled} <= set(done) else None

    done = wait_until(removed, "the .exe and the stalled torrent removed", ACTION_TIMEOUT, demo)
    assert ".exe" in done[dangerous]["reason"], done[dangerous]
    assert done[stalled]["reason"].startswith("stalled"), done[stalled]
    assert not done[stalled]["dry_run"]

    # SIGTERM: exit 0, and nothing the demo started survives it
    started = processes_of(demo.workdir)
    commands = " ".join(started.values())
    for program in ("qbittorrent-nox", "mosquitto", "supervisord", "services.arr_emulator"):
        assert program in commands, f"{program} not found among {started}"
    assert commands.count("qbittorrent-nox --profile") == 2, started
    demo.proc.send_signal(signal.SIGTERM)
    try:
        code = demo.proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the demo did not stop within {STOP_TIMEOUT:.0f}s:\n{demo.output()}")
    assert code == 0, demo.output()
    left = {pid: cmd for pid, cmd in started.items() if alive(pid)}
    assert not left, f"left running after the demo stopped: {left}"
    assert not processes_of(demo.workdir), processes_of(demo.workdir)
    assert "demo: stopped" in demo.output()
