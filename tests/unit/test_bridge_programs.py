"""The bridge's pure parts: process payloads from health records, and which supervisord
program changes a config reload applies (overrides kept, the bridge's own section guarded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from qbitrr_mqtt.bridge.health import ProcessHealthRecord
from qbitrr_mqtt.bridge.main import process_payload
from qbitrr_mqtt.bridge.programs import current_overrides, sections, sync_programs
from qbitrr_mqtt.config import Config, load_config
from qbitrr_mqtt.supervisor.run import prepare

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_process_payload_from_a_health_record() -> None:
    record = ProcessHealthRecord(
        "manager-a",
        state="RUNNING",
        pid=42,
        started_at=NOW - timedelta(seconds=90),
        restart_count=2,
        last_exit="killed by a signal (unexpected)",
    )
    data = process_payload(record, NOW).to_dict()
    assert data["state"] == "RUNNING" and data["pid"] == 42 and data["uptime"] == 90
    assert data["restart_count"] == 2 and data["restart_limit_reached"] is False
    assert data["last_exit"] == {"description": "killed by a signal (unexpected)"}

    given_up = ProcessHealthRecord("manager-a", state="FATAL", restart_limit_reached=True)
    data = process_payload(given_up, NOW).to_dict()
    assert data["uptime"] is None and data["pid"] is None and data["last_exit"] is None
    assert data["restart_limit_reached"] is True


def write(tmp_path: Path, instances: list[str], data_dir: str = "data") -> Config:
    doc = {
        "settings": {"data_dir": str(tmp_path / data_dir)},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:1"}},
        "arr": {
            n: {"type": "sonarr", "url": "http://127.0.0.1:1", "api_key": "k" * 32, "category": n}
            for n in instances
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


class Recorder:
    """Stands in for the XML-RPC client: records that an update was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    def reread_update(self) -> Any:
        self.calls += 1
        return type("R", (), {"added": [], "changed": [], "removed": []})()


def test_overrides_are_read_back_and_kept(tmp_path: Path) -> None:
    old = write(tmp_path, ["a", "b"])
    where = prepare(old, overrides={"manager-a": "/bin/echo 100%", "webui": "/bin/true"})
    assert current_overrides(old, where.programs) == {
        "manager-a": "/bin/echo 100%",
        "webui": "/bin/true",
    }

    client = Recorder()
    assert sync_programs(old, old, client) is None and client.calls == 0  # nothing changed

    new = write(tmp_path, ["a", "c"])
    assert sync_programs(old, new, client) is not None and client.calls == 1
    found = sections(where.programs.read_text())
    assert "program:manager-c" in found and "program:manager-b" not in found
    assert found["program:manager-a"]["command"] == "/bin/echo 100%%"  # escaped for supervisord
    assert found["program:webui"]["command"] == "/bin/true"


def test_a_change_of_the_bridge_itself_is_not_applied_from_inside(tmp_path: Path) -> None:
    old = write(tmp_path, ["a"])
    prepare(old)
    client = Recorder()
    moved = write(tmp_path, ["a"], data_dir="elsewhere")
    assert sync_programs(old, moved, client) is None and client.calls == 0
