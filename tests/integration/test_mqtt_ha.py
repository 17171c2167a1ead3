"""Home Assistant's view of the stack, read from a real Mosquitto (issue 4, "what it must show").

The real bridge runs under a real supervisord (``bridge_stack``); the broker is watched from
outside with an ``MqttProbe``, the way Home Assistant sees it. Managers are stand-ins except in
the dry-run test, where the real manager answers the switch. What ``test_bridge`` already
covers (process topics, stale devices with a synthetic payload, reload) is not repeated.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_stack import Stack, make_stack
from real_manager_stack import RealManagerStack, make_real_stack

from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.mqtt.discovery import DiscoveryBuilder
from qbitrr_mqtt.mqtt.ha_models import REQUIRED_KEYS
from qbitrr_mqtt.mqtt.payloads import EVENT_TYPES
from qbitrr_mqtt.mqtt.requests import COMMANDS, MAX_PAYLOAD
from qbitrr_mqtt.mqtt.testing import MqttProbe, Seen
from qbitrr_mqtt.mqtt.topics import Topics
from services.runners import start_mosquitto

pytestmark = pytest.mark.slow

H = "0123456789abcdef0123456789abcdef01234567"
#: Entity keys of one instance device and of the bridge device (what HA users see).
INSTANCE_ENTITIES = {
    "downloading",
    "stalled",
    "seeding",
    "queued",
    "errored",
    "queue_size",
    "strikes",
    "last_cycle_duration",
    "last_cycle",
    "running",
    "restart_limit",
    "problem",
    "qbit_connected",
    "arr_connected",
    "restart",
    "run_now",
    "search_missing",
    "dry_run",
    "actions",
}
BRIDGE_ENTITIES = {"connection_state", "version", "instances", "database_size"}
#: One valid body per inbox command (the supervisord ones only need the instance).
INBOX_BODIES: dict[str, dict[str, Any]] = {
    "run_now": {},
    "search": {"media_ids": [7, 3]},
    "dry_run": {"value": False},
    "recheck": {"hash": H},
    "remove": {"hash": H, "blocklist": True},
    "protect": {"hash": H},
    "log_level": {"value": "DEBUG"},
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    with start_mosquitto(tmp_path / "mosquitto") as handle:
        yield handle


@pytest.fixture
def stack(broker: Any) -> Iterator[Stack]:
    with make_stack(broker) as s:
        yield s


def topics(stack: Stack) -> Topics:
    return Topics(base=stack.base)


def watch(stack: Stack) -> MqttProbe:
    t = topics(stack)
    return MqttProbe(stack.broker.host, stack.broker.port, f"{t.base}/#", f"{t.prefix}/#")


def body(msg: Seen) -> Any:
    return json.loads(msg.payload) if msg.payload else None


def retained(stack: Stack, topic: str) -> Seen:
    """What a client connecting now gets for ``topic``."""
    with MqttProbe(stack.broker.host, stack.broker.port, topic) as fresh:
        return fresh.wait_for(topic, lambda m: m.retain, timeout=60)


def retained_all(stack: Stack, topic_filter: str) -> dict[str, bytes]:
    """Every retained message under ``topic_filter``. The probe is ready once its own marker
    came back, and the broker sends a subscription's retained messages before that marker."""
    with MqttProbe(stack.broker.host, stack.broker.port, topic_filter) as fresh:
        return {m.topic: m.payload for m in fresh.messages if m.retain}


def request(probe: MqttProbe, stack: Stack, command: str, payload: Any, transaction: Any) -> Any:
    """Publish a request (``payload``: dict, or raw text/bytes) and return the response that
    echoes ``transaction``."""
    t = topics(stack)
    raw = json.dumps(payload) if isinstance(payload, dict) else payload
    start = probe.mark()
    probe.publish(t.request(command), raw)
    msg = probe.wait_for(
        t.response(command),
        lambda m: json.loads(m.payload).get("transaction") == transaction,
        timeout=90,
        start=start,
    )
    return json.loads(msg.payload)


def next_response(probe: MqttProbe, stack: Stack, command: str, payload: str | bytes) -> Any:
    """Publish a request no transaction can be read from; the next response is its answer."""
    t = topics(stack)
    start = probe.mark()
    probe.publish(t.request(command), payload)
    return body(probe.wait_for(t.response(command), start=start, timeout=90))


def check_component(key: str, c: dict[str, Any], request_head: str) -> None:
    """What Home Assistant needs of one entity of a device discovery message."""
    platform = c["p"]
    assert platform in REQUIRED_KEYS, (key, platform)
    for required in REQUIRED_KEYS[platform]:
        assert c.get(required), f"{key}: {platform} needs {required}"
    assert c["unique_id"].endswith(f"_{key}")
    assert c["default_entity_id"].startswith(f"{platform}.")
    assert isinstance(c["availability"], list)
    for avty in c["availability"]:
        assert avty["topic"] and avty["payload_available"] == "online"
    if c["availability"]:
        assert c["availability_mode"] == "all"
    if c.get("device_class") == "timestamp":
        assert "unit_of_measurement" not in c and "state_class" not in c
    if c.get("device_class") == "duration":
        assert c["unit_of_measurement"] in ("s", "min", "h", "d")
    if platform == "event":
        assert set(c["event_types"]) <= set(EVENT_TYPES) and c["event_types"]
    if platform in ("button", "switch"):
        assert c["command_topic"].startswith(request_head)
    assert c.get("entity_category") in (None, "config", "diagnostic")


def test_discovery_read_back_from_the_broker_is_complete(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("films")
    stack.instance("shows")
    stack.arr["shows"]["type"] = "sonarr"
    with watch(stack) as probe:
        stack.start()
        for node in (t.bridge_node_id, t.node_id("films"), t.node_id("shows")):
            probe.wait_for(t.discovery(node), lambda m: m.payload != b"", timeout=90)

    bridge = body(retained(stack, t.discovery(t.bridge_node_id)))
    assert bridge["dev"]["identifiers"] == [t.bridge_node_id] and bridge["dev"]["name"]
    assert bridge["o"]["name"] == "qbitrr-mqtt" and bridge["o"]["sw_version"]
    assert set(bridge["cmps"]) == BRIDGE_ENTITIES
    assert bridge["avty"] == [
        {"topic": t.bridge_state, "payload_available": "online", "payload_not_available": "offline"}
    ]
    unique_ids = []
    head = f"{t.base}/bridge/request/"
    for key, c in bridge["cmps"].items():
        check_component(key, c, head)
        unique_ids.append(c["unique_id"])
    # the connectivity sensor is the one entity without availability (it must show "off")
    assert bridge["cmps"]["connection_state"]["availability"] == []
    assert bridge["cmps"]["connection_state"]["state_topic"] == t.bridge_state

    for name, kind in (("films", "Radarr"), ("shows", "Sonarr")):
        device = body(retained(stack, t.discovery(t.node_id(name))))
        dev = device["dev"]
        assert dev["identifiers"] == [t.node_id(name)] and dev["via_device"] == t.bridge_node_id
        assert dev["model"] == f"{kind} manager" and name in dev["name"]
        assert device["o"]["name"] == "qbitrr-mqtt"
        assert set(device["cmps"]) == INSTANCE_ENTITIES
        for key, c in device["cmps"].items():
            check_component(key, c, head)
            unique_ids.append(c["unique_id"])
            topics_used = [a["topic"] for a in c["availability"]]
            if key in ("running", "restart_limit", "restart"):  # about the process: bridge only
                assert topics_used == [t.bridge_state]
            else:
                assert topics_used == [t.bridge_state, t.availability(name)]
        cmps = device["cmps"]
        assert cmps["arr_connected"]["name"] == f"{kind} connected"
        assert cmps["restart"]["device_class"] == "restart"
        assert cmps["restart_limit"]["device_class"] == "problem"
        assert cmps["running"]["device_class"] == "running"
        assert cmps["last_cycle"]["device_class"] == "timestamp"
        assert cmps["dry_run"]["state_topic"] == t.state(name)
        assert cmps["actions"]["state_topic"] == t.event(name)
        assert {cmps[k]["state_class"] for k in ("seeding", "queue_size", "strikes")} == {
            "measurement"
        }
    assert len(unique_ids) == len(set(unique_ids)), "unique_id values must be unique"


def consume_inbox(stack: Stack, instance: str, stop: threading.Event) -> threading.Thread:
    """A stand-in manager: claims every inbox command and finishes it with what it got."""
    store = stack.store()

    def loop() -> None:
        try:
            while not stop.is_set():
                row = store.claim_next_command(instance)
                if row is None:
                    stop.wait(0.05)
                    continue
                payload = json.loads(row.payload or "{}")
                store.finish_command(row.id, {"command": row.command, "payload": payload})
        finally:
            store.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_every_command_round_trips_with_its_transaction(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    assert set(INBOX_BODIES) | {"restart", "start", "stop"} == set(COMMANDS)
    stop = threading.Event()
    with watch(stack) as probe:
        stack.start()
        probe.wait_for(t.bridge_state, lambda m: m.text() == "online", timeout=90)
        old = stack.pid("manager-a")

        restarted = request(probe, stack, "restart", {"instance": "a", "transaction": "t-1"}, "t-1")
        assert restarted["status"] == "ok" and restarted["error"] is None, restarted
        assert restarted["data"]["pid"] not in (None, old)
        assert stack.pid("manager-a") == restarted["data"]["pid"]

        stopped = request(probe, stack, "stop", {"instance": "a", "transaction": 2}, 2)
        assert stopped["status"] == "ok", stopped
        assert stack.client.info("manager-a").statename == "STOPPED"
        started = request(probe, stack, "start", {"instance": "a", "transaction": 3.5}, 3.5)
        assert started["status"] == "ok", started
        assert stack.pid("manager-a") not in (old, restarted["data"]["pid"])

        consumer = consume_inbox(stack, "a", stop)
        try:
            for n, (command, extra) in enumerate(INBOX_BODIES.items()):
                transaction = f"{command}-{n}"
                answer = request(
                    probe,
                    stack,
                    command,
                    {"instance": "a", "transaction": transaction, **extra},
                    transaction,
                )
                assert answer["status"] == "ok", answer
                assert answer["data"]["state"] == "done" and answer["data"]["instance"] == "a"
                assert answer["data"]["result"]["command"] == command
                for key, value in extra.items():
                    assert answer["data"]["result"]["payload"][key] == value
        finally:
            stop.set()
            consumer.join(10)
    store = stack.store()
    try:
        rows, _ = store.list_commands("a")
        assert sorted((r.command, r.source, r.transaction) for r in rows) == sorted(
            (c, "mqtt", f"{c}-{n}") for n, c in enumerate(INBOX_BODIES)
        )
    finally:
        store.close()


def test_malformed_requests_get_errors_while_the_bridge_keeps_serving(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    with watch(stack) as probe:
        stack.start()
        probe.wait_for(t.bridge_state, lambda m: m.text() == "online", timeout=90)
        bridge = stack.pid("bridge")

        def error(command: str, payload: dict[str, Any], transaction: Any) -> str:
            sent = {**payload, "transaction": transaction}
            answer = request(probe, stack, command, sent, transaction)
            assert answer["status"] == "error" and answer["data"] == {}, answer
            return str(answer["error"])

        assert "not valid JSON" in next_response(probe, stack, "run_now", b"{not json")["error"]
        assert "not valid JSON" in next_response(probe, stack, "run_now", b"\xff\xfe")["error"]
        assert "JSON object" in next_response(probe, stack, "run_now", b"[1, 2]")["error"]
        assert "JSON object" in next_response(probe, stack, "run_now", b"")["error"]
        big = next_response(probe, stack, "run_now", b"{" + b" " * (1024 * 1024) + b"}")
        assert big["status"] == "error" and f"{MAX_PAYLOAD}-byte limit" in big["error"]

        assert "media_ids" in error("search", {"instance": "a", "media_ids": "7"}, "w1")
        assert "'value' must be true or false" in error(
            "dry_run", {"instance": "a", "value": "yes"}, "w2"
        )
        assert "info hash" in error("recheck", {"instance": "a", "hash": "zz"}, "w3")
        assert "'instance' is required" in error("run_now", {"instance": 5}, "w4")
        assert "unexpected key" in error("run_now", {"instance": "a", "media_id": 1}, "w5")
        assert "exactly one of" in error("search", {"instance": "a"}, "w6")
        assert "unknown instance 'nope'" in error("restart", {"instance": "nope"}, "u1")
        assert "unknown command 'explode'" in error("explode", {"instance": "a"}, "u2")
        assert "unknown command ''" in error("", {"instance": "a"}, "u3")
        assert "cannot restart, start or stop itself" in error(
            "restart", {"instance": "bridge"}, "u4"
        )

        # still serving, in the same process, without a traceback
        answer = request(probe, stack, "restart", {"instance": "a", "transaction": "ok"}, "ok")
        assert answer["status"] == "ok", answer
        assert stack.pid("bridge") == bridge
        assert "Traceback" not in stack.log("bridge")


def test_ha_online_republishes_discovery_and_states(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    with watch(stack) as probe:
        stack.start()
        probe.wait_for(t.discovery(t.node_id("a")), timeout=90)
        probe.wait_for(t.process("a"), timeout=90)
        probe.wait_for(t.bridge_info, timeout=90)
        start = probe.mark()
        probe.publish(t.ha_status, "online")  # Home Assistant's birth message (not retained)
        for topic in (
            t.discovery(t.bridge_node_id),
            t.discovery(t.node_id("a")),
            t.process("a"),
            t.bridge_info,
        ):
            again = probe.wait_for(topic, lambda m: m.payload != b"", timeout=60, start=start)
            assert not again.retain  # a live message, not the broker replaying what it held
        device = body(probe.wait_for(t.discovery(t.node_id("a")), start=start))
        assert set(device["cmps"]) == INSTANCE_ENTITIES


def test_start_clears_discovery_of_instances_no_longer_configured(stack: Stack) -> None:
    """A previous run published devices a, b and c; now only a is configured."""
    t = topics(stack)
    stack.instance("a")
    earlier = config_from_dict(
        {
            "mqtt": {"base_topic": stack.base},
            "arr": {
                name: {"type": "radarr", "url": "http://127.0.0.1:1", "api_key": "k"}
                for name in ("a", "b", "c")
            },
        }
    )
    old = DiscoveryBuilder(earlier).messages()
    assert t.discovery(t.node_id("b")) in old and t.discovery(t.node_id("c")) in old
    with MqttProbe(stack.broker.host, stack.broker.port, "x/none") as setup:
        for topic, payload in old.items():
            setup.publish(topic, payload, retain=True)
    with watch(stack) as probe:
        stack.start()
        for gone in ("b", "c"):
            probe.wait_for(t.discovery(t.node_id(gone)), lambda m: m.payload == b"", timeout=90)
    held = retained_all(stack, t.discovery_filter)
    assert sorted(held) == sorted([t.discovery(t.bridge_node_id), t.discovery(t.node_id("a"))])
    assert body(retained(stack, t.discovery(t.node_id("a"))))["cmps"]


@pytest.fixture
def real_stack(broker: Any) -> Iterator[RealManagerStack]:
    """A stack in which manager ``a`` is the real one."""
    with make_real_stack(broker, {"a"}) as stack:
        yield stack


def test_dry_run_switch_follows_the_real_setting(real_stack: RealManagerStack) -> None:
    """The switch, pressed the way Home Assistant does it, changes the real manager's mode,
    and the switch's state (the manager's state topic) follows."""
    stack = real_stack
    t = topics(stack)
    stack.instance("a")
    with watch(stack) as probe:
        stack.start()
        device = body(probe.wait_for(t.discovery(t.node_id("a")), timeout=90))
        switch = device["cmps"]["dry_run"]
        assert switch["state_topic"] == t.state("a")
        state = probe.wait_for(t.state("a"), lambda m: body(m) is not None, timeout=120)
        assert body(state)["dry_run"] is True  # settings.dry_run of the stack
        probe.wait_for(t.availability("a"), lambda m: m.text() == "online", timeout=60)

        for payload, expected in (
            (switch["payload_off"], False),
            (switch["payload_on"], True),
            (switch["payload_off"], False),
        ):
            start = probe.mark()
            probe.publish(switch["command_topic"], payload)
            answer = body(probe.wait_for(t.response("dry_run"), start=start, timeout=90))
            assert answer["status"] == "ok", answer
            assert answer["data"]["result"] == {"dry_run": expected}
            probe.wait_for(t.state("a"), lambda m, e=expected: body(m)["dry_run"] is e, 90, start)
    assert body(retained(stack, t.state("a")))["dry_run"] is False
    assert "Traceback" not in stack.log("manager-a")
