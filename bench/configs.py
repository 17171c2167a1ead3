"""Config files for the benchmark's managers and stack (written as YAML, checked by the
project's own loader so a bad one fails here, not in a subprocess)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qbitrr_mqtt.config import config_from_dict

API_KEY = "bench-api-key"
TOKEN = "bench-token"

#: Policy of the measured instances: defaults, except what would make the bench wait or
#: probe fake media (payloads are random bytes), an import without a grace period, and
#: stalled torrents kept in their grace period (``ignore_younger_than`` a day), so an idle
#: cycle has nothing to strike: strikes are changes, measured as such.
BASE_POLICY: dict[str, Any] = {
    "validate_media": False,
    "import_grace": 0,
    "ignore_younger_than": 86400,
    "fail_closed_firewalled": False,  # a loopback-only qbittorrent-nox reports firewalled
}


@dataclass
class InstanceSpec:
    """One Arr instance: name, kind, emulator URL, qBittorrent category, policy overrides."""

    name: str
    kind: str
    url: str
    category: str
    policy: dict[str, Any] = field(default_factory=dict)


def write_config(
    path: Path,
    *,
    data_dir: Path,
    qbit_url: str,
    mqtt_port: int | None,
    instances: list[InstanceSpec],
    check_interval: int = 60,
    webui_port: int = 6969,
    database_url: str | None = None,
) -> Path:
    """Write a config for ``instances`` and return its path."""
    doc: dict[str, Any] = {
        "settings": {
            "check_interval": check_interval,
            "data_dir": str(data_dir),
            "log_level": "WARNING",
            "policy": BASE_POLICY,
        },
        "qbittorrent": {"default": {"url": qbit_url}},
        "mqtt": {
            "enabled": mqtt_port is not None,
            "host": "127.0.0.1",
            "port": mqtt_port or 1883,
            "base_topic": "bench",
        },  # fmt: skip
        "webui": {"host": "127.0.0.1", "port": webui_port, "token": TOKEN},
        "database": {"url": database_url or f"sqlite:///{data_dir / 'qbitrr.db'}"},
        "arr": {
            i.name: {
                "type": i.kind,
                "url": i.url,
                "api_key": API_KEY,
                "category": i.category,
                **({"policy": i.policy} if i.policy else {}),
            }  # fmt: skip
            for i in instances
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    config_from_dict(doc, source=path)  # raises ConfigError with the key paths
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
