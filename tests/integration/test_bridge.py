"""The real bridge (`qbitrr-mqtt bridge`) under a real supervisord, against a real Mosquitto.

The events listener and the store are real too; managers are stand-ins (see bridge_stack.py).
The test watches the broker from outside with an ``MqttProbe``, as Home Assistant would.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_stack import Stack, make_stack, wait_for

from qbitrr_mqtt import __version__
from qbitrr_mqtt.mqtt.testing import MqttProbe, Seen
from qbitrr_mqtt.mqtt.topics import Topics
from services.runners import start_mosquitto

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    handle = start_mosquitto(tmp_path / "mosquitto")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def stack(broker: Any) -> Iterator[Stack]:
    with make_stack(broker) as s:
        yield s


def topics(stack: Stack) -> Topics:
    return Topics(base=stack.base)


def probe(stack: Stack) -> MqttProbe:
    t = topics(stack)
    return MqttProbe(stack.broker.host, stack.broker.port, f"{t.base}/#", f"{t.prefix}/#")


def body(msg: Seen) -> Any:
    return json.loads(msg.payload) if msg.payload else None


def retained(stack: Stack, topic: str) -> Seen:
    """What a client connecting now gets for ``topic`` (the retained message)."""
    with MqttProbe(stack.broker.host, stack.broker.port, topic) as fresh:
        return fresh.wait_for(topic, lambda m: m.retain, timeout=60)


def request(
    watch: MqttProbe, stack: Stack, command: str, payload: str | bytes, transaction: Any
) -> dict[str, Any]:
    """Publish a request and return the response that echoes ``transaction``."""
    t = topics(stack)
    start = watch.mark()
    watch.publish(t.request(command), payload)
    msg = watch.wait_for(
        t.response(command),
        lambda m: json.loads(m.payload).get("transaction") == transaction,
        timeout=90,
        start=start,
    )
    return dict(json.loads(msg.payload))


def stale_device(stack: Stack, instance: str) -> tuple[str, str]:
    """A discovery message as an older run of ours would have left it."""
    t = topics(stack)
    payload = json.dumps({"o": {"name": "qbitrr-mqtt"}, "dev": {"ids": [t.node_id(instance)]}})
    return t.discovery(t.node_id(instance)), payload


def test_state_info_discovery_and_stale_devices(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    stack.instance("b")
    stale_topic, stale = stale_device(stack, "gone")
    foreign = f"{t.prefix}/device/someone_else/config"
    with MqttProbe(stack.broker.host, stack.broker.port, "x/none") as setup:
        setup.publish(stale_topic, stale, retain=True)
        setup.publish(foreign, json.dumps({"o": {"name": "other"}}), retain=True)
    with probe(stack) as watch:
        stack.start()
        watch.wait_for(t.bridge_state, lambda m: m.text() == "online", timeout=90)
        # The removed instance's device is cleared; another program's device is left alone.
        watch.wait_for(stale_topic, lambda m: m.payload == b"", timeout=60)
        # Every manager's process topic comes from the health the events listener recorded.
        pids = {name: stack.pid(f"manager-{name}") for name in ("a", "b")}
        for name, pid in pids.items():
            watch.wait_for(t.process(name), lambda m, p=pid: body(m)["pid"] == p, timeout=90)

    assert retained(stack, t.bridge_state).text() == "online"
    info = body(retained(stack, t.bridge_info))
    assert info["version"] == __version__ and sorted(info["instances"]) == ["a", "b"]
    assert info["started_at"] and isinstance(info["uptime"], int)
    assert isinstance(info["db_size"], int) and info["db_size"] > 0  # the HA "Database size"

    bridge = body(retained(stack, t.discovery(t.bridge_node_id)))
    assert bridge["dev"]["identifiers"] == [t.bridge_node_id]
    for name in ("a", "b"):
        device = body(retained(stack, t.discovery(t.node_id(name))))
        assert device["dev"]["via_device"] == t.bridge_node_id
        assert device["o"]["name"] == "qbitrr-mqtt"
        for component in device["cmps"].values():
            assert component["unique_id"] and component["p"]
        process = body(retained(stack, t.process(name)))
        assert process["state"] == "RUNNING" and process["pid"] == pids[name]
        assert process["restart_limit_reached"] is False and process["restart_count"] == 0
    assert body(retained(stack, foreign))["o"]["name"] == "other"


def test_process_topic_follows_kill_and_restart_limit(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    stack.instance("b", mode="crash", startretries=1)
    with probe(stack) as watch:
        stack.start()
        old = stack.pid("manager-a")
        watch.wait_for(t.process("a"), lambda m: body(m)["pid"] == old, timeout=90)
        start = watch.mark()
        os.kill(old, signal.SIGKILL)
        new = watch.wait_for(
            t.process("a"),
            lambda m: body(m)["state"] == "RUNNING" and body(m)["pid"] not in (None, old),
            timeout=90,
            start=start,
        )
        process = body(new)
        assert process["restart_count"] == 1
        assert "killed by a signal" in process["last_exit"]["description"]
        assert body(retained(stack, t.process("a")))["pid"] == process["pid"]

        limit = watch.wait_for(
            t.process("b"), lambda m: body(m)["restart_limit_reached"] is True, timeout=90
        )
        assert body(limit)["state"] == "FATAL"
        assert "startretries" in body(limit)["last_exit"]["description"]


def test_requests_restart_errors_and_inbox(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    with probe(stack) as watch:
        stack.start()
        watch.wait_for(t.bridge_state, lambda m: m.text() == "online", timeout=90)
        bridge = stack.pid("bridge")
        old = stack.pid("manager-a")

        answer = request(watch, stack, "restart", '{"instance": "a", "transaction": "r1"}', "r1")
        assert answer["status"] == "ok", answer
        assert answer["data"]["program"] == "manager-a" and answer["data"]["pid"] != old
        assert stack.pid("manager-a") == answer["data"]["pid"]

        bad = request(watch, stack, "restart", '{"instance": "nope", "transaction": "r2"}', "r2")
        assert bad["status"] == "error" and "unknown instance 'nope'" in bad["error"]
        wrong = request(
            watch, stack, "search", '{"instance": "a", "media_ids": "x", "transaction": 7}', 7
        )
        assert wrong["status"] == "error" and "media_ids" in wrong["error"]
        start = watch.mark()
        watch.publish(t.request("run_now"), b"{not json")
        junk = watch.wait_for(t.response("run_now"), start=start, timeout=90)
        assert body(junk)["status"] == "error" and "not valid JSON" in body(junk)["error"]
        unknown = request(watch, stack, "explode", '{"instance": "a", "transaction": "r3"}', "r3")
        assert unknown["status"] == "error" and "unknown command" in unknown["error"]

        # run_now goes to the inbox; a stand-in manager claims it and marks it done.
        store = stack.store()
        done = threading.Event()

        def consume() -> None:
            while not done.is_set():
                row = store.claim_next_command("a")
                if row is not None:
                    store.finish_command(row.id, {"cycle": "started", "by": "stand-in"})
                    return
                done.wait(0.1)

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        try:
            ran = request(watch, stack, "run_now", '{"instance": "a", "transaction": "n1"}', "n1")
        finally:
            done.set()
            consumer.join(10)
        assert ran["status"] == "ok", ran
        assert ran["data"]["state"] == "done"
        assert ran["data"]["result"] == {"cycle": "started", "by": "stand-in"}
        rows, _ = store.list_commands("a")
        assert [(r.command, r.source, r.transaction) for r in rows] == [("run_now", "mqtt", "n1")]

        # The same bridge process served all of that.
        assert stack.pid("bridge") == bridge
        assert "Traceback" not in stack.log("bridge")


def test_broker_restart_reload_and_clean_stop(stack: Stack) -> None:
    t = topics(stack)
    stack.instance("a")
    stack.instance("b")
    with probe(stack) as watch:
        stack.start()
        watch.wait_for(t.discovery(t.node_id("b")), timeout=90)
        bridge_pid, a = stack.pid("bridge"), stack.pid("manager-a")

        # A broker without persistence forgets every retained message: the bridge reconnects
        # and publishes state, discovery and process topics again.
        stack.broker.restart()
        start = watch.mark()
        watch.wait_for(t.bridge_state, lambda m: m.text() == "online", timeout=120, start=start)
        watch.wait_for(t.discovery(t.node_id("a")), lambda m: m.payload != b"", 120, start)
        watch.wait_for(t.process("a"), timeout=120, start=start)
        assert retained(stack, t.discovery(t.bridge_node_id)).payload
        assert stack.pid("bridge") == bridge_pid  # reconnected, not restarted

        # SIGHUP with c added and b removed: discovery follows, b's topics are cleared.
        stack.instance("c")
        del stack.arr["b"]
        stack.write_config()
        start = watch.mark()
        stack.client.signal("bridge", "HUP")
        watch.wait_for(t.discovery(t.node_id("c")), lambda m: m.payload != b"", 90, start)
        watch.wait_for(t.discovery(t.node_id("b")), lambda m: m.payload == b"", 90, start)
        watch.wait_for(t.process("b"), lambda m: m.payload == b"", 90, start)
        info = watch.wait_for(t.bridge_info, lambda m: "c" in body(m)["instances"], 90, start)
        assert sorted(body(info)["instances"]) == ["a", "c"]
        # supervisord follows: manager-c added (the real manager: no stand-in was given for
        # it), manager-b removed, manager-a untouched.
        wait_for(
            lambda: (
                {p.name for p in stack.client.status()} & {"manager-b", "manager-c"}
                == {"manager-c"}
            ),
            "programs updated",
        )
        assert stack.pid("manager-a") == a and stack.pid("bridge") == bridge_pid
        # The new instance is accepted by the router at once (validation uses the new config).
        answer = request(watch, stack, "stop", '{"instance": "c", "transaction": "s1"}', "s1")
        assert "unknown instance" not in (answer["error"] or "")

        # SIGTERM from supervisord: "stopped" (retained), exit 0, no last will.
        start = watch.mark()
        stack.client.stop("bridge")
        watch.wait_for(t.bridge_state, lambda m: m.text() == "stopped", timeout=60, start=start)
        assert retained(stack, t.bridge_state).text() == "stopped"
        info = stack.client.info("bridge")
        assert info.statename == "STOPPED" and info.exitstatus == 0
        assert "Traceback" not in stack.log("bridge")
