"""End-to-end fixtures: the WebUI as a real process, a real headless Chromium, screenshots.

The seam for the full-stack tests is ``webui_stack``: today it starts ``qbitrr-mqtt webui``
alone (its own process, a real SQLite store, no supervisord); a full-stack fixture that runs
``qbitrr-mqtt run`` (supervisord, managers, bridge, WebUI) only has to yield the same
:class:`WebUIStack` (URL, token, a store on the same database, the config file) for every
test here to run against it unchanged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.store import Store, open_store

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
