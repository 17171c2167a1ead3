"""docs/MQTT.md cannot go stale: every command, entity and event type the code has is on it,
and each entity's row says what discovery really publishes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.mqtt.discovery import DiscoveryBuilder
from qbitrr_mqtt.mqtt.ha_models import to_payload
from qbitrr_mqtt.mqtt.payloads import EVENT_TYPES
from qbitrr_mqtt.mqtt.requests import COMMANDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "MQTT.md"
CONFIG = config_from_dict(
    {"arr": {"radarr": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k"}}}
)


def section(title: str) -> str:
    """The text under the heading ``title`` up to the next heading of the same or higher level."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    assert match, f"docs/MQTT.md has no heading {title!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> dict[str, list[str]]:
    """First-column key (in backticks) -> the row's cells."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells:
            rows[cells[0].strip("`")] = cells
    return rows


def components() -> dict[str, dict[str, Any]]:
    builder = DiscoveryBuilder(CONFIG)
    out: dict[str, dict[str, Any]] = {}
    for device in (builder.instance(CONFIG.arr["radarr"]), builder.bridge()):
        out.update(to_payload(device)["cmps"])
    return out


def test_every_command_is_documented() -> None:
    rows = table_rows(section("Commands"))
    assert sorted(rows) == sorted(COMMANDS)


ENTITY_ROWS = {
    **table_rows(section("Per Arr instance")),
    **table_rows(section("The bridge")),
}


def test_every_entity_is_documented_and_nothing_else() -> None:
    assert sorted(ENTITY_ROWS) == sorted(components())


@pytest.mark.parametrize("key", sorted(components()))
def test_entity_row_matches_discovery(key: str) -> None:
    c = components()[key]
    _, platform, name, device_class, unit, state_class, category, _reads, avty = ENTITY_ROWS[key]
    assert platform == c["p"]
    assert device_class == c.get("device_class", "")
    assert unit == c.get("unit_of_measurement", "")
    assert state_class == c.get("state_class", "")
    assert category == c.get("entity_category", "")
    if key != "arr_connected":  # named after the instance's type; the doc lists all three
        assert name == c["name"]
    topics = [a["topic"].split("/")[-1] for a in c["availability"]]
    expected = {(): "none", ("state",): "bridge", ("state", "availability"): "bridge + manager"}
    assert avty == expected[tuple(topics)]


def test_every_event_type_is_documented() -> None:
    text = section("`<base>/<instance>/event`")
    documented = set(re.findall(r"`([a-z_]+)`", text))
    assert set(EVENT_TYPES) <= documented, set(EVENT_TYPES) - documented
