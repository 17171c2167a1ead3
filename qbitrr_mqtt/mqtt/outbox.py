"""Where outgoing messages wait while the broker is unreachable.

:class:`MqttConnection` never drops a message because the broker is down: it appends it to an
outbox and sends the outbox oldest first after the next connect. The outbox is the store's
``Outbox`` table when the process has a store (it then survives a restart of the process) and
a bounded in-memory deque otherwise. Both speak the same three calls, the store's names.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


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
