"""Change-only publishing of the retained state topics.

A manager runs a cycle every minute; most cycles change nothing. Publishing every retained
topic every cycle would wake every MQTT client (and Home Assistant's recorder) for nothing,
so :class:`StatePublisher` remembers the canonical JSON it last sent per topic and sends only
what differs. An idle cycle sends no message at all.

What was sent is remembered as a 16-byte digest (and one of it without the volatile keys, in
the same bytes object), and only the newest payload as text (for
:meth:`StatePublisher.republish`): with 10,000 torrent topics, three texts per topic cost a
manager ~6 MB of its 80 MB budget, one text and the digests ~3 MB.

Keys that change every cycle by nature (``last_cycle_at``, a process's ``uptime``) are
"volatile": a change limited to them is sent at most every ``volatile_interval`` seconds
(default 300), so Home Assistant's "last cycle" sensor still moves while the queue is quiet.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from .payloads import (
    EVENT_TYPES,
    PROCESS_VOLATILE,
    STATE_VOLATILE,
    EventPayload,
    ProcessPayload,
    StatePayload,
    canonical_json,
)
from .topics import Topics

log = logging.getLogger(__name__)

JsonObject = Mapping[str, Any]


class Publisher(Protocol):
    """What the state publisher needs from a connection (``MqttConnection`` fits)."""

    def publish(self, topic: str, payload: Any = None, *, retain: bool = False) -> bool: ...


#: Torrent payload keys whose change alone does not justify a message right away.
TORRENT_VOLATILE = ("note",)


#: What ``_sent`` holds for a cleared topic (no digest is empty).
CLEARED = b""
#: Bytes of one digest; ``_sent`` holds two side by side.
DIGEST_SIZE = 16


def digest(text: str) -> bytes:
    """A payload's fingerprint: equal texts, equal digests; a different text a different one
    (blake2b-128: an accidental collision is not a practical concern)."""
    return hashlib.blake2b(text.encode(), digest_size=DIGEST_SIZE).digest()


def _as_dict(data: Any) -> dict[str, Any]:
    to_dict = getattr(data, "to_dict", None)
    return dict(to_dict() if callable(to_dict) else data)


class StatePublisher:
    """Retained topics of one process, sent only when they change; events always."""

    def __init__(
        self,
        conn: Publisher,
        topics: Topics,
        *,
        volatile_interval: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conn = conn
        self.topics = topics
        self.volatile_interval = volatile_interval
        self.clock = clock
        #: Messages handed to the connection by this publisher (an idle cycle adds 0).
        self.sent = 0
        # topic -> digest of the JSON last sent followed by the digest of it without the
        # volatile keys (absent after adopt/republish), or CLEARED: one object per topic.
        self._sent: dict[str, bytes] = {}
        self._sent_at: dict[str, float] = {}
        self._latest: dict[str, str] = {}  # newest value, also when only volatile keys changed
        self._lock = threading.Lock()

    # --- generic --------------------------------------------------------------------------
    def publish_retained(self, topic: str, data: Any, volatile: Iterable[str] = ()) -> bool:
        """Publish ``data`` retained on ``topic`` when it differs from what was last sent."""
        body = _as_dict(data)
        text = canonical_json(body)
        sent = digest(text)
        volatile = tuple(volatile)
        stable = digest(canonical_json({k: v for k, v in body.items() if k not in volatile}))
        now = self.clock()
        with self._lock:
            if self._latest.get(topic) != text:  # an equal text keeps the object it has
                self._latest[topic] = text
            known = self._sent.get(topic, CLEARED)
            if known[:DIGEST_SIZE] == sent:
                return False
            if (
                volatile
                and known[DIGEST_SIZE:] == stable
                and now - self._sent_at.get(topic, float("-inf")) < self.volatile_interval
            ):
                return False
            self._sent[topic], self._sent_at[topic] = sent + stable, now
            self.sent += 1
        self.conn.publish(topic, text, retain=True)
        return True

    def clear(self, topic: str) -> bool:
        """Empty retained payload (the broker forgets the topic), once."""
        with self._lock:
            if self._sent.get(topic) == CLEARED:
                return False
            self._sent[topic] = CLEARED
            self._latest[topic] = ""
            self.sent += 1
        self.conn.publish(topic, "", retain=True)
        return True

    def republish(self) -> int:
        """Send every retained value again (Home Assistant restarted); returns how many."""
        with self._lock:
            items = [(t, p) for t, p in self._latest.items() if p != ""]
            sent = self._sent
            sent.update((t, digest(p) + sent.get(t, CLEARED)[DIGEST_SIZE:]) for t, p in items)
            self.sent += len(items)
        for topic, text in items:
            self.conn.publish(topic, text, retain=True)
        return len(items)

    def adopt(self, retained: Mapping[str, bytes | str]) -> None:
        """Take what the broker already retains as "last sent" (after a restart of the process).

        The next cycle then re-sends nothing unchanged and :meth:`sync_torrents` clears the
        torrents that disappeared while the process was down.
        """
        with self._lock:
            for topic, payload in retained.items():
                text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
                if text and topic not in self._sent:
                    self._sent[topic] = digest(text)
                    self._latest[topic] = text

    # --- SPEC §4 topics -------------------------------------------------------------------
    def publish_state(self, instance: str, state: StatePayload | JsonObject) -> bool:
        return self.publish_retained(self.topics.state(instance), state, STATE_VOLATILE)

    def publish_process(self, instance: str, process: ProcessPayload | JsonObject) -> bool:
        return self.publish_retained(self.topics.process(instance), process, PROCESS_VOLATILE)

    def publish_torrent(self, instance: str, torrent_hash: str, data: JsonObject) -> bool:
        """The torrent's retained state. Its ``note`` is prose that may count time ("stalled
        for 3 min"): a change of the note alone is volatile (sent at most every
        ``volatile_interval``), so an idle cycle publishes nothing for a waiting torrent."""
        topic = self.topics.torrent(instance, torrent_hash)
        return self.publish_retained(topic, data, volatile=TORRENT_VOLATILE)

    def clear_torrent(self, instance: str, torrent_hash: str) -> bool:
        return self.clear(self.topics.torrent(instance, torrent_hash))

    def sync_torrents(self, instance: str, torrents: Mapping[str, JsonObject]) -> int:
        """Publish changed torrents and clear the ones no longer tracked; returns messages sent."""
        before = self.sent
        current = {h.lower(): data for h, data in torrents.items()}
        for torrent_hash, data in current.items():
            self.publish_torrent(instance, torrent_hash, data)
        prefix = self.topics.torrent(instance, "")
        with self._lock:
            gone = [
                t
                for t, p in self._sent.items()
                if t.startswith(prefix) and p != CLEARED and t[len(prefix) :] not in current
            ]
        for topic in gone:
            self.clear(topic)
        return self.sent - before

    def publish_event(self, instance: str, event: EventPayload | JsonObject) -> None:
        """One action, never retained, always sent."""
        body = _as_dict(event)
        if body.get("event_type") not in EVENT_TYPES:
            log.warning(
                "event_type %r is not in EVENT_TYPES; Home Assistant's event entity ignores it",
                body.get("event_type"),
            )
        with self._lock:
            self.sent += 1
        self.conn.publish(self.topics.event(instance), canonical_json(body), retain=False)

    def publish_bridge_info(self, info: JsonObject) -> bool:
        return self.publish_retained(self.topics.bridge_info, info)
