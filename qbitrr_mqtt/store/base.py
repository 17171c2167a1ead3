"""What every repository mixin of :class:`~.store.Store` shares: sessions and paging.

Two kinds of session: ``_read()`` for queries (a plain BEGIN; never blocks a writer) and
``_write()`` for changes (BEGIN IMMEDIATE on SQLite, see ``db.py``), committed when the block
ends and rolled back when it raises. Sessions never expire objects on commit, so the rows a
method returns stay readable after its session closes (the WebUI reads them in another
thread; the manager keeps them across a cycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from .db import writer
from .types import to_utc

#: At most this many values in one ``IN (...)`` (SQLite limits bound parameters).
CHUNK = 500
MAX_PAGE = 10_000


class NotFound(LookupError):
    """The row a call names does not exist."""


class StorageFull(RuntimeError):
    """A write failed because the disk holding the database is full. Nothing was written
    (the transaction rolled back); the same call succeeds once space is freed."""


#: How SQLite ("database or disk is full", SQLITE_FULL) and PostgreSQL (SQLSTATE 53100
#: disk_full: "could not extend file ... No space left on device") say the disk is full.
_FULL_MARKERS = ("database or disk is full", "no space left on device", "could not extend file")


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error means the disk is full."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "53100":
        return True
    text = str(orig if orig is not None else exc).lower()
    return any(marker in text for marker in _FULL_MARKERS)


def chunks[T](items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def clean(fields: dict[str, Any], allowed: Iterable[str], what: str) -> dict[str, Any]:
    """``fields`` checked against ``allowed`` column names, datetimes made UTC (naive ones
    refused here, with a clear error, rather than deep inside a flush)."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}")
    return {k: to_utc(v) if isinstance(v, datetime) else v for k, v in fields.items()}


class StoreBase:
    """Holds the engine; the mixins add the repository methods."""

    engine: Engine

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self._touched: dict[str, set[str]] = {}  # instance -> torrent hashes written

    # --- which torrent rows this process changed (the manager's row cache) ---------------

    def track_torrent_writes(self, instance: str) -> None:
        """Remember the hashes of ``instance`` whose torrent row this store object writes
        (any method: upserts, strikes, gone marks, an action's ``last_action``), until
        :meth:`take_touched` hands them over. The manager keeps its rows in memory and
        re-reads only these, instead of the whole table every cycle."""
        self._touched.setdefault(instance, set())

    def take_touched(self, instance: str) -> set[str]:
        """The hashes written since the last call (tracking must be on for ``instance``)."""
        touched = self._touched.get(instance)
        if touched is None:
            raise RuntimeError(f"torrent writes of {instance!r} are not tracked")
        self._touched[instance] = set()
        return touched

    def _touch(self, instance: str, hashes: Iterable[str]) -> None:
        touched = self._touched.get(instance)
        if touched is not None:  # only a process that asked for it pays
            touched.update(hashes)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A session for queries the methods do not cover; the caller commits. ``write``
        takes SQLite's write lock at the first statement, so read-then-write is safe."""
        with Session(self._writer if write else self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with Session(self._writer, expire_on_commit=False) as s, s.begin():
                yield s
        except OperationalError as exc:
            if is_disk_full(exc):
                raise StorageFull(self._full_message()) from exc
            raise

    def _full_message(self) -> str:
        where = self.engine.url.database if self.dialect == "sqlite" else "the database server"
        return (
            f"cannot write to the database: the disk holding {where} is full; "
            "nothing was lost, writes resume once space is freed"
        )

    @staticmethod
    def _page[R](
        s: Session, stmt: SelectOfScalar[R], order: Sequence[Any], limit: int, offset: int
    ) -> tuple[list[R], int]:
        """One page of ``stmt`` in ``order`` and the total number of rows it matches."""
        if not 0 <= limit <= MAX_PAGE or offset < 0:
            raise ValueError(f"limit must be 0..{MAX_PAGE} and offset >= 0")
        total = s.exec(select(func.count()).select_from(stmt.subquery())).one()
        rows = list(s.exec(stmt.order_by(*order).limit(limit).offset(offset)).all())
        return rows, int(total)
