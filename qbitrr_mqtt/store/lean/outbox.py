"""Lean twin of ``store/outbox.py``: MQTT messages kept while the broker is unreachable.

The same contract as :class:`~qbitrr_mqtt.store.outbox.OutboxMixin` (its docstring has the
why): rows per ``owner``, sent oldest first (``id`` order), a new retained message replaces
the owner's older retained ones on its topic, and past ``outbox_limit`` rows per owner the
oldest are dropped with a warning. :meth:`OutboxPart.scoped_outbox` gives the object an
:class:`~qbitrr_mqtt.mqtt.connection.MqttConnection` takes as its outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from ..common import OUTBOX_LIMIT, ScopedOutbox, chunks, to_utc, utcnow
from .base import LeanBase
from .db import Tx, in_params
from .tables import OUTBOX, OutboxRow

__all__ = ["OUTBOX_LIMIT", "OutboxPart", "ScopedOutbox"]

log = logging.getLogger("qbitrr.store")


class OutboxPart(LeanBase):
    outbox_limit: int = OUTBOX_LIMIT
    #: Messages this process's trimming dropped, per owner (the connection reports them).
    outbox_dropped: dict[str, int]

    def scoped_outbox(self, owner: str) -> ScopedOutbox:
        """The outbox of one program, as its MQTT connection uses it."""
        return ScopedOutbox(self, owner)

    def outbox_put(
        self,
        topic: str,
        payload: str | bytes,
        retain: bool = False,
        at: datetime | None = None,
        owner: str = "",
    ) -> int:
        """Keep one message for later; returns its id. Payloads are text (UTF-8)."""
        params = {
            "owner": owner,
            "topic": topic,
            "payload": payload.decode("utf-8") if isinstance(payload, bytes) else payload,
            "retain": retain,
            "created_at": to_utc(at) if at is not None else utcnow(),
        }
        with self.db.write() as tx:
            if retain:
                tx.execute(
                    "DELETE FROM outbox WHERE owner = :owner AND topic = :topic"
                    " AND retain = :retain",
                    {"owner": owner, "topic": topic, "retain": True},
                )
            new_id = tx.scalar(
                "INSERT INTO outbox (owner, topic, payload, retain, created_at)"
                " VALUES (:owner, :topic, :payload, :retain, :created_at) RETURNING id",
                params,
            )
            dropped = self._trim(tx, owner)
        if dropped:
            self.outbox_dropped[owner] = self.outbox_dropped.get(owner, 0) + dropped
            log.warning(
                "MQTT outbox over %d messages: dropped the %d oldest", self.outbox_limit, dropped
            )
        return int(new_id)

    def _trim(self, tx: Tx, owner: str) -> int:
        """Delete the owner's oldest rows past the limit; returns how many. Ids only grow, so
        ``max - min + 1`` bounds the row count and the usual case costs two index reads."""
        bounds = tx.row(
            "SELECT min(id), max(id) FROM outbox WHERE owner = :owner", {"owner": owner}
        )
        low, high = bounds if bounds is not None else (None, None)
        if low is None or high is None or high - low + 1 <= self.outbox_limit:
            return 0
        cursor = tx.execute(
            "DELETE FROM outbox WHERE owner = :owner AND id <= (SELECT id FROM outbox"
            " WHERE owner = :owner ORDER BY id DESC LIMIT 1 OFFSET :keep)",
            {"owner": owner, "keep": self.outbox_limit},
        )
        return int(cursor.rowcount)

    def outbox_take(self, limit: int = 100, owner: str = "") -> list[OutboxRow]:
        """The owner's oldest ``limit`` messages, oldest first (they stay until deleted)."""
        sql = OUTBOX.select("owner = :owner", "ORDER BY id LIMIT :limit")
        with self.db.read() as tx:
            return [OUTBOX.decode(r) for r in tx.rows(sql, {"owner": owner, "limit": limit})]

    def outbox_delete(self, ids: Iterable[int]) -> int:
        removed = 0
        with self.db.write() as tx:
            for part in chunks(sorted(set(ids))):
                names, params = in_params("i", part)
                removed += tx.execute(f"DELETE FROM outbox WHERE id IN ({names})", params).rowcount
        return removed

    def outbox_size(self, owner: str | None = None) -> int:
        """Messages waiting: the owner's, or everyone's when ``owner`` is None."""
        with self.db.read() as tx:
            if owner is None:
                return int(tx.scalar("SELECT count(*) FROM outbox"))
            return int(
                tx.scalar("SELECT count(*) FROM outbox WHERE owner = :owner", {"owner": owner})
            )
