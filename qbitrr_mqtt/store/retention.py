"""Retention and database upkeep: what keeps a months-long installation's database small.

:func:`run_maintenance` is what the bridge calls once an hour. It

1. prunes finished history older than ``settings.retention_days``: finished actions (an
   ``intent`` is never pruned: it is a crash-journal entry waiting to be resolved), finished
   searches, process events and finished commands;
2. forgets torrents that left qBittorrent more than a day ago (their strikes go with them,
   through the foreign key's ON DELETE CASCADE);
3. on SQLite, checkpoints the WAL, returns free pages to the file system
   (``PRAGMA incremental_vacuum``) and truncates the WAL; PostgreSQL's autovacuum does the
   equivalent on its own, so nothing is run there;
4. records the report in ``meta`` (:func:`last_report`), where the WebUI, the metrics and
   the bridge's DB-size sensor read it.

Deletes run in batches of :data:`BATCH_SIZE` rows, one short write transaction each, oldest
rows first (id order, so each batch stops scanning after ``BATCH_SIZE`` matches): a manager
that wants to write waits for one batch at most, never for the whole prune.

Deleted actions are added to per-(instance, action, status) totals in ``meta`` in the same
transaction, so the ``qbitrr_actions_total`` counter of ``/metrics`` (journal rows plus these
totals) never goes down when old rows are pruned.

``auto_vacuum=INCREMENTAL`` can only be chosen before the first table is created or by a
full ``VACUUM``. Databases created before this module existed (and new ones: the WAL switch
on connect comes first) are converted once, by a ``VACUUM`` on the first maintenance run
(:func:`ensure_incremental_vacuum`); that one run holds the write lock for as long as the
copy takes, every later one only frees pages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.engine import make_url
from sqlmodel import col

from .models import Action, Command, Meta, ProcessEvent, Search, Torrent
from .store import Store
from .types import to_utc, utcnow

log = logging.getLogger("qbitrr.store")

#: Rows deleted per write transaction.
BATCH_SIZE = 500
#: Torrents gone from qBittorrent for longer than this are forgotten.
GONE_GRACE = timedelta(days=1)
REPORT_KEY = "maintenance"
PRUNED_ACTIONS_KEY = "pruned_actions"
_INCREMENTAL = 2


@dataclass(slots=True)
class PruneResult:
    """Rows deleted from one table, in how many batches, the largest batch's size."""

    rows: int = 0
    batches: int = 0
    largest_batch: int = 0


@dataclass(slots=True)
class MaintenanceReport:
    """What one :func:`run_maintenance` did (also kept as JSON in ``meta``)."""

    started_at: datetime
    cutoff: datetime
    duration: float = 0.0
    pruned: dict[str, PruneResult] = field(default_factory=dict)
    #: Bytes on disk before and after (SQLite: file + WAL; PostgreSQL: pg_database_size).
    db_size_before: int | None = None
    db_size_after: int | None = None
    #: SQLite pages returned to the file system by incremental_vacuum.
    freed_pages: int = 0
    #: SQLite: the database was switched to auto_vacuum=INCREMENTAL (a full VACUUM) this run.
    converted: bool = False
    #: SQLite: False when a reader kept the WAL checkpoint from completing.
    checkpoint_complete: bool | None = None

    @property
    def total_pruned(self) -> int:
        return sum(p.rows for p in self.pruned.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["cutoff"] = self.cutoff.isoformat()
        data["total_pruned"] = self.total_pruned
        return data


# --- pruning ---------------------------------------------------------------------------


def _prune(
    store: Store,
    table: Any,
    key: tuple[Any, ...],
    condition: Any,
    batch_size: int,
    on_batch: Callable[[Any, list[Any]], None] | None = None,
) -> PruneResult:
    """Delete the rows of ``table`` matching ``condition``, ``batch_size`` per transaction,
    lowest ``key`` (its primary-key columns) first. ``on_batch(session, keys)`` runs in each
    batch's transaction, before its delete."""
    result = PruneResult()
    match = tuple_(*key) if len(key) > 1 else key[0]
    while True:
        with store.session(write=True) as s:
            rows = list(s.execute(select(*key).where(condition).order_by(*key).limit(batch_size)))
            if not rows:
                break
            keys = [tuple(r) if len(key) > 1 else r[0] for r in rows]
            if on_batch is not None:
                on_batch(s, keys)
            s.execute(delete(table).where(match.in_(keys)))
            s.commit()
        result.rows += len(keys)
        result.batches += 1
        result.largest_batch = max(result.largest_batch, len(keys))
        if len(keys) < batch_size:
            break
    return result


def _count_pruned_actions(s: Any, keys: list[Any]) -> None:
    """Add the actions about to be deleted to the running totals in ``meta``."""
    rows = s.execute(
        select(col(Action.instance), col(Action.action), col(Action.status), func.count())
        .where(col(Action.id).in_(keys))
        .group_by(col(Action.instance), col(Action.action), col(Action.status))
    )
    totals = _read_pruned(s)
    for instance, action, status, n in rows:
        totals[(instance, action, status)] += int(n)
    value = json.dumps([[*k, n] for k, n in sorted(totals.items())])
    row = s.get(Meta, PRUNED_ACTIONS_KEY)
    if row is None:
        s.add(Meta(key=PRUNED_ACTIONS_KEY, value=value))
    else:
        row.value = value


def _read_pruned(s: Any) -> Counter[tuple[str, str, str]]:
    row = s.get(Meta, PRUNED_ACTIONS_KEY)
    totals: Counter[tuple[str, str, str]] = Counter()
    if row is not None:
        for instance, action, status, n in json.loads(row.value):
            totals[(instance, action, status)] = int(n)
    return totals


def pruned_action_totals(store: Store) -> dict[tuple[str, str, str], int]:
    """Actions deleted by retention so far, by (instance, action, status)."""
    with store.session(write=False) as s:
        return dict(_read_pruned(s))


def prune_history(
    store: Store, cutoff: datetime, now: datetime, batch_size: int = BATCH_SIZE
) -> dict[str, PruneResult]:
    """Delete finished history older than ``cutoff`` and torrents gone for a day before
    ``now``; returns what went, per table."""
    cutoff, now = to_utc(cutoff), to_utc(now)
    return {
        "actions": _prune(
            store,
            Action,
            (col(Action.id),),
            (col(Action.created_at) < cutoff) & (col(Action.status) != "intent"),
            batch_size,
            _count_pruned_actions,
        ),
        "searches": _prune(
            store,
            Search,
            (col(Search.id),),
            (col(Search.created_at) < cutoff) & col(Search.finished_at).is_not(None),
            batch_size,
        ),
        "process_events": _prune(
            store, ProcessEvent, (col(ProcessEvent.id),), col(ProcessEvent.at) < cutoff, batch_size
        ),
        "commands": _prune(
            store,
            Command,
            (col(Command.seq),),
            (col(Command.created_at) < cutoff) & col(Command.status).in_(("done", "error")),
            batch_size,
        ),
        "torrents": _prune(
            store,
            Torrent,
            (col(Torrent.instance), col(Torrent.hash)),
            col(Torrent.gone_at) < now - GONE_GRACE,
            batch_size,
        ),
    }


# --- size and vacuum -------------------------------------------------------------------


def sqlite_path(store: Store) -> Path | None:
    """The database file of a SQLite store (None for PostgreSQL and in-memory databases)."""
    if store.dialect != "sqlite":
        return None
    database = make_url(str(store.engine.url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def db_size(store: Store) -> int:
    """Bytes the database takes: SQLite's file plus its WAL, PostgreSQL's
    ``pg_database_size``; an in-memory SQLite database counts its pages."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
        path = sqlite_path(store)
        if path is None:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size)
    total = 0
    for part in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            total += part.stat().st_size
    return total


def _raw(store: Store) -> Any:
    """A DBAPI connection outside any transaction (VACUUM and checkpoints refuse one)."""
    return store.engine.raw_connection()


def ensure_incremental_vacuum(store: Store) -> bool:
    """Switch a SQLite database to ``auto_vacuum=INCREMENTAL`` (one full VACUUM); True when
    it was switched now, False when it already was (or the store is PostgreSQL)."""
    if store.dialect != "sqlite":
        return False
    conn = _raw(store)
    try:
        cursor = conn.cursor()
        if cursor.execute("PRAGMA auto_vacuum").fetchone()[0] == _INCREMENTAL:
            return False
        log.info("switching the database to incremental vacuum (one full VACUUM)")
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("VACUUM")
        return True
    finally:
        conn.close()


def vacuum(store: Store) -> tuple[int, bool | None]:
    """SQLite: checkpoint, free every free page, checkpoint with TRUNCATE. Returns the pages
    freed and whether the final checkpoint completed (a long reader can hold it back; the
    next run catches up). PostgreSQL: nothing to do here (autovacuum), ``(0, None)``."""
    if store.dialect != "sqlite" or sqlite_path(store) is None:
        return 0, None
    conn = _raw(store)
    try:
        cursor = conn.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        free_before = cursor.execute("PRAGMA freelist_count").fetchone()[0]
        cursor.execute("PRAGMA incremental_vacuum").fetchall()
        free_after = cursor.execute("PRAGMA freelist_count").fetchone()[0]
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return int(free_before) - int(free_after), busy == 0
    finally:
        conn.close()


# --- the hourly run --------------------------------------------------------------------


def run_maintenance(
    store: Store, config: Any, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> MaintenanceReport:
    """Prune, forget, vacuum and record (see the module docstring); returns the report.

    ``config`` is the Config (``settings.retention_days`` is read); ``now`` defaults to the
    current time."""
    now = to_utc(now) if now is not None else utcnow()
    started = time.monotonic()
    report = MaintenanceReport(
        started_at=now, cutoff=now - timedelta(days=config.settings.retention_days)
    )
    report.db_size_before = db_size(store)
    report.converted = ensure_incremental_vacuum(store)
    report.pruned = prune_history(store, report.cutoff, now, batch_size)
    report.freed_pages, report.checkpoint_complete = vacuum(store)
    report.db_size_after = db_size(store)
    report.duration = round(time.monotonic() - started, 3)
    save_report(store, report)
    log.info(
        "maintenance: pruned %d row(s) older than %s, freed %d page(s), database %s bytes",
        report.total_pruned,
        report.cutoff.date().isoformat(),
        report.freed_pages,
        report.db_size_after,
    )
    return report


def save_report(store: Store, report: MaintenanceReport) -> None:
    value = json.dumps(report.as_dict(), sort_keys=True)
    with store.session(write=True) as s:
        row = s.get(Meta, REPORT_KEY)
        if row is None:
            s.add(Meta(key=REPORT_KEY, value=value))
        else:
            row.value = value
        s.commit()


def last_report(store: Store) -> dict[str, Any] | None:
    """The last maintenance report as a dict (``db_size_after``, ``pruned``, ...), or None."""
    with store.session(write=False) as s:
        row = s.get(Meta, REPORT_KEY)
        return None if row is None else dict(json.loads(row.value))
