"""Where outgoing messages wait while the broker is unreachable.

:class:`MqttConnection` never drops a message because the broker is down: it appends it to an
outbox and sends the outbox oldest first after the next connect. The outbox is the store's
``Outbox`` table when the process has a store (it then survives a restart of the process),
with a bounded in-memory deque to fall back on when the store cannot take a message (a full
disk), and the deque alone otherwise. All speak the same three calls, the store's names.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class OutboxStore(Protocol):
    """The part of ``qbitrr_mqtt.store.Store`` the connection needs."""

    def outbox_put(self, topic: str, payload: str, retain: bool) -> Any: ...

    def outbox_take(self, limit: int) -> Sequence[Any]: ...

    def outbox_delete(self, ids: Iterable[Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One waiting message, whatever row type the outbox returned."""

    id: Any
    topic: str
    payload: str
    retain: bool


def as_item(row: Any) -> OutboxItem:
    """Read an outbox row: a store model (attributes), a mapping or a 4-tuple."""
    if isinstance(row, OutboxItem):
        return row
    if isinstance(row, dict):
        get = row.__getitem__
    elif isinstance(row, tuple | list):
        values = dict(zip(("id", "topic", "payload", "retain"), row, strict=False))
        get = values.__getitem__
    else:

        def get(key: str) -> Any:
            return getattr(row, key)

    payload = get("payload")
    if isinstance(payload, bytes | bytearray | memoryview):
        payload = bytes(payload).decode("utf-8", "replace")
    return OutboxItem(get("id"), str(get("topic")), payload or "", bool(get("retain")))


class MemoryOutbox:
    """A bounded FIFO with the store's outbox interface.

    Past ``limit`` the oldest message is dropped (and counted): a long outage must not grow a
    process without bound. ``take`` does not remove; ``delete`` does, after the broker confirmed.
    """

    def __init__(self, limit: int = 10000) -> None:
        self.limit = max(0, limit)
        self.dropped = 0
        self._items: deque[OutboxItem] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def outbox_put(self, topic: str, payload: str, retain: bool) -> int | None:
        with self._lock:
            if self.limit == 0:
                self.dropped += 1
                return None
            while len(self._items) >= self.limit:
                self._items.popleft()
                self.dropped += 1
            item = OutboxItem(next(self._ids), topic, payload, retain)
            self._items.append(item)
            return int(item.id)

    def outbox_take(self, limit: int) -> list[OutboxItem]:
        with self._lock:
            return list(itertools.islice(self._items, max(0, limit)))

    def outbox_delete(self, ids: Iterable[Any]) -> int:
        gone = set(ids)
        with self._lock:
            before = len(self._items)
            self._items = deque(i for i in self._items if i.id not in gone)
            return before - len(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class _InMemory:
    """The id of a message :class:`FallbackOutbox` kept in memory (never a store row id)."""

    n: Any


class FallbackOutbox:
    """The store's outbox, with memory to fall back on when the store cannot take a message.

    A full disk or a database that went away must not make ``publish`` raise (at start-up
    the bridge publishes before MQTT is connected, so its first message always goes to the
    outbox, and an exception there ended the process): the message waits in a bounded
    :class:`MemoryOutbox` instead, and the failure is logged once until the store accepts
    messages again. While memory holds messages, new ones queue behind them there, and the
    store's (older) messages are sent first, so the order of a topic's messages is kept.
    What waits in memory does not survive a stop of the process (as in a process without a
    store); the retained topics are published again from the next state anyway.
    """

    def __init__(self, store: OutboxStore, limit: int = 10000) -> None:
        self.store = store
        self.memory = MemoryOutbox(limit)
        self._failing = False
        self._lock = threading.Lock()

    @property
    def dropped(self) -> int:
        """Messages dropped for lack of room, in memory and in the store."""
        return self.memory.dropped + int(getattr(self.store, "dropped", 0))

    def outbox_put(self, topic: str, payload: str, retain: bool) -> Any:
        with self._lock:
            if not len(self.memory):
                try:
                    row = self.store.outbox_put(topic, payload, retain)
                except Exception as exc:  # noqa: BLE001 - any store failure: keep the message
                    if not self._failing:
                        log.warning(
                            "the store cannot queue MQTT messages (%s); they wait in memory "
                            "(up to %d) until it can",
                            exc,
                            self.memory.limit,
                        )
                    self._failing = True
                else:
                    if self._failing:
                        log.info("the store queues MQTT messages again")
                    self._failing = False
                    return row
            return _InMemory(self.memory.outbox_put(topic, payload, retain))

    def outbox_take(self, limit: int) -> list[Any]:
        """The store's messages first (they are older), then memory's. A store that cannot
        be read raises (the connection's flusher retries): sending memory's newer messages
        before the store's older ones could leave a retained topic at an old value."""
        rows = list(self.store.outbox_take(limit))
        if rows:
            return rows
        return [
            OutboxItem(_InMemory(i.id), i.topic, i.payload, i.retain)
            for i in self.memory.outbox_take(limit)
        ]

    def outbox_delete(self, ids: Iterable[Any]) -> int:
        ids = list(ids)
        mine = [i.n for i in ids if isinstance(i, _InMemory)]
        theirs = [i for i in ids if not isinstance(i, _InMemory)]
        done = self.memory.outbox_delete(mine) if mine else 0
        if theirs:
            done += int(self.store.outbox_delete(theirs) or 0)
        return done
