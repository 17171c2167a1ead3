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
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from .db import writer
from .types import to_utc

#: At most this many values in one ``IN (...)`` (SQLite limits bound parameters).
CHUNK = 500
MAX_PAGE = 10_000


class NotFound(LookupError):
    """The row a call names does not exist."""


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
        with Session(self._writer, expire_on_commit=False) as s, s.begin():
            yield s

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
