"""End-to-end fixtures: the WebUI as a real process, a real headless Chromium, screenshots.

Two stacks yield the same :class:`WebUIStack` (URL, token, a store on the same database, the
config file):

- ``webui_stack`` (per test) starts ``qbitrr-mqtt webui`` alone against a SQLite store the
  test seeds (its own process, no supervisord).
- ``full_stack`` (per module) runs ``qbitrr-mqtt run`` exactly as a user would: supervisord
  with ``manager-radarr`` and ``manager-sonarr``, the bridge and the WebUI, pointed at a real
  Mosquitto, a real qbittorrent-nox and a Radarr and a Sonarr emulator whose queues are the
  torrents of their category, all started for the module. It yields a :class:`FullStack`, which adds handles on those
  services and on supervisord; at the end it sends SIGTERM and asserts a clean exit.
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
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.store import Store, open_store
from qbitrr_mqtt.supervisor.rpc import SupervisorClient, SupervisorError
from qbitrr_mqtt.supervisor.run import paths
from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import MosquittoHandle, QbitHandle, start_mosquitto, start_qbittorrent
from services.torrents import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
TOKEN = "e2e-token-0123456789abcdef"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONFIG = """\
# e2e config
settings:
  data_dir: ./data
webui:
  host: 127.0.0.1
  port: {port}
  token: {token}
mqtt:
  enabled: false
  password: mqtt-secret
arr:
  radarr:
    type: radarr
    url: http://127.0.0.1:7878
    api_key: radarr-secret
  sonarr:
    type: sonarr
    url: http://127.0.0.1:8989
    api_key: sonarr-secret
"""


@dataclass
class WebUIStack:
    url: str
    token: str
    store: Store
    config_path: Path
    data_dir: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the WebUI exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


def start_webui_process(config_path: Path, log: Path) -> subprocess.Popen[Any]:
    """``qbitrr-mqtt webui -c CONFIG`` as supervisord would start it."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("QBITRR_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "qbitrr_mqtt", "webui", "-c", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config_path.parent,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def webui_stack(tmp_path: Path) -> Iterator[WebUIStack]:
    port = free_port()
    config_path = tmp_path / "config.yaml"
    config_path.write_text(CONFIG.format(port=port, token=TOKEN), encoding="utf-8")
    data_dir = tmp_path / "data"
    store = open_store(f"sqlite:///{data_dir / 'qbitrr.db'}")
    proc = start_webui_process(config_path, tmp_path / "webui.out")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/api/openapi.json", proc)
        yield WebUIStack(url, TOKEN, store, config_path, data_dir)
    finally:
        stop_process(proc)
        store.close()


ARR_KEY = "e2e-arr-key-0123456789abcdef"
#: A policy that acts within seconds on the real stack: a stalled torrent is struck from the
#: first cycle and removed at the fourth strike (about 10 s apart at a 3 s check interval,
#: time enough to see its strikes in the page first).
FAST_POLICY: dict[str, Any] = {
    "stalled_strikes": 4,
    "stalled_delay": 0,
    "ignore_younger_than": 0,
    "import_grace": 0,
    "validate_media": False,
    "max_removals_per_cycle": 50,
    "maximum_deletable_percentage": 1.0,
    # qbittorrent-nox on loopback always reports "firewalled"; the default fails closed on it.
    "fail_closed_firewalled": False,
}
CHECK_INTERVAL = 3


@dataclass
class FullStack(WebUIStack):
    """The WebUI of a running ``qbitrr-mqtt run`` plus handles on everything it runs against."""

    proc: subprocess.Popen[Any]
    qbit: QbitHandle
    arrs: dict[str, EmulatorProcess]
    categories: dict[str, str]

    @property
    def supervisor(self) -> SupervisorClient:
        return SupervisorClient(paths(self.data_dir).socket, timeout=10)

    def running_pid(self, program: str, not_pid: int | None = None, timeout: float = 90) -> int:
        """The pid of ``program`` once supervisord says RUNNING (with a pid other than
        ``not_pid``)."""

        def check() -> int | None:
            try:
                info = self.supervisor.info(program)
            except SupervisorError:  # supervisord still starting
                return None
            fresh = info.statename == "RUNNING" and info.pid and info.pid != not_pid
            return info.pid if fresh else None

        return int(wait_for(check, f"{program} RUNNING", timeout))

    def log(self, program: str) -> str:
        path = paths(self.data_dir).log_dir / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def full_stack_config(
    data_dir: Path, port: int, qbit: QbitHandle, broker: MosquittoHandle, stack: dict[str, Any]
) -> dict[str, Any]:
    """The config document of the full stack: one instance per emulator in ``stack``."""
    base = f"e2e{uuid.uuid4().hex[:8]}"
    return {
        "settings": {
            "check_interval": CHECK_INTERVAL,
            "data_dir": str(data_dir),
            "log_level": "INFO",
            "restart_delay": 0,
            "policy": dict(FAST_POLICY),
        },
        "qbittorrent": {"default": {"url": qbit.url, "timeout": 5}},
        "mqtt": {
            "enabled": True,
            "host": broker.host,
            "port": broker.port,
            "base_topic": base,
            "client_id": base,
            "discovery_prefix": f"{base}-ha",
        },
        "webui": {"host": "127.0.0.1", "port": port, "token": TOKEN},
        "database": {"url": f"sqlite:///{data_dir / 'qbitrr.db'}"},
        "arr": {
            name: {
                "type": arr.kind,
                "url": arr.url,
                "api_key": arr.api_key,
                "category": category,
                "timeout": 5,
                "supervisor": {"startsecs": 1, "stopwaitsecs": 10},
            }
            for name, (arr, category) in stack.items()
        },
    }


def stop_full_stack(stack: FullStack) -> int | None:
    """SIGTERM ``qbitrr-mqtt run`` (it stops supervisord and its programs); its exit code.
    Anything still alive afterwards is killed and named in the assertion."""
    pids: list[int] = []
    with contextlib.suppress(SupervisorError, OSError):
        pids = [p.pid for p in stack.supervisor.status() if p.pid]
        pids.append(stack.supervisor.pid())
    stack.proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = stack.proc.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(stack.proc.pid, signal.SIGKILL)
        stack.proc.wait(10)
        code = None
    left = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not zombie(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running after SIGTERM: {left}"
    return code


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def start_run(config_path: Path) -> subprocess.Popen[Any]:
    """``qbitrr-mqtt run -c CONFIG`` in its own session, output to run.out beside the file."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("QBITRR_")}
    with (config_path.parent / "run.out").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "qbitrr_mqtt", "run", "-c", str(config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=config_path.parent,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def full_stack() -> Iterator[FullStack]:
    """``qbitrr-mqtt run`` with a Radarr and a Sonarr instance and, for this module alone, a
    Mosquitto, a qbittorrent-nox and the two emulators.

    The directory is a short one under /tmp: supervisord's socket path must stay under ~107
    bytes. Set QBITRR_KEEP_E2E_DIRS=1 to keep it (logs, store, config) for a look afterwards.
    """
    root = Path(tempfile.mkdtemp(prefix="qbe2e-", dir="/tmp"))
    suffix = uuid.uuid4().hex[:6]
    categories = {"radarr": f"radarr-{suffix}", "sonarr": f"sonarr-{suffix}"}
    try:
        with contextlib.ExitStack() as services:
            mosquitto = services.enter_context(start_mosquitto(root / "mosquitto"))
            qbit = services.enter_context(start_qbittorrent(root / "qbit"))
            arrs = {
                name: services.enter_context(
                    start_arr_emulator(
                        root / name,
                        name,
                        api_key=ARR_KEY,
                        qbit_url=qbit.url,
                        category=category,
                        command_step=0.05,
                    )
                )
                for name, category in categories.items()
            }
            yield from run_full_stack(root, qbit, mosquitto, arrs, categories)
    finally:
        if not os.environ.get("QBITRR_KEEP_E2E_DIRS"):
            shutil.rmtree(root, ignore_errors=True)


def run_full_stack(
    root: Path,
    qbit: QbitHandle,
    broker: MosquittoHandle,
    arrs: dict[str, EmulatorProcess],
    categories: dict[str, str],
) -> Iterator[FullStack]:
    """Write the config, run the stack until the WebUI answers and every manager runs, yield
    it, then stop it and assert that ``qbitrr-mqtt run`` exited 0 on SIGTERM."""
    data_dir = root / "data"
    port = free_port()
    config_path = root / "config.yaml"
    stack_of = {name: (arrs[name], categories[name]) for name in arrs}
    document = full_stack_config(data_dir, port, qbit, broker, stack_of)
    config_path.write_text("# e2e full stack\n" + yaml.safe_dump(document), encoding="utf-8")
    proc = start_run(config_path)
    store = open_store(document["database"]["url"])
    url = f"http://127.0.0.1:{port}"
    stack = FullStack(url, TOKEN, store, config_path, data_dir, proc, qbit, arrs, categories)
    try:
        try:
            wait_for_http(f"{url}/api/health", proc, timeout=120)
            for name in arrs:
                stack.running_pid(f"manager-{name}")
        except (RuntimeError, TimeoutError) as exc:
            tail = (root / "run.out").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the stack did not come up: {exc}\n{tail}") from exc
        yield stack
    finally:
        code = stop_full_stack(stack)
        store.close()
    output = (root / "run.out").read_text(errors="replace")
    assert code == 0, f"qbitrr-mqtt run exited with {code} on SIGTERM:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per e2e test module. Not per session: Playwright's sync API
    keeps an event loop running in the main thread while it is open, and pytest-asyncio's
    tests elsewhere cannot start theirs until it is closed."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make setup)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 850})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def shot() -> Any:
    """``shot(page, "name")`` writes test-artifacts/screenshots/name.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
