"""An MQTT probe for tests and the demo: a plain client that records what it sees.

It lives here because this package is the only one importing paho; tests use it to watch a
real broker from the outside, the way Home Assistant or a user's script would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True, slots=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool

    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")


class MqttProbe:
    """Subscribe to filters on a broker and wait for messages, with generous deadlines."""

    def __init__(
        self,
        host: str,
        port: int,
        *filters: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[Seen] = []
        self._cond = threading.Condition()
        self._filters = filters or ("#",)
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"probe-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(30):
            self.close()
            raise TimeoutError(f"probe could not connect to {host}:{port}")

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object
    ) -> None:
        client.subscribe([(f, 1) for f in self._filters])
        # a marker proves the subscriptions are in place before the test goes on
        client.subscribe(f"probe/{id(self)}/ready", 1)
        client.publish(f"probe/{id(self)}/ready", "ready", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == f"probe/{id(self)}/ready":
            self._connected.set()
            return
        with self._cond:
            self.messages.append(Seen(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(30)

    def on(self, topic: str) -> list[Seen]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(
        self,
        topic: str,
        match: Callable[[Seen], bool] = lambda _m: True,
        timeout: float = 30.0,
        start: int = 0,
    ) -> Seen:
        """The first message on ``topic`` (from index ``start``) for which ``match`` is true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages[start:]:
                    if m.topic == topic and match(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.topic, m.text()[:80]) for m in self.messages if m.topic == topic]
                    raise TimeoutError(
                        f"no matching message on {topic} within {timeout}s; saw {seen}"
                    )
                self._cond.wait(left)

    def mark(self) -> int:
        """An index to pass as ``start`` to only look at later messages."""
        with self._cond:
            return len(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
