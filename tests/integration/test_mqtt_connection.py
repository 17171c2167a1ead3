"""MqttConnection against a real Mosquitto: last will, online/stopped, outbox across outages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.config.models import MqttConfig
from qbitrr_mqtt.mqtt.connection import MqttConnection
from qbitrr_mqtt.mqtt.outbox import MemoryOutbox
from qbitrr_mqtt.mqtt.payloads import StatePayload
from qbitrr_mqtt.mqtt.publisher import StatePublisher
from qbitrr_mqtt.mqtt.testing import MqttProbe
from qbitrr_mqtt.store import Store
from services.runners import MosquittoHandle, start_mosquitto

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoHandle]:
    """A private Mosquitto on a free port (this module stops and restarts it)."""
    with start_mosquitto(tmp_path / "mosquitto") as handle:
        yield handle


def settings(broker: Any, **kw: Any) -> MqttConfig:
    """A config for this test's broker, with topics no other test uses."""
    base = f"t{uuid.uuid4().hex[:8]}"
    return MqttConfig(port=broker.port, base_topic=base, client_id=base, keepalive=5, **kw)


def wait_until(predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)


CHILD = """
import sys, time
from qbitrr_mqtt.config.models import MqttConfig
from qbitrr_mqtt.mqtt.connection import MqttConnection
port, base = int(sys.argv[1]), sys.argv[2]
cfg = MqttConfig(port=port, base_topic=base, client_id=base, keepalive=5)
conn = MqttConnection.for_manager(cfg, "radarr")
assert conn.start(wait=60), "no connection"
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_sigkilled_process_turns_offline_by_last_will(broker, protocol):
    cfg = settings(broker)
    topic = f"{cfg.base_topic}/radarr/availability"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD.replace("keepalive=5", f'keepalive=5, protocol="{protocol}"'),
            str(broker.port),
            cfg.base_topic,
        ],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as probe:
            assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
            probe.wait_for(topic, lambda m: m.text() == "online")
            mark = probe.mark()
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
            # the broker notices after 1.5 keepalives (7.5 s) and publishes the will
            probe.wait_for(topic, lambda m: m.text() == "offline", timeout=90, start=mark)
        with MqttProbe("127.0.0.1", broker.port, topic) as fresh:
            seen = fresh.wait_for(topic)
            assert (seen.text(), seen.retain) == ("offline", True)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)


def test_online_after_connect_and_stopped_on_clean_exit(broker):
    cfg = settings(broker)
    with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as probe:
        bridge = MqttConnection.for_bridge(cfg)
        manager = MqttConnection.for_manager(cfg, "sonarr")
        try:
            assert bridge.start(wait=60) and manager.start(wait=60)
            probe.wait_for(f"{cfg.base_topic}/bridge/state", lambda m: m.text() == "online")
            probe.wait_for(f"{cfg.base_topic}/sonarr/availability", lambda m: m.text() == "online")
        finally:
            assert bridge.stop() is True  # the broker acknowledged "stopped"
            assert manager.stop() is True
        probe.wait_for(f"{cfg.base_topic}/bridge/state", lambda m: m.text() == "stopped")
    with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as fresh:
        assert fresh.wait_for(f"{cfg.base_topic}/bridge/state").text() == "stopped"
        assert fresh.wait_for(f"{cfg.base_topic}/sonarr/availability").text() == "offline"
    assert bridge.client_id == f"{cfg.client_id}-bridge"
    assert manager.client_id == f"{cfg.client_id}-manager-sonarr"


def test_second_identical_state_sends_nothing(broker):
    cfg = settings(broker)
    conn = MqttConnection.for_manager(cfg, "radarr")
    pub = StatePublisher(conn, conn.topics)
    state_topic = f"{cfg.base_topic}/radarr/state"
    with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as probe:
        try:
            assert conn.start(wait=60)
            state = StatePayload(counts={"seeding": 2}, queue_size=1, dry_run=True)
            assert pub.publish_state("radarr", state)
            sent = conn.stats().messages_sent + conn.stats().messages_queued
            assert not pub.publish_state("radarr", state)
            assert conn.stats().messages_sent + conn.stats().messages_queued == sent
            # a sentinel through the same ordered connection: anything sent before it has arrived
            conn.publish(f"{cfg.base_topic}/sentinel", "x")
            probe.wait_for(f"{cfg.base_topic}/sentinel")
            assert len(probe.on(state_topic)) == 1
        finally:
            conn.stop()


class GatedOutbox:
    """A real outbox whose flush waits until the test has its subscriber in place."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()

    def outbox_put(self, topic: str, payload: str, retain: bool) -> Any:
        return self.inner.outbox_put(topic, payload, retain)

    def outbox_take(self, limit: int) -> Any:
        self.gate.wait(120)
        return self.inner.outbox_take(limit)

    def outbox_delete(self, ids: Any) -> Any:
        return self.inner.outbox_delete(ids)

    @property
    def dropped(self) -> int:
        """What the inner outbox dropped at its bound (the connection reports it)."""
        return int(getattr(self.inner, "dropped", 0))


@pytest.fixture(params=["memory", "store"])
def outbox(request, tmp_path):
    if request.param == "memory":
        yield MemoryOutbox(limit=10000)
        return
    store = Store.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    yield store.scoped_outbox("manager-radarr")
    store.close()


def test_messages_published_while_broker_is_down_arrive_oldest_first(broker, outbox):
    cfg = settings(broker)
    gated = GatedOutbox(outbox)
    conn = MqttConnection.for_manager(cfg, "radarr", store=gated, reconnect_delay=(1, 2))
    events = f"{cfg.base_topic}/radarr/event"
    state = f"{cfg.base_topic}/radarr/state"
    try:
        gated.gate.set()
        assert conn.start(wait=60)
        gated.gate.clear()
        broker.stop()
        wait_until(lambda: not conn.connected, what="disconnect seen")
        for i in range(25):
            assert conn.publish(events, {"event_type": "removed", "n": i}) is False
        conn.publish(state, {"v": 1}, retain=True)
        conn.publish(state, {"v": 2}, retain=True)
        broker.restart()
        with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as probe:
            gated.gate.set()
            probe.wait_for(state, lambda m: m.text() == '{"v":2}')
            got = [m.text() for m in probe.on(events)]
            assert got == [f'{{"event_type":"removed","n":{i}}}' for i in range(25)]
            assert [m.text() for m in probe.on(state)][-1] == '{"v":2}'
            wait_until(lambda: conn.drained(), what="outbox drained")
            assert conn.publish(events, {"event_type": "removed", "n": 99}) is True  # direct again
            probe.wait_for(events, lambda m: '"n":99' in m.text())
        stats = conn.stats()
        assert stats.reconnects == 1 and stats.messages_flushed >= 26
        assert outbox.outbox_take(100) == []
    finally:
        gated.gate.set()
        conn.stop()


def test_outbox_keeps_the_newest_up_to_its_bound(broker):
    cfg = settings(broker)
    gated = GatedOutbox(MemoryOutbox(limit=5))
    conn = MqttConnection.for_manager(cfg, "radarr", store=gated, reconnect_delay=(1, 2))
    topic = f"{cfg.base_topic}/radarr/event"
    try:
        gated.gate.set()
        assert conn.start(wait=60)
        gated.gate.clear()
        broker.stop()
        wait_until(lambda: not conn.connected, what="disconnect seen")
        for i in range(8):
            conn.publish(topic, str(i))
        broker.restart()
        with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as probe:
            gated.gate.set()
            probe.wait_for(topic, lambda m: m.text() == "7")
            assert [m.text() for m in probe.on(topic)] == ["3", "4", "5", "6", "7"]
        assert conn.stats().outbox_dropped == 3
    finally:
        gated.gate.set()
        conn.stop()


class HoldAfterRead:
    """An outbox whose first read returns its rows only when the test opens the gate, so the
    flusher sends them into a connection that dropped meanwhile."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.holding = threading.Event()
        self.gate = threading.Event()

    def outbox_put(self, topic: str, payload: str, retain: bool) -> Any:
        return self.inner.outbox_put(topic, payload, retain)

    def outbox_take(self, limit: int) -> Any:
        rows = self.inner.outbox_take(limit)
        if rows and not self.gate.is_set():
            self.holding.set()
            self.gate.wait(120)
        return rows

    def outbox_delete(self, ids: Any) -> Any:
        return self.inner.outbox_delete(ids)


def test_messages_paho_could_not_send_are_confirmed_after_the_reconnect(broker):
    """paho keeps a QoS 1 message published on a lost connection (rc NO_CONN) and resends it
    after the reconnect; the outbox must then drain instead of waiting for it forever."""
    cfg = settings(broker)
    left_over = MemoryOutbox()
    for i in range(10):  # left by a previous run of the process
        left_over.outbox_put(f"{cfg.base_topic}/radarr/torrents/{i}", str(i), True)
    held = HoldAfterRead(left_over)
    conn = MqttConnection.for_manager(cfg, "radarr", store=held, reconnect_delay=(1, 2))
    try:
        assert conn.start(wait=60)
        assert held.holding.wait(60), "the flusher never read the outbox"
        broker.stop()
        wait_until(lambda: not conn.connected, what="disconnect seen")
        held.gate.set()  # the batch now goes to paho while there is no connection
        wait_until(lambda: conn.stats().messages_flushed == 10, what="batch handed to paho")
        broker.restart()
        wait_until(conn.drained, what="outbox drained after the reconnect")
        assert left_over.outbox_take(100) == []
        with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/#") as probe:
            for i in range(10):
                assert probe.wait_for(f"{cfg.base_topic}/radarr/torrents/{i}").text() == str(i)
            assert conn.publish(f"{cfg.base_topic}/radarr/event", "direct") is True
            probe.wait_for(f"{cfg.base_topic}/radarr/event", lambda m: m.text() == "direct")
    finally:
        held.gate.set()
        conn.stop()


def test_collect_retained_reads_exactly_what_the_broker_holds(broker):
    cfg = settings(broker)
    conn = MqttConnection.for_bridge(cfg)
    try:
        assert conn.start(wait=60)
        for i in range(30):
            conn.publish(f"{cfg.base_topic}/x/torrents/{i:02d}", str(i), retain=True)
        conn.publish(f"{cfg.base_topic}/x/torrents/05", "", retain=True)  # cleared
        conn.publish(f"{cfg.base_topic}/x/event", "not retained")
        wait_until(lambda: conn.drained(), what="sent")
        found = conn.collect_retained(f"{cfg.base_topic}/x/torrents/+", timeout=30)
        assert found is not None
        assert sorted(found) == [
            f"{cfg.base_topic}/x/torrents/{i:02d}" for i in range(30) if i != 5
        ]
        assert found[f"{cfg.base_topic}/x/torrents/07"] == b"7"
    finally:
        conn.stop()


def test_handlers_survive_a_broker_restart_and_a_failing_handler(broker):
    cfg = settings(broker)
    conn = MqttConnection.for_bridge(cfg, reconnect_delay=(1, 2))
    got: list[str] = []

    def boom(_msg: Any) -> None:
        raise RuntimeError("handler bug")

    try:
        conn.subscribe(f"{cfg.base_topic}/in/#", boom)
        conn.subscribe(f"{cfg.base_topic}/in/#", lambda m: got.append(m.text()))
        assert conn.start(wait=60)
        broker.restart()
        wait_until(lambda: conn.stats().reconnects == 1, what="reconnect")
        with MqttProbe("127.0.0.1", broker.port, f"{cfg.base_topic}/bridge/state") as probe:
            probe.wait_for(f"{cfg.base_topic}/bridge/state", lambda m: m.text() == "online")
            # the subscription is remade on connect, before "online" is acknowledged
            probe.publish(f"{cfg.base_topic}/in/a", "hello")
            wait_until(lambda: got == ["hello"], what="message handled")
        assert conn.stats().handler_errors == 1
    finally:
        conn.stop()


def test_a_burst_waits_for_acknowledgements_instead_of_piling_up_in_paho(broker, monkeypatch):
    """paho keeps every QoS 1 message until its PUBACK: a burst (a manager's first cycle
    publishes a topic per torrent) is handed over at most MAX_BACKLOG unacknowledged at a
    time, and every message still arrives, in order."""
    from qbitrr_mqtt.mqtt import connection

    monkeypatch.setattr(connection, "MAX_BACKLOG", 5, raising=False)
    cfg = settings(broker)
    conn = MqttConnection.for_manager(cfg, "radarr")
    topic = f"{cfg.base_topic}/burst"
    held: list[int] = []
    real_send = conn._send

    def counting(*args: Any, **kwargs: Any) -> Any:
        info = real_send(*args, **kwargs)
        held.append(len(conn._inflight))
        return info

    monkeypatch.setattr(conn, "_send", counting)
    with MqttProbe("127.0.0.1", broker.port, topic) as probe:
        try:
            assert conn.start(wait=60)
            wait_until(conn.drained, what="publishing straight to paho")  # no outbox batches
            held.clear()
            for i in range(200):
                conn.publish(topic, str(i))
            wait_until(lambda: len(probe.on(topic)) == 200, what="every message")
            assert [m.text() for m in probe.on(topic)] == [str(i) for i in range(200)]
            assert max(held) <= 5
        finally:
            conn.stop()
