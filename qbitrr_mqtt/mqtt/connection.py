"""The one MQTT connection of a process (the only place paho's client is built).

Why it is more than ``paho.Client``:

* **Availability is the broker's job.** The last will (``offline``, retained) is set before
  connecting, on the process's availability topic, so a SIGKILLed process still turns
  ``offline`` after 1.5 keepalives. ``online`` is published after every (re)connect, and a clean
  :meth:`MqttConnection.stop` publishes ``stopped`` (bridge) / ``offline`` (manager) and waits
  for the broker's acknowledgement before disconnecting.
* **Nothing is lost while the broker is away.** A message published while disconnected goes to
  an outbox (the store's table when there is a store, else a bounded deque) and a flusher thread
  sends it oldest first after the next connect — but only once every message paho already held
  is acknowledged, so a state published before an outage never overwrites a newer one retained
  during it. Until the outbox is empty new messages queue behind it, keeping the order.
* **Acknowledgements are counted by message id.** paho keeps a QoS 1 message it could not send
  (``MQTT_ERR_NO_CONN``: the connection dropped between our check and the send) and resends it
  after the reconnect, but that message's ``MQTTMessageInfo.is_published()`` raises forever.
  So confirmation is tracked from ``on_publish`` (the broker's PUBACK) by mid, never from the
  info objects.
* **Handlers, not topics in callbacks.** Like Frigate's dispatcher, callers register
  ``filter -> handler``; subscriptions are remade on every connect; a failing handler is logged
  and never reaches paho's network thread.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..config.models import MqttConfig
from .outbox import FallbackOutbox, MemoryOutbox, OutboxItem, OutboxStore, as_item
from .payloads import canonical_json
from .topics import OFFLINE, ONLINE, STOPPED, Topics

#: Messages handed to paho and not yet acknowledged above which ``publish`` first waits for
#: acknowledgements: paho holds every QoS 1 message (topic, payload, info) until its PUBACK,
#: and a manager's first cycle at 10,000 torrents handed it 10,000 at once, ~10 MB that the
#: heap kept after they were freed (manager RSS 95 MB against 79 MB without MQTT).
MAX_BACKLOG = 200
#: Seconds ``publish`` waits for that room; then the message goes to the outbox, and the
#: flusher sends it (and what follows) once the broker caught up.
BACKLOG_WAIT = 5.0

log = logging.getLogger(__name__)

#: What :meth:`MqttConnection.publish` accepts; mappings and lists are sent as canonical JSON.
Payload = str | bytes | dict[str, Any] | list[Any] | None


@dataclass(frozen=True, slots=True)
class Message:
    """An incoming message, free of paho types."""

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 0

    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")


Handler = Callable[[Message], None]


@dataclass(slots=True)
class ConnectionStats:
    """Counters for metrics (read with :meth:`MqttConnection.stats`)."""

    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    messages_sent: int = 0
    messages_queued: int = 0
    messages_flushed: int = 0
    messages_received: int = 0
    handler_errors: int = 0
    outbox_dropped: int = 0


def encode_payload(payload: Payload) -> str:
    if payload is None:
        return ""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, bytes | bytearray):
        return bytes(payload).decode("utf-8", "replace")
    return canonical_json(payload)


class MqttConnection:
    """One paho client per process, client id ``<client_id>-<process>``."""

    def __init__(
        self,
        config: MqttConfig,
        process: str,
        *,
        availability_topic: str | None = None,
        stop_payload: str = OFFLINE,
        store: OutboxStore | None = None,
        reconnect_delay: tuple[int, int] = (1, 30),
        flush_batch: int = 100,
        confirm_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.topics = Topics.from_config(config)
        self.process = process
        self.client_id = f"{config.client_id}-{process}"
        self.availability_topic = availability_topic
        self.stop_payload = stop_payload
        self.outbox: OutboxStore = (
            FallbackOutbox(store, config.outbox_limit)
            if store is not None
            else MemoryOutbox(config.outbox_limit)
        )
        self.flush_batch = flush_batch
        self.confirm_timeout = confirm_timeout
        self._stats = ConnectionStats()
        self._slock = threading.Lock()
        self._handlers: dict[str, list[tuple[Handler, int]]] = {}
        self._hlock = threading.Lock()
        self._connect_hooks: list[Callable[[], None]] = []
        self._plock = threading.RLock()  # one publisher at a time: keeps the order
        self._direct = False  # connected and the outbox is empty: publish straight to paho
        self._connected = threading.Event()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        # QoS 1 mids sent and not yet acknowledged; acks that beat their _track call; mids
        # given up on after confirm_timeout (their late ack must not count for a reused mid)
        self._inflight: set[int] = set()
        self._acked_early: set[int] = set()
        self._abandoned: set[int] = set()
        self._ulock = threading.Lock()
        self._queued_seq = 0  # outbox puts so far (under _plock): the flusher's "nothing new"
        self._pending_ids: list[Any] = []
        self._started = self._stopped = False
        self._flusher: threading.Thread | None = None
        self._client = self._make_client(reconnect_delay)

    @classmethod
    def for_bridge(
        cls, config: MqttConfig, store: OutboxStore | None = None, **kw: Any
    ) -> MqttConnection:
        topics = Topics.from_config(config)
        return cls(
            config,
            "bridge",
            availability_topic=topics.bridge_state,
            stop_payload=STOPPED,
            store=store,
            **kw,
        )

    @classmethod
    def for_manager(
        cls, config: MqttConfig, instance: str, store: OutboxStore | None = None, **kw: Any
    ) -> MqttConnection:
        topics = Topics.from_config(config)
        return cls(
            config,
            f"manager-{instance}",
            availability_topic=topics.availability(instance),
            stop_payload=OFFLINE,
            store=store,
            **kw,
        )

    # --- lifecycle ------------------------------------------------------------------------
    def _make_client(self, reconnect_delay: tuple[int, int]) -> mqtt.Client:
        cfg = self.config
        protocol = mqtt.MQTTv5 if str(cfg.protocol) == "5" else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            reconnect_on_failure=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(
                ca_certs=cfg.tls_ca,
                cert_reqs=ssl.CERT_NONE if cfg.tls_insecure else ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(cfg.tls_insecure)
        if self.availability_topic:
            client.will_set(self.availability_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(*reconnect_delay)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self, wait: float | None = None) -> bool:
        """Connect in the background (retrying with backoff); optionally wait for the first."""
        if not self._started:
            self._started = True
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"mqtt-outbox-{self.process}", daemon=True
            )
            self._flusher.start()
            self._client.connect_async(self.config.host, self.config.port, self.config.keepalive)
            self._client.loop_start()
        return self.wait_connected(wait) if wait else self.connected

    def stop(self, timeout: float = 5.0) -> bool:
        """Drain the outbox briefly, say ``stopped``/``offline``, disconnect cleanly.

        Returns True when the broker acknowledged the goodbye (so it is retained, and the will
        is not sent). Messages still waiting stay in a store outbox for the next start.
        """
        if not self._started or self._stopped:
            return False
        self._stopped = True
        deadline = time.monotonic() + timeout
        while self.connected and not self.drained() and time.monotonic() < deadline - timeout / 2:
            self._wake.set()
            time.sleep(0.02)
        self._stopping.set()
        confirmed = False
        if self.availability_topic and self.connected:
            with self._plock:
                info = self._send(self.availability_topic, self.stop_payload, retain=True)
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                confirmed = info.is_published()
            except (ValueError, RuntimeError) as exc:
                log.warning("MQTT: could not publish %r on stop: %s", self.stop_payload, exc)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._direct = False
        self._wake.set()
        if self._flusher:
            self._flusher.join(timeout=5)
        return confirmed

    def __enter__(self) -> MqttConnection:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    def add_connect_hook(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after every (re)connect, on paho's thread: keep it short."""
        self._connect_hooks.append(hook)

    def stats(self) -> ConnectionStats:
        with self._slock:
            snap = ConnectionStats(**asdict(self._stats))
        snap.connected = self.connected
        snap.outbox_dropped = int(getattr(self.outbox, "dropped", 0))
        return snap

    def _count(self, name: str, n: int = 1) -> None:
        with self._slock:
            setattr(self._stats, name, getattr(self._stats, name) + n)

    # --- paho callbacks (network thread) --------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._count("connect_failures")
            log.warning(
                "MQTT broker %s:%s refused us: %s", self.config.host, self.config.port, reason
            )
            return
        self._count("connects")
        if self._stats.connects > 1:
            self._count("reconnects")
        log.info(
            "MQTT connected to %s:%s as %s", self.config.host, self.config.port, self.client_id
        )
        self._connected.set()
        with self._hlock:
            subs = [(f, max(q for _, q in hs)) for f, hs in self._handlers.items() if hs]
        if subs:  # before "online": a process that says online takes requests
            client.subscribe(subs)
        if self.availability_topic:
            self._send(self.availability_topic, ONLINE, retain=True)
        for hook in list(self._connect_hooks):
            try:
                hook()
            except Exception:
                log.exception("MQTT connect hook %r failed", hook)
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._direct = False
        if self._connected.is_set():
            self._count("disconnects")
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("MQTT connection lost (%s); reconnecting with backoff", reason)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        """The broker acknowledged message ``mid`` (a PUBACK, even one refusing it)."""
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker refused message %s: %s", mid, reason)
        with self._ulock:
            if mid in self._inflight:
                self._inflight.discard(mid)
            elif mid in self._abandoned:
                self._abandoned.discard(mid)
            else:  # acknowledged before the publishing thread got to _track it
                self._acked_early.add(mid)

    def _on_message(self, _c: mqtt.Client, _u: Any, raw: mqtt.MQTTMessage) -> None:
        try:
            msg = Message(raw.topic, bytes(raw.payload), bool(raw.retain), int(raw.qos))
        except UnicodeDecodeError:
            log.warning("MQTT: ignored a message whose topic is not UTF-8")
            return
        self._count("messages_received")
        with self._hlock:
            targets = [
                h
                for f, hs in self._handlers.items()
                if mqtt.topic_matches_sub(f, msg.topic)
                for h, _ in hs
            ]
        for handler in targets:
            try:
                handler(msg)
            except Exception:
                self._count("handler_errors")
                log.exception("MQTT handler for %s failed", msg.topic)

    # --- subscriptions --------------------------------------------------------------------
    def subscribe(
        self, topic_filter: str, handler: Handler, qos: int = 1, *, force: bool = False
    ) -> None:
        """Call ``handler`` for every message matching ``topic_filter`` (kept across reconnects)."""
        with self._hlock:
            first = not self._handlers.get(topic_filter)
            self._handlers.setdefault(topic_filter, []).append((handler, qos))
        if (first or force) and self.connected:
            self._client.subscribe(topic_filter, qos)

    def unsubscribe(self, topic_filter: str, handler: Handler | None = None) -> None:
        with self._hlock:
            kept = [
                (h, q)
                for h, q in self._handlers.get(topic_filter, [])
                if handler is not None and h is not handler
            ]
            if kept:
                self._handlers[topic_filter] = kept
            else:
                self._handlers.pop(topic_filter, None)
        if not kept and self.connected:
            self._client.unsubscribe(topic_filter)

    def collect_retained(self, topic_filter: str, timeout: float = 5.0) -> dict[str, bytes] | None:
        """The retained messages matching ``topic_filter`` right now; None if not connected.

        After subscribing it publishes a private marker: the broker handles one client's packets
        in order, so the marker arrives after every retained message of the subscription.
        """
        if not self.wait_connected(timeout):
            return None
        found: dict[str, bytes] = {}
        done = threading.Event()
        marker = self.topics.sync_marker(f"{self.client_id}-{uuid.uuid4().hex}")

        def on_retained(msg: Message) -> None:
            if msg.retain:
                found[msg.topic] = msg.payload

        def on_marker(_msg: Message) -> None:
            done.set()

        self.subscribe(topic_filter, on_retained, force=True)
        self.subscribe(marker, on_marker)
        self._send(marker, "sync", retain=False)
        if not done.wait(timeout):
            log.warning("MQTT: reading retained %s timed out; using what arrived", topic_filter)
        self.unsubscribe(marker, on_marker)
        self.unsubscribe(topic_filter, on_retained)
        return dict(found)

    # --- publishing -----------------------------------------------------------------------
    def publish(self, topic: str, payload: Payload = None, *, retain: bool = False) -> bool:
        """Send at QoS 1, or queue in the outbox while disconnected. True when sent now."""
        text = encode_payload(payload)
        with self._plock:
            if (
                self._direct
                and self.connected
                and self._room()
                and _accepted(self._send(topic, text, retain))
            ):
                self._count("messages_sent")
                return True
            self.outbox.outbox_put(topic, text, retain)
            self._queued_seq += 1
            self._count("messages_queued")
        self._wake.set()
        return False

    def _room(self) -> bool:
        """Wait (under the publish lock) until paho holds fewer than MAX_BACKLOG unacknowledged
        messages; False after BACKLOG_WAIT or a lost connection, and publishing goes through
        the outbox from then on (in order: the flusher waits for the acknowledgements)."""
        deadline = None
        while True:
            with self._ulock:
                if len(self._inflight) < MAX_BACKLOG:
                    return True
            now = time.monotonic()
            deadline = deadline or now + BACKLOG_WAIT
            if now > deadline or not self.connected or self._stopping.is_set():
                self._direct = False
                return False
            time.sleep(0.002)

    def _send(self, topic: str, text: str, retain: bool) -> mqtt.MQTTMessageInfo:
        """Hand one QoS 1 message to paho and track its acknowledgement (every publish goes
        through here, so every PUBACK belongs to a tracked mid)."""
        info = self._client.publish(topic, text, qos=1, retain=retain)
        if _accepted(info):
            self._track(info.mid)
        return info

    def _track(self, mid: int) -> None:
        with self._ulock:
            if mid in self._acked_early:
                self._acked_early.discard(mid)
            else:
                self._inflight.add(mid)

    def _all_confirmed(self) -> bool:
        with self._ulock:
            return not self._inflight

    def drained(self) -> bool:
        """True when the outbox is empty and the broker acknowledged everything sent."""
        return self._direct and self._all_confirmed()

    def _wait_confirmed(self) -> bool:
        """Wait until paho's own messages are acknowledged (they predate the outbox)."""
        deadline = time.monotonic() + self.confirm_timeout
        while not self._all_confirmed():
            if not self.connected or self._stopping.is_set():
                return False
            if time.monotonic() > deadline:
                log.warning(
                    "MQTT: messages unacknowledged for %ss; flushing anyway", self.confirm_timeout
                )
                with self._ulock:
                    self._abandoned |= self._inflight
                    self._inflight.clear()
                return True
            time.sleep(0.02)
        return True

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                while not self._stopping.is_set() and self._flush_once():
                    pass
            except Exception:
                log.exception("MQTT outbox flush failed; will retry")
                time.sleep(1)

    def _flush_once(self) -> bool:
        """Send one batch of the outbox; False when there is nothing (more) to do now.

        The outbox is read without holding the publish lock (a slow store must not stall
        publishers); only the switch to direct publishing takes it, and only when no message
        was queued since the empty read.
        """
        if not self.connected or self._direct:
            return False
        if not self._wait_confirmed():
            return False
        if self._pending_ids:  # the previous batch is acknowledged: forget it
            self.outbox.outbox_delete(self._pending_ids)
            self._pending_ids = []
        seen = self._queued_seq
        items = [as_item(row) for row in self.outbox.outbox_take(self.flush_batch)]
        if not items:
            with self._plock:
                if self._queued_seq != seen:
                    return True  # queued meanwhile: read again
                self._direct = self.connected
            return False
        sent = self._send_batch(items)
        self._count("messages_sent", sent)
        self._count("messages_flushed", sent)
        return True

    def _send_batch(self, items: list[OutboxItem]) -> int:
        """Publish ``items`` in order, stopping at the first paho refuses (it stays queued);
        remembers the ids paho holds, deleted once the broker acknowledged them."""
        for n, item in enumerate(items):
            if not _accepted(self._send(item.topic, item.payload, item.retain)):
                log.warning("MQTT: paho refused %s; retrying after the next connect", item.topic)
                self._pending_ids = [i.id for i in items[:n]]
                time.sleep(0.5)
                return n
        self._pending_ids = [item.id for item in items]
        return len(items)


def _accepted(info: mqtt.MQTTMessageInfo) -> bool:
    """paho holds the message: sent, or kept for the reconnect (``NO_CONN`` at QoS 1)."""
    return info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
