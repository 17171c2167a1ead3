"""Hostile MQTT traffic against the real bridge under a real supervisord and Mosquitto.

Garbage is left retained on every topic the bridge reads before it starts; then fuzzed
requests arrive on ``<base>/bridge/request/<command>``: random bytes, deep JSON, payloads far
over the limit, unicode, wrong types, unknown commands and instances. Each gets an error
response; afterwards the same bridge process still answers a valid request, and its log has
no traceback.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_stack import Stack, make_stack, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbitrr_mqtt.mqtt.requests import COMMANDS, MAX_PAYLOAD, MAX_TRANSACTION_CHARS
from qbitrr_mqtt.mqtt.testing import MqttProbe
from qbitrr_mqtt.mqtt.topics import Topics
from services.runners import start_mosquitto

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Left retained on a request topic: were it carried out, manager-a would restart.
STALE_RESTART = {"instance": "a", "transaction": "stale-restart"}


class Bridge:
    """The running stack, a probe on everything the bridge answers, and the topics."""

    def __init__(self, stack: Stack, watch: MqttProbe) -> None:
        self.stack = stack
        self.watch = watch
        self.topics = Topics(base=stack.base)

    def ask(self, command: str, payload: bytes | str) -> dict[str, Any]:
        """Publish one request and return the next response on its topic."""
        start = self.watch.mark()
        self.watch.publish(self.topics.request(command), payload)
        msg = self.watch.wait_for(self.topics.response(command), timeout=90, start=start)
        return dict(json.loads(msg.payload))

    def refused(self, command: str, payload: bytes | str) -> dict[str, Any]:
        answer = self.ask(command, payload)
        assert answer["status"] == "error", (command, payload[:200], answer)
        assert isinstance(answer["error"], str) and answer["error"], answer
        assert set(answer) == {"status", "data", "error", "transaction"}
        return answer


def leave_garbage(broker: Any, t: Topics) -> None:
    """Retained junk on the request topics and on everything the bridge reads or owns."""
    junk: dict[str, bytes | str] = {
        t.request("restart"): json.dumps(STALE_RESTART),
        t.request("run_now"): b"\xff\xfe\x00garbage",
        t.request("search"): '{"instance": "a", "media_ids": "x"}',
        t.request("no/such/command"): "[]",
        t.bridge_state: b"\xc3\x28",
        t.bridge_info: "{",
        t.ha_status: b"\x00online\x00",
        t.process("a"): "not json",
        t.discovery(t.node_id("gone")): b"\xff not json",
        t.discovery(t.node_id("a")): "[]",
        t.discovery(f"{t.node_base}_weird"): json.dumps({"o": "qbitrr-mqtt"}),
    }
    with MqttProbe(broker.host, broker.port, "x/none") as setup:
        for topic, payload in junk.items():
            setup.publish(topic, payload, retain=True)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    broker = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    try:
        with make_stack(broker) as stack:
            stack.instance("a")
            t = Topics(base=stack.base)
            leave_garbage(broker, t)
            with MqttProbe(broker.host, broker.port, f"{t.base}/#", f"{t.prefix}/#") as watch:
                stack.start()
                watch.wait_for(t.bridge_state, lambda m: m.text() == "online", timeout=90)
                yield Bridge(stack, watch)
    finally:
        broker.stop()


def test_retained_garbage_at_start_is_ignored(bridge: Bridge) -> None:
    t, stack = bridge.topics, bridge.stack
    log = wait_for(
        lambda: (text := stack.log("bridge")).count("ignored a retained request") >= 4 and text,
        "the bridge to pass over the four retained requests",
    )
    assert "Traceback" not in log
    # No response to any of them, and manager-a was never restarted by the stale request.
    assert not [
        m
        for m in bridge.watch.messages
        if m.topic.startswith(f"{t.base}/bridge/response/") and b"stale-restart" in m.payload
    ]
    assert stack.client.info("manager-a").statename == "RUNNING"
    supervisord = (stack.where.log_dir / "supervisord.log").read_text(errors="replace")
    assert "stopped: manager-a" not in supervisord and "waiting for manager-a" not in supervisord
    # The bridge overwrote what it owns and published its own discovery and process topics.
    assert bridge.watch.wait_for(t.bridge_info, lambda m: m.payload.startswith(b'{"')).payload
    device = bridge.watch.wait_for(t.discovery(t.node_id("a")), lambda m: m.payload != b"[]")
    assert json.loads(device.payload)["dev"]["identifiers"] == [t.node_id("a")]
    process = bridge.watch.wait_for(t.process("a"), lambda m: m.payload.startswith(b"{"))
    assert json.loads(process.payload)["restart_count"] == 0


# --- fuzzed requests ----------------------------------------------------------------------

commands = st.sampled_from([*COMMANDS, "explode", "", "RESTART", "ré-start", "a/b", "run_now/x"])
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "instance": st.one_of(st.sampled_from(["a", "nope", "bridge", "", "ä", "A"]), wrong_values),
        "transaction": st.one_of(st.text(max_size=400), st.integers(), st.none(), wrong_values),
        "media_ids": wrong_values,
        "missing": wrong_values,
        "value": st.one_of(st.sampled_from(["true", 1, 0]), wrong_values),
        "hash": st.one_of(
            st.text(alphabet=string.hexdigits, min_size=39, max_size=41), wrong_values
        ),
        "blocklist": wrong_values,
        "extra": wrong_values,
    },
)


def expected_error(body: dict[str, Any]) -> bool:
    """True for bodies that cannot be valid whatever the command (so no manager is needed)."""
    return body.get("instance") != "a" or "extra" in body


@settings(FUZZ)
@given(command=commands, data=st.binary(max_size=512))
def test_random_bytes(bridge: Bridge, command: str, data: bytes) -> None:
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("instance") == "a":
        return  # random bytes that happen to be a valid request: not this test's concern
    bridge.refused(command, data)


@settings(FUZZ)
@given(command=commands, body=bodies)
def test_wrong_types_unknown_commands_and_instances(
    bridge: Bridge, command: str, body: dict[str, Any]
) -> None:
    if not expected_error(body) and command in COMMANDS:
        body = {**body, "extra": 1}
    answer = bridge.refused(command, json.dumps(body))
    sent = body.get("transaction")
    if isinstance(sent, str):
        assert answer["transaction"] == sent[:MAX_TRANSACTION_CHARS], (command, body, answer)
    elif isinstance(sent, int | float | bool) or sent is None:
        assert answer["transaction"] == sent, (command, body, answer)


HOSTILE = {
    "deep-list": "[" * 100_000 + "]" * 100_000,
    "deep-object": '{"instance": ' + '{"a": ' * 20_000 + "1" + "}" * 20_000 + "}",
    "just-over-limit": '{"instance": "nope", "x": "' + "a" * MAX_PAYLOAD + '"}',
    "four-megabytes": b"{" + b" " * (4 * 1024 * 1024) + b"}",
    "nan": '{"instance": "a", "value": NaN}',
    "infinity": '{"instance": "a", "media_ids": [Infinity]}',
    "duplicate-keys": '{"instance": "a", "instance": "nope"}',
    "utf16": '{"instance": "a"}'.encode("utf-16"),
    "lone-surrogate": '{"instance": "\\ud800"}',
    "nul": '{"instance": "a\\u0000"}',
    "empty": b"",
    "whitespace": " \n\t ",
    "number": "42",
    "string": '"restart"',
    "many-ids": json.dumps({"instance": "nope", "media_ids": list(range(1, 100_000))}),
    "unicode-instance": json.dumps({"instance": "ラダー🎬", "transaction": "ü"}),
}


@pytest.mark.parametrize("payload", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("command", ["restart", "search", "dry_run"])
def test_hostile_payloads(bridge: Bridge, command: str, payload: str | bytes) -> None:
    answer = bridge.refused(command, payload)
    assert len(json.dumps(answer)) < 4096  # a refusal never echoes the payload back


def test_a_burst_is_answered_every_time(bridge: Bridge) -> None:
    """Many requests at once: each gets an answer (error or busy), none is dropped."""
    t = bridge.topics
    start = bridge.watch.mark()
    for i in range(150):
        bridge.watch.publish(
            t.request("restart"), json.dumps({"instance": "nope", "transaction": i})
        )
    got = wait_for(
        lambda: (
            (
                seen := {
                    json.loads(m.payload)["transaction"]
                    for m in bridge.watch.messages[start:]
                    if m.topic == t.response("restart")
                }
            )
            >= set(range(150))
            and seen
        ),
        "an answer to each of 150 requests",
        timeout=120,
    )
    assert got >= set(range(150))


def test_bridge_keeps_serving_after_all_that(bridge: Bridge, tmp_path: Path) -> None:
    """Runs last (file order): the same bridge answers a valid request correctly."""
    stack = bridge.stack
    before = stack.pid("bridge")
    old = stack.pid("manager-a")
    answer = bridge.ask("restart", json.dumps({"instance": "a", "transaction": "valid-1"}))
    assert answer["status"] == "ok", answer
    assert answer["transaction"] == "valid-1" and answer["data"]["program"] == "manager-a"
    assert answer["data"]["pid"] != old and stack.pid("manager-a") == answer["data"]["pid"]
    assert stack.pid("bridge") == before
    assert stack.client.info("bridge").statename == "RUNNING"
    log = stack.log("bridge")
    assert "Traceback" not in log and "internal error" not in log
