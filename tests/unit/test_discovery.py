"""Home Assistant discovery payloads: every entity complete, templates matching our payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.mqtt.discovery import DiscoveryBuilder
from qbitrr_mqtt.mqtt.ha_models import REQUIRED_KEYS
from qbitrr_mqtt.mqtt.payloads import (
    EVENT_TYPES,
    ProcessPayload,
    StatePayload,
    bridge_info,
    canonical_json,
)
from qbitrr_mqtt.mqtt.requests import parse_request
from qbitrr_mqtt.mqtt.topics import Topics

DOC = {
    "arr": {
        "radarr-4k": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k1"},
        "sonarr": {"type": "sonarr", "url": "http://127.0.0.1:8989", "api_key": "k2"},
        "old": {
            "type": "lidarr",
            "url": "http://127.0.0.1:8686",
            "api_key": "k3",
            "enabled": False,
        },
    }
}


@pytest.fixture(scope="module")
def config():
    return config_from_dict(DOC)


@pytest.fixture(scope="module")
def messages(config):
    return {t: json.loads(p) for t, p in DiscoveryBuilder(config, "9.9.9").messages().items()}


def components(messages):
    for topic, msg in messages.items():
        for key, comp in msg["cmps"].items():
            yield topic, msg, key, comp


def test_one_retained_device_message_per_enabled_instance_plus_the_bridge(messages):
    assert sorted(messages) == [
        "homeassistant/device/qbitrr_bridge/config",
        "homeassistant/device/qbitrr_radarr-4k/config",
        "homeassistant/device/qbitrr_sonarr/config",
    ]


def test_devices_origin_and_via_device(messages):
    bridge = messages["homeassistant/device/qbitrr_bridge/config"]
    assert bridge["dev"]["identifiers"] == ["qbitrr_bridge"]
    for topic, msg in messages.items():
        assert msg["o"] == {"name": "qbitrr-mqtt", "sw_version": "9.9.9"}
        assert msg["dev"]["name"] and msg["dev"]["sw_version"] == "9.9.9"
        assert msg["avty_mode"] == "all" and msg["avty"]
        assert msg["qos"] == 1
        if "bridge" not in topic:
            node = topic.split("/")[2]
            assert msg["dev"]["identifiers"] == [node]
            assert msg["dev"]["via_device"] == "qbitrr_bridge"


def test_every_entity_is_complete_for_its_platform(messages):
    unique_ids = set()
    for _topic, _msg, key, comp in components(messages):
        platform = comp["p"]
        assert platform in REQUIRED_KEYS, key
        for required in REQUIRED_KEYS[platform]:
            assert comp.get(required), f"{key}: {platform} needs {required}"
        assert comp["unique_id"] not in unique_ids
        unique_ids.add(comp["unique_id"])
        assert comp["default_entity_id"] == f"{platform}.{comp['object_id']}"
        assert comp["object_id"].replace("_", "").isalnum() and comp["object_id"].islower()
        assert comp["name"]
        assert comp["qos"] == 1
        if key != "connection_state":
            assert comp["availability"], f"{key} has no availability"
            assert comp["availability_mode"] == "all"


def test_availability_is_bridge_and_instance_except_for_process_entities(messages):
    msg = messages["homeassistant/device/qbitrr_radarr-4k/config"]
    both = ["qbitrr/bridge/state", "qbitrr/radarr-4k/availability"]
    for key, comp in msg["cmps"].items():
        topics = [a["topic"] for a in comp["availability"]]
        expected = (
            ["qbitrr/bridge/state"] if key in ("running", "restart_limit", "restart") else both
        )
        assert topics == expected, key
        for a in comp["availability"]:
            assert (a["payload_available"], a["payload_not_available"]) == ("online", "offline")
    bridge = messages["homeassistant/device/qbitrr_bridge/config"]
    for key, comp in bridge["cmps"].items():
        if key != "connection_state":
            assert [a["topic"] for a in comp["availability"]] == ["qbitrr/bridge/state"]


def test_instance_entities_have_the_right_classes(messages):
    c = messages["homeassistant/device/qbitrr_radarr-4k/config"]["cmps"]
    for key in ("downloading", "stalled", "seeding", "queued", "errored"):
        assert c[key]["p"] == "sensor"
        assert c[key]["state_class"] == "measurement"
        assert c[key]["unit_of_measurement"] == "torrents"
        assert c[key]["state_topic"] == "qbitrr/radarr-4k/state"
    assert c["queue_size"]["state_class"] == "measurement"
    assert c["strikes"]["p"] == "sensor"
    assert (
        c["last_cycle_duration"]["device_class"],
        c["last_cycle_duration"]["unit_of_measurement"],
    ) == ("duration", "s")
    assert c["last_cycle"]["device_class"] == "timestamp"
    assert (c["running"]["p"], c["running"]["device_class"]) == ("binary_sensor", "running")
    assert c["running"]["state_topic"] == "qbitrr/radarr-4k/process"
    assert c["restart_limit"]["device_class"] == "problem"
    for key in ("qbit_connected", "arr_connected"):
        assert c[key]["device_class"] == "connectivity"
        assert c[key]["entity_category"] == "diagnostic"
    assert (c["restart"]["p"], c["restart"]["device_class"]) == ("button", "restart")
    assert c["restart"]["command_topic"] == "qbitrr/bridge/request/restart"
    assert c["run_now"]["command_topic"] == "qbitrr/bridge/request/run_now"
    assert c["search_missing"]["command_topic"] == "qbitrr/bridge/request/search"
    assert c["dry_run"]["p"] == "switch"
    assert c["dry_run"]["command_topic"] == "qbitrr/bridge/request/dry_run"
    assert c["actions"]["p"] == "event"
    assert c["actions"]["state_topic"] == "qbitrr/radarr-4k/event"
    assert c["actions"]["event_types"] == list(EVENT_TYPES)
    assert {"imported", "blocklisted", "removed", "re_searched", "would_remove"} <= set(EVENT_TYPES)


def test_buttons_and_switch_send_requests_the_router_accepts(config, messages):
    topics = Topics.from_config(config.mqtt)
    checked = 0
    for _topic, _msg, key, comp in components(messages):
        if "command_topic" not in comp:
            continue
        command = topics.command_of(comp["command_topic"])
        payloads = [comp[k] for k in ("payload_press", "payload_on", "payload_off") if k in comp]
        for payload in payloads:
            req = parse_request(command, payload.encode(), config)
            assert req.instance in ("radarr-4k", "sonarr"), key
            checked += 1
    assert checked == 2 * 5  # restart, run_now, search_missing, dry_run on + off
    on = parse_request(
        "dry_run",
        messages["homeassistant/device/qbitrr_sonarr/config"]["cmps"]["dry_run"]["payload_on"],
        config,
    )
    assert on.params == {"value": True} and on.instance == "sonarr"
    search = parse_request(
        "search",
        messages["homeassistant/device/qbitrr_sonarr/config"]["cmps"]["search_missing"][
            "payload_press"
        ],
        config,
    )
    assert search.params == {"missing": True}


def render(template: str, payload: str) -> str:
    """Render like Home Assistant: ``value`` is the text, ``value_json`` the parsed JSON."""
    env = ImmutableSandboxedEnvironment()
    try:
        value_json = json.loads(payload)
    except ValueError:
        value_json = None
    return env.from_string(template).render(value=payload, value_json=value_json).strip()


def test_templates_read_the_payloads_we_publish(config, messages):
    c = messages["homeassistant/device/qbitrr_radarr-4k/config"]["cmps"]
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    state = canonical_json(
        StatePayload(
            counts={"downloading": 2, "stalled": 1},
            queue_size=4,
            strikes=3,
            last_cycle_at=at,
            last_cycle_duration=1.23456,
            dry_run=True,
            qbit_connected=True,
        ).to_dict()
    )
    process = canonical_json(
        ProcessPayload(state="RUNNING", pid=12, restart_limit_reached=True).to_dict()
    )
    values = {
        k: render(
            comp["value_template"], process if comp["state_topic"].endswith("/process") else state
        )
        for k, comp in c.items()
        if "value_template" in comp
    }
    assert values["downloading"] == "2" and values["stalled"] == "1" and values["seeding"] == "0"
    assert values["queue_size"] == "4" and values["strikes"] == "3"
    assert datetime.fromisoformat(values["last_cycle"]) == at
    assert values["last_cycle_duration"] == "1.235"
    assert values["dry_run"] == c["dry_run"]["state_on"] == "ON"
    assert values["qbit_connected"] == "ON" and values["arr_connected"] == "OFF"
    assert values["running"] == "ON" and values["restart_limit"] == "ON"
    idle = canonical_json(StatePayload().to_dict())
    assert render(c["last_cycle"]["value_template"], idle) == "None"  # HA: unknown
    bridge = messages["homeassistant/device/qbitrr_bridge/config"]["cmps"]
    info = canonical_json(bridge_info(config, "9.9.9"))
    assert render(bridge["version"]["value_template"], info) == "9.9.9"
    assert render(bridge["instances"]["value_template"], info) == "3"
    assert render(bridge["connection_state"]["value_template"], "online") == "ON"
    assert render(bridge["connection_state"]["value_template"], "stopped") == "OFF"
    assert "password" not in info and "api_key" not in info


def test_custom_base_and_prefix(config):
    doc = {**DOC, "mqtt": {"base_topic": "home/qb", "discovery_prefix": "ha"}}
    msgs = DiscoveryBuilder(config_from_dict(doc), "1").messages()
    assert "ha/device/home_qb_sonarr/config" in msgs
    sonarr = json.loads(msgs["ha/device/home_qb_sonarr/config"])
    assert sonarr["cmps"]["downloading"]["state_topic"] == "home/qb/sonarr/state"
    assert sonarr["cmps"]["downloading"]["default_entity_id"] == "sensor.home_qb_sonarr_downloading"
    assert sonarr["dev"]["via_device"] == "home_qb_bridge"


def test_json_has_no_null_values(messages):
    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                assert v is not None
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(messages)
