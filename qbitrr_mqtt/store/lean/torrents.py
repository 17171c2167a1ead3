"""Lean twin of ``store/torrents.py``: the torrent and strike methods a manager calls.

The same contract as :class:`~qbitrr_mqtt.store.torrents.TorrentsMixin` (read its docstrings
for the why): :meth:`upsert_torrents` writes only the fields given, new rows get the model's
defaults and ``first_seen``; the strike fields belong to :meth:`add_strike` /
:meth:`reset_strikes`, which keep ``strikes`` equal to the number of ``strike`` rows; every
write records the hashes it touches for ``take_touched``. Rows come back as
:class:`~.tables.TorrentRow` / :class:`~.tables.StrikeRow` with the ORM objects' attribute
names. ``tests/integration/test_store_lean_torrents.py`` runs both stores side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ..common import NotFound, chunks, clean, to_utc, utcnow
from .base import LeanBase
from .db import Tx, in_params
from .tables import STRIKE, TORRENT, StrikeRow, TorrentRow

STRIKE_FIELDS = frozenset({"strikes", "strike_reason", "last_strike_at"})
UPSERT_FIELDS = frozenset(TORRENT.names) - {"instance", "hash"} - STRIKE_FIELDS
#: What a new row holds before the upsert's fields are applied: ``models.Torrent``'s
#: defaults (the database has no server defaults; the test compares the two).
#: ``first_seen`` and ``last_seen`` are the upsert's ``at``.
TORRENT_DEFAULTS: dict[str, Any] = {
    "name": "",
    "category": None,
    "state": "",
    "health": "",
    "progress": 0.0,
    "size": 0,
    "downloaded": 0,
    "added_on": None,
    "last_activity": None,
    "last_progress_bytes": 0,
    "strikes": 0,
    "strike_reason": None,
    "last_strike_at": None,
    "protected": False,
    "private": False,
    "tracker": None,
    "arr_queue_id": None,
    "media_id": None,
    "imported": False,
    "import_sent_at": None,
    "last_action": None,
    "last_action_at": None,
    "gone_at": None,
    "last_recheck_at": None,
    "rechecks": 0,
    "kept_for_hnr": False,
}
_INSERT_TORRENT = (
    f"INSERT INTO torrent ({TORRENT.columns}) VALUES ({', '.join(':' + n for n in TORRENT.names)})"
)
_BY_KEY = "instance = :instance AND hash = :hash"


class TorrentsPart(LeanBase):
    def upsert_torrents(
        self, instance: str, rows: Iterable[Mapping[str, Any]], at: datetime | None = None
    ) -> dict[str, TorrentRow]:
        """Insert or update torrents from ``rows`` (dicts with ``hash`` and any torrent
        fields). New rows get ``first_seen``; every row gets ``last_seen`` (``at``, default
        now) and ``gone_at`` cleared unless the row says otherwise. Returns them by hash."""
        at = to_utc(at) if at is not None else utcnow()
        wanted = _upsert_fields(rows, at)
        self._touch(instance, wanted)
        out: dict[str, TorrentRow] = {}
        with self.db.write() as tx:
            for part in chunks(list(wanted)):
                out.update(_select_torrents(tx, instance, part))
            inserts: list[dict[str, Any]] = []
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, data in wanted.items():
                row = out.get(key)
                if row is None:
                    new = {**TORRENT_DEFAULTS, "first_seen": at, "last_seen": at, **data}
                    new.update(instance=instance, hash=key)
                    inserts.append(new)
                    out[key] = TorrentRow(**{n: new[n] for n in TORRENT.names})
                else:
                    for name, value in data.items():
                        setattr(row, name, value)
                    names = tuple(sorted(data))
                    updates.setdefault(names, []).append(
                        {**data, "instance": instance, "hash": key}
                    )
            tx.many(_INSERT_TORRENT, inserts)
            for names, params in updates.items():  # one executemany per set of columns
                assignments = ", ".join(f'"{n}" = :{n}' for n in names)
                tx.many(f"UPDATE torrent SET {assignments} WHERE {_BY_KEY}", params)
        return out

    def get_torrent(self, instance: str, hash: str) -> TorrentRow | None:
        with self.db.read() as tx:
            found = tx.row(TORRENT.select(_BY_KEY), {"instance": instance, "hash": hash.lower()})
        return None if found is None else TORRENT.decode(found)

    def torrent_rows(
        self, instance: str, hashes: Iterable[str] | None = None
    ) -> dict[str, TorrentRow]:
        """Every torrent of ``instance`` (gone ones included) by hash, or only ``hashes``:
        the rows the manager keeps between cycles (see ``Store.torrent_rows``)."""
        with self.db.read() as tx:
            if hashes is None:
                found = tx.rows(TORRENT.select("instance = :instance"), {"instance": instance})
                return {r.hash: r for r in map(TORRENT.decode, found)}
            out: dict[str, TorrentRow] = {}
            for part in chunks(sorted({h.lower() for h in hashes})):
                out.update(_select_torrents(tx, instance, part))
            return out

    def mark_gone(self, instance: str, hashes: Iterable[str], at: datetime | None = None) -> int:
        """Set ``gone_at`` on these torrents (those not already gone); returns how many."""
        at = to_utc(at) if at is not None else utcnow()
        keys = sorted({h.lower() for h in hashes})
        changed = 0
        self._touch(instance, keys)
        with self.db.write() as tx:
            for part in chunks(keys):
                listed, params = in_params("h", part)
                cursor = tx.execute(
                    "UPDATE torrent SET gone_at = :at WHERE instance = :instance "
                    f"AND hash IN ({listed}) AND gone_at IS NULL",
                    {**params, "at": at, "instance": instance},
                )
                changed += cursor.rowcount
        return changed

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
        key = {"instance": instance, "hash": hash.lower()}
        self._touch(instance, (key["hash"],))
        with self.db.write() as tx:
            if tx.scalar(f"SELECT 1 FROM torrent WHERE {_BY_KEY}", key) is None:
                raise NotFound(f"no torrent {key['hash']} in instance {instance!r}")
            tx.execute(
                "INSERT INTO strike (instance, hash, reason, at, downloaded) "
                "VALUES (:instance, :hash, :reason, :at, :downloaded)",
                {**key, "reason": reason, "at": at, "downloaded": downloaded},
            )
            count = int(tx.scalar(f"SELECT count(*) FROM strike WHERE {_BY_KEY}", key))
            tx.execute(
                "UPDATE torrent SET strikes = :count, strike_reason = :reason, "
                f"last_strike_at = :at WHERE {_BY_KEY}",
                {**key, "count": count, "reason": reason, "at": at},
            )
        return count

    def reset_strikes(self, instance: str, hash: str) -> int:
        """Forget a torrent's strikes (it made progress again); returns how many there were."""
        key = {"instance": instance, "hash": hash.lower()}
        self._touch(instance, (key["hash"],))
        with self.db.write() as tx:
            deleted = int(tx.execute(f"DELETE FROM strike WHERE {_BY_KEY}", key).rowcount)
            tx.execute(
                "UPDATE torrent SET strikes = 0, strike_reason = NULL, last_strike_at = NULL "
                f"WHERE {_BY_KEY}",
                key,
            )
        return deleted

    def list_strikes(self, instance: str, hash: str) -> list[StrikeRow]:
        """The current strikes of one torrent, oldest first."""
        with self.db.read() as tx:
            found = tx.rows(
                STRIKE.select(_BY_KEY, "ORDER BY at, id"),
                {"instance": instance, "hash": hash.lower()},
            )
        return [STRIKE.decode(r) for r in found]


def _upsert_fields(rows: Iterable[Mapping[str, Any]], at: datetime) -> dict[str, dict[str, Any]]:
    """The fields to write per lower-cased hash, checked as ``Store.upsert_torrents`` checks
    them (every row before anything is written)."""
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
    return wanted


def _select_torrents(tx: Tx, instance: str, hashes: Iterable[str]) -> dict[str, TorrentRow]:
    """The rows of ``hashes`` (at most one chunk) by hash."""
    listed, params = in_params("h", list(hashes))
    found = tx.rows(
        TORRENT.select(f"instance = :instance AND hash IN ({listed})"),
        {**params, "instance": instance},
    )
    return {r.hash: r for r in map(TORRENT.decode, found)}
