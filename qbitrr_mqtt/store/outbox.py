"""MQTT messages kept while the broker is unreachable, sent oldest first after reconnect.

The outbox is bounded: past ``outbox_limit`` rows (10 000 by default) the oldest are dropped
and a warning is logged, so a broker down for days cannot fill the disk. A new *retained*
message replaces older retained ones on the same topic still waiting: the broker keeps only
the last retained value per topic anyway, and a restarted broker gets the current state
instead of a replay of every intermediate one.

The sender takes a batch with :meth:`outbox_take`, publishes it, and deletes what the broker
acknowledged with :meth:`outbox_delete`; a crash in between re-sends rather than loses.

Every program (each manager, the bridge) shares one database, so each row carries its
``owner`` and a program sees only its own: :meth:`OutboxMixin.scoped_outbox` gives the
object an :class:`~qbitrr_mqtt.mqtt.connection.MqttConnection` takes as its outbox. The
bound applies per owner, so a chatty program cannot push out another's messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from .base import StoreBase, chunks
from .common import OUTBOX_LIMIT, ScopedOutbox
from .models import Outbox
from .types import to_utc, utcnow

log = logging.getLogger("qbitrr.store")


class OutboxMixin(StoreBase):
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
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        row = Outbox(
            owner=owner,
            topic=topic,
            payload=text,
            retain=retain,
            created_at=to_utc(at) if at is not None else utcnow(),
        )
        with self._write() as s:
            if retain:
                s.exec(
                    delete(Outbox).where(
                        col(Outbox.owner) == owner,
                        col(Outbox.topic) == topic,
                        col(Outbox.retain).is_(True),
                    )
                )
            s.add(row)
            s.flush()
            dropped = self._trim(s, owner)
        if dropped:
            self.outbox_dropped[owner] = self.outbox_dropped.get(owner, 0) + dropped
            log.warning(
                "MQTT outbox over %d messages: dropped the %d oldest", self.outbox_limit, dropped
            )
        assert row.id is not None
        return row.id

    def _trim(self, s: Session, owner: str) -> int:
        """Delete the owner's oldest rows past the limit; returns how many. Ids only grow, so
        ``max - min + 1`` bounds the row count and the usual case costs two index reads."""
        mine = col(Outbox.owner) == owner
        low, high = s.exec(select(func.min(Outbox.id), func.max(Outbox.id)).where(mine)).one()
        if low is None or high is None or high - low + 1 <= self.outbox_limit:
            return 0
        first_dropped = (
            select(Outbox.id)
            .where(mine)
            .order_by(col(Outbox.id).desc())
            .offset(self.outbox_limit)
            .limit(1)
            .scalar_subquery()
        )
        return int(s.exec(delete(Outbox).where(mine, col(Outbox.id) <= first_dropped)).rowcount)

    def outbox_take(self, limit: int = 100, owner: str = "") -> list[Outbox]:
        """The owner's oldest ``limit`` messages, oldest first (they stay until deleted)."""
        query = select(Outbox).where(col(Outbox.owner) == owner)
        with self._read() as s:
            return list(s.exec(query.order_by(col(Outbox.id)).limit(limit)))

    def outbox_delete(self, ids: Iterable[int]) -> int:
        removed = 0
        with self._write() as s:
            for part in chunks(sorted(set(ids))):
                removed += s.exec(delete(Outbox).where(col(Outbox.id).in_(part))).rowcount
        return removed

    def outbox_size(self, owner: str | None = None) -> int:
        """Messages waiting: the owner's, or everyone's when ``owner`` is None."""
        query = select(func.count()).select_from(Outbox)
        if owner is not None:
            query = query.where(col(Outbox.owner) == owner)
        with self._read() as s:
            return int(s.exec(query).one())
