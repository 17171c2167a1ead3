"""Shared pieces of the bad-input and security tests (issue 9).

Every secret of the test config is a distinctive string, so a test can grep logs and answers
for it without false hits. ``write_config`` writes a config file in a directory of its own;
``webui_app`` builds the real WebUI app on a real SQLite store from such a file.
"""

from __future__ import annotations

import sys
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
