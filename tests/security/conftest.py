"""Shared pieces of the bad-input and security tests (issue 9).

Every secret of the test config is a distinctive string, so a test can grep logs and answers
for it without false hits. ``write_config`` writes a config file in a directory of its own;
``webui_app`` builds the real WebUI app on a real SQLite store from such a file.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.config import Config, load_config
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.webui import create_app
from qbitrr_mqtt.webui.state import Tuning

# bridge_stack (a real supervisord stack) lives next to the integration tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

#: Each one a value no log line or answer could contain by accident.
SECRETS = {
    "token": "tok-SECRET-7f3a9c1e5b2d4a60",
    "mqtt_password": "mqtt-SECRET-c4e8a1b7d9f20365",
    "qbit_password": "qbit-SECRET-91d2e7a4c6b83f05",
    "api_key_radarr": "arrkey-SECRET-5a7c9e1f3b6d8024",
    "api_key_sonarr": "arrkey-SECRET-0e2c4a6b8d1f3579",
    "db_password": "pg-SECRET-3b5d7f9a1c2e4680",
}
TOKEN = SECRETS["token"]
AUTH = {"X-API-Token": TOKEN}


def config_doc(data_dir: Path, **sections: Any) -> dict[str, Any]:
    """A valid config holding every kind of secret; ``sections`` replace whole sections."""
    doc: dict[str, Any] = {
        "settings": {"data_dir": str(data_dir), "dry_run": True},
        "qbittorrent": {
            "default": {
                "url": "http://127.0.0.1:9",
                "username": "admin",
                "password": SECRETS["qbit_password"],
            }
        },
        "mqtt": {"enabled": False, "password": SECRETS["mqtt_password"], "username": "bob"},
        "webui": {"token": TOKEN},
        "arr": {
            "radarr": {
                "type": "radarr",
                "url": "http://127.0.0.1:9",
                "api_key": SECRETS["api_key_radarr"],
            },
            "sonarr": {
                "type": "sonarr",
                "url": "http://127.0.0.1:9",
                "api_key": SECRETS["api_key_sonarr"],
            },
        },
    }
    doc.update(sections)
    return doc


def write_config(directory: Path, **sections: Any) -> Path:
    """``<directory>/config.yaml`` from :func:`config_doc`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    doc = config_doc(directory / "data", **sections)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def leaked(text: str) -> list[str]:
    """The names of the secrets that appear in ``text``."""
    return [name for name, value in SECRETS.items() if value in text]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cfg")


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path, env={})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    s = open_store(f"sqlite:///{tmp_path / 'qbitrr.db'}")
    yield s
    s.close()


def webui_app(config: Config, store: Any) -> Any:
    """The real WebUI app with short waits (no manager answers commands here)."""
    tuning = Tuning(command_wait=0.2, poll_interval=0.1, heartbeat=0.5)
    return create_app(config, store, None, tuning=tuning)


@pytest.fixture
async def client(aiohttp_client: Any, config: Config, store: Any) -> Any:
    return await aiohttp_client(webui_app(config, store))


class WebUIProcess:
    """``qbitrr-mqtt webui -c PATH`` as supervisord would start it, stderr in ``log``."""

    def __init__(self, config_path: Path, port: int, log: Path) -> None:
        self.config_path = config_path
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WebUIProcess:
        out = self.log.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("QBITRR_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qbitrr_mqtt", "webui", "-c", str(self.config_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"webui exited: {self.log.read_text(errors='replace')}")
            try:
                self.request("GET", "/api/health")
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"webui did not answer: {self.log.read_text(errors='replace')}")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        source: str | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """One HTTP request, optionally from the local address ``source``."""
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(source, 0) if source else None
        )
        try:
            data = json.dumps(body) if body is not None else None
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
