"""Torrents and their strikes.

A manager calls :meth:`upsert_torrents` with what it observed this cycle (only the fields
it has; absent fields keep their stored value), :meth:`mark_gone` for hashes that left
qBittorrent, and :meth:`add_strike` / :meth:`reset_strikes` as its policy decides. The
strike fields on ``Torrent`` (``strikes``, ``strike_reason``, ``last_strike_at``) belong to
the strike methods alone, which keep ``strikes`` equal to the number of ``Strike`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select

from .base import NotFound, StoreBase, chunks, clean
from .models import Strike, Torrent
from .types import to_utc, utcnow

STRIKE_FIELDS = frozenset({"strikes", "strike_reason", "last_strike_at"})
UPSERT_FIELDS = frozenset(Torrent.model_fields) - {"instance", "hash"} - STRIKE_FIELDS
#: Health classes that mean the download is finished (the WebUI's download history).
FINISHED_HEALTH = ("completed", "seeding")


class TorrentsMixin(StoreBase):
    def upsert_torrents(
        self, instance: str, rows: Iterable[Mapping[str, Any]], at: datetime | None = None
    ) -> dict[str, Torrent]:
        """Insert or update torrents from ``rows`` (dicts with ``hash`` and any Torrent
        fields). New rows get ``first_seen``; every row gets ``last_seen`` (``at``, default
        now) and ``gone_at`` cleared unless the row says otherwise. Returns them by hash."""
        at = to_utc(at) if at is not None else utcnow()
        wanted: dict[str, dict[str, Any]] = {}
        for row in rows:
            data = dict(row)
            if "hash" not in data:
                raise ValueError("upsert_torrents: every row needs a hash")
            key = str(data.pop("hash")).lower()
            if STRIKE_FIELDS & data.keys():
                raise ValueError("upsert_torrents: strikes are set by add_strike / reset_strikes")
            data = clean(data, UPSERT_FIELDS, "upsert_torrents")
            data.setdefault("last_seen", at)
            data.setdefault("gone_at", None)
            wanted[key] = data
        out: dict[str, Torrent] = {}
        self._touch(instance, wanted)
        with self._write() as s:
            for part in chunks(list(wanted)):
                query = select(Torrent).where(
                    Torrent.instance == instance, col(Torrent.hash).in_(part)
                )
                out.update((t.hash, t) for t in s.exec(query))
            for key, data in wanted.items():
                torrent = out.get(key)
                if torrent is None:
                    torrent = Torrent(instance=instance, hash=key, first_seen=at, last_seen=at)
                    s.add(torrent)
                    out[key] = torrent
                for name, value in data.items():
                    setattr(torrent, name, value)
        return out

    def get_torrent(self, instance: str, hash: str) -> Torrent | None:
        with self._read() as s:
            return s.get(Torrent, (instance, hash.lower()))

    def get_torrents(self, instance: str, include_gone: bool = True) -> dict[str, Torrent]:
        """Every torrent of ``instance`` by hash."""
        query = select(Torrent).where(Torrent.instance == instance)
        if not include_gone:
            query = query.where(col(Torrent.gone_at).is_(None))
        with self._read() as s:
            return {t.hash: t for t in s.exec(query)}

    def torrent_rows(self, instance: str, hashes: Iterable[str] | None = None) -> dict[str, Any]:
        """Like :meth:`get_torrents` (gone ones included), as plain read-only rows with the
        same attribute names instead of ORM objects: a third of the memory and no identity
        map. The manager keeps these between cycles."""
        table = Torrent.__table__  # type: ignore[attr-defined]
        query = core_select(table).where(table.c.instance == instance)
        with self._read() as s:
            if hashes is None:
                return {r.hash: r for r in s.execute(query)}
            out: dict[str, Any] = {}
            for part in chunks(sorted({h.lower() for h in hashes})):
                out.update((r.hash, r) for r in s.execute(query.where(table.c.hash.in_(part))))
            return out

    def list_torrents(
        self,
        instance: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        include_gone: bool = False,
    ) -> tuple[list[Torrent], int]:
        """A page of tracked torrents, newest first, and the total. ``state`` matches our
        health class or qBittorrent's state string. Gone torrents only when asked."""
        query = select(Torrent)
        if instance is not None:
            query = query.where(Torrent.instance == instance)
        if state is not None:
            query = query.where(or_(col(Torrent.health) == state, col(Torrent.state) == state))
        if not include_gone:
            query = query.where(col(Torrent.gone_at).is_(None))
        order = (col(Torrent.first_seen).desc(), Torrent.instance, Torrent.hash)
        with self._read() as s:
            return self._page(s, query, order, limit, offset)

    def list_downloads(
        self, instance: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Torrent], int]:
        """Torrents that finished downloading (complete, imported or seeding), gone or not,
        most recently seen first."""
        query = select(Torrent).where(
            or_(
                col(Torrent.progress) >= 1.0,
                col(Torrent.imported).is_(True),
                col(Torrent.health).in_(FINISHED_HEALTH),
            )
        )
        if instance is not None:
            query = query.where(Torrent.instance == instance)
        order = (col(Torrent.last_seen).desc(), Torrent.instance, Torrent.hash)
        with self._read() as s:
            return self._page(s, query, order, limit, offset)

    def mark_gone(self, instance: str, hashes: Iterable[str], at: datetime | None = None) -> int:
        """Set ``gone_at`` on these torrents (those not already gone); returns how many."""
        at = to_utc(at) if at is not None else utcnow()
        keys = sorted({h.lower() for h in hashes})
        changed = 0
        self._touch(instance, keys)
        with self._write() as s:
            for part in chunks(keys):
                result = s.exec(
                    update(Torrent)
                    .where(col(Torrent.instance) == instance, col(Torrent.hash).in_(part))
                    .where(col(Torrent.gone_at).is_(None))
                    .values(gone_at=at)
                )
                changed += result.rowcount
        return changed

    def prune_gone(self, instance: str, before: datetime) -> int:
        """Delete torrents gone before ``before`` (their strikes go with them)."""
        gone = col(Torrent.gone_at) < to_utc(before)
        with self._write() as s:
            if instance in self._touched:
                self._touch(
                    instance, s.exec(select(Torrent.hash).where(Torrent.instance == instance, gone))
                )
            result = s.exec(delete(Torrent).where(col(Torrent.instance) == instance).where(gone))
            return result.rowcount

    # --- strikes -------------------------------------------------------------------------

    def add_strike(
        self,
        instance: str,
        hash: str,
        reason: str,
        at: datetime | None = None,
        downloaded: int = 0,
    ) -> int:
        """Record one strike and return the torrent's strike count after it. NotFound when
        the torrent was never upserted."""
        at = to_utc(at) if at is not None else utcnow()
        key = hash.lower()
        self._touch(instance, (key,))
        with self._write() as s:
            torrent = s.get(Torrent, (instance, key))
            if torrent is None:
                raise NotFound(f"no torrent {key} in instance {instance!r}")
            s.add(Strike(instance=instance, hash=key, reason=reason, at=at, downloaded=downloaded))
            s.flush()
            torrent.strikes = self._count_strikes(s, instance, key)
            torrent.strike_reason = reason
            torrent.last_strike_at = at
            return torrent.strikes

    def reset_strikes(self, instance: str, hash: str) -> int:
        """Forget a torrent's strikes (it made progress again); returns how many there were."""
        key = hash.lower()
        self._touch(instance, (key,))
        with self._write() as s:
            result = s.exec(
                delete(Strike).where(col(Strike.instance) == instance, col(Strike.hash) == key)
            )
            torrent = s.get(Torrent, (instance, key))
            if torrent is not None:
                torrent.strikes = 0
                torrent.strike_reason = None
                torrent.last_strike_at = None
            return result.rowcount

    def list_strikes(self, instance: str, hash: str) -> list[Strike]:
        """The current strikes of one torrent, oldest first."""
        query = (
            select(Strike)
            .where(Strike.instance == instance, Strike.hash == hash.lower())
            .order_by(col(Strike.at), col(Strike.id))
        )
        with self._read() as s:
            return list(s.exec(query))

    @staticmethod
    def _count_strikes(s: Any, instance: str, key: str) -> int:
        query = select(func.count()).where(Strike.instance == instance, Strike.hash == key)
        return int(s.exec(query).one())
