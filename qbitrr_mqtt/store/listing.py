"""The WebUI's torrent list: one page of tracked torrents, newest first, read cheaply.

``GET /api/v1/torrents`` is polled by every open dashboard, at 10,000 torrents and more. The
ORM version (:meth:`~.torrents.TorrentsMixin.list_torrents`) counts every matching row and
sorts them all by ``first_seen`` before it returns 100, hydrating a model object per row.
:meth:`ListingMixin.torrent_page` answers the same question (same rows, same order, same
total) with SQLAlchemy Core:

- the page is read in the order of ``ix_torrent_listing`` (one instance) or
  ``ix_torrent_listing_all`` (every instance), partial indexes of the torrents not gone in
  exactly this order: the database walks offset + limit index entries and reads only the
  rows it returns, with no sort (``EXPLAIN QUERY PLAN`` on SQLite: ``USING INDEX``, no
  ``TEMP B-TREE``; on PostgreSQL an ``Index Scan`` without ``Sort``);
- only the columns asked for are selected, as plain dicts;
- the total is counted from the same index (no table row read unless ``state`` filters)
  and not counted at all when the page itself shows it (a short page);
- page and total come from one read transaction, so they agree.

Gone torrents are not listed (``list_torrents``'s default).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Dialect,
    Select,
    String,
    Table,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from .base import MAX_PAGE, StoreBase
from .common import utc_from_db
from .models import Torrent
from .types import UTCDateTime

_TORRENT: Table = SQLModel.metadata.tables[str(Torrent.__tablename__)]
#: The columns a page holds unless the caller names others.
PAGE_COLUMNS = tuple(c.name for c in _TORRENT.columns)
#: Newest first; ties in a stable order (many torrents share ``first_seen``: the first cycle
#: sees every torrent at once). The listing indexes hold exactly this order.
_ORDER = (_TORRENT.c.first_seen.desc(), _TORRENT.c.instance, _TORRENT.c.hash)


#: Timestamp columns: read as the driver returns them and made aware UTC by ``utc_from_db``,
#: which does what ``UTCDateTime`` does for a fraction of the cost per value (a page has
#: 7 of them per row).
_TIMES = frozenset(c.name for c in _TORRENT.columns if isinstance(c.type, UTCDateTime))
#: The timestamp columns, whose raw values ``torrent_page_values`` leaves as the driver's.
TIME_COLUMNS = _TIMES
#: Boolean columns: SQLite's driver returns them as 0/1 (``torrent_page_values`` too).
BOOL_COLUMNS = frozenset(c.name for c in _TORRENT.columns if isinstance(c.type, Boolean))


#: Rows :meth:`ListingMixin.torrent_listing_values` converts at a time.
LISTING_CHUNK = 1000


def _selected(name: str) -> ColumnElement[Any]:
    column = _TORRENT.c[name]
    return type_coerce(column, _Raw()).label(name) if name in _TIMES else column


class _Raw(TypeDecorator[Any]):
    """The driver's own value: ISO text on SQLite, an aware datetime from psycopg."""

    impl = String
    cache_ok = True


def _where(instance: bool, state: bool) -> list[ColumnElement[bool]]:
    t = _TORRENT.c
    found: list[ColumnElement[bool]] = [t.gone_at.is_(None)]
    if instance:
        found.append(t.instance == bindparam("instance"))
    if state:
        found.append(or_(t.health == bindparam("state"), t.state == bindparam("state")))
    return found


@functools.lru_cache(maxsize=64)
def _statements(
    columns: tuple[str, ...], instance: bool, state: bool
) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements for these columns and filters, built once (building
    and keying a statement per request cost as much as running it)."""
    where = _where(instance, state)
    page = (
        select(*(_selected(c) for c in columns))
        .where(*where)
        .order_by(*_ORDER)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return page, select(func.count()).select_from(_TORRENT).where(*where)


@functools.lru_cache(maxsize=64)
def _driver_statements(
    dialect: Dialect, columns: tuple[str, ...], instance: bool, state: bool
) -> tuple[tuple[str, tuple[str, ...] | None], tuple[str, tuple[str, ...] | None]]:
    """The page and count statements as the driver's SQL text and, for a positional
    paramstyle (SQLite), the order of the parameters."""

    def text_of(statement: Select[Any]) -> tuple[str, tuple[str, ...] | None]:
        compiled = statement.compile(dialect=dialect)
        order = (
            tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        )
        return compiled.string, order

    page, count = _statements(columns, instance, state)
    return text_of(page), text_of(count)


def _args(order: tuple[str, ...] | None, params: dict[str, Any]) -> Any:
    return params if order is None else tuple(params[name] for name in order)


class ListingMixin(StoreBase):
    def torrent_page(
        self,
        instance: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        columns: Sequence[str] = PAGE_COLUMNS,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of tracked torrents (not gone), newest first, as dicts of ``columns``,
        and the total: what ``list_torrents(instance, state, limit, offset)`` answers, read
        through the listing indexes. ``state`` matches our health class or qBittorrent's
        state string."""
        columns = tuple(columns)
        values, total = self.torrent_page_values(instance, state, limit, offset, columns)
        times = [i for i, c in enumerate(columns) if c in _TIMES]
        flags = [i for i, c in enumerate(columns) if c in BOOL_COLUMNS]
        found = []
        for r in values:
            row = list(r)
            for i in times:
                row[i] = utc_from_db(row[i])
            for i in flags:
                row[i] = None if row[i] is None else bool(row[i])
            found.append(dict(zip(columns, row, strict=True)))
        return found, total

    def torrent_page_values(
        self,
        instance: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
        columns: Sequence[str] = PAGE_COLUMNS,
    ) -> tuple[list[Sequence[Any]], int]:
        """:meth:`torrent_page` as the driver returns it: one tuple per row in the order of
        ``columns``, timestamps unconverted (naive UTC ISO text on SQLite, aware datetimes
        on PostgreSQL), booleans as 0/1 on SQLite. For the WebUI, which writes them straight
        into JSON: turning the text into a datetime and back cost as much as the query."""
        if not 0 <= limit <= MAX_PAGE or offset < 0:
            raise ValueError(f"limit must be 0..{MAX_PAGE} and offset >= 0")
        unknown = [c for c in columns if c not in _TORRENT.c]
        if unknown:
            raise ValueError(f"torrent_page: unknown column(s) {', '.join(unknown)}")
        (page, page_order), (count, count_order) = _driver_statements(
            self.engine.dialect, tuple(columns), instance is not None, state is not None
        )
        params = {"instance": instance, "state": state, "limit": limit, "offset": offset}
        with self._driver_connection(page, params) as conn:
            return self._page_on(
                conn,
                page,
                _args(page_order, params),
                count,
                _args(count_order, params),
                limit,
                offset,
            )

    @contextmanager
    def _driver_connection(self, statement: str, params: dict[str, Any]) -> Iterator[Any]:
        """The engine's DB-API connection, closed after; a driver error is raised as
        SQLAlchemy's own execution would raise it (a DBAPIError naming ``statement``)."""
        driver_error = self.engine.dialect.loaded_dbapi.Error
        try:
            conn = self.engine.raw_connection()
            try:
                yield conn
            finally:
                conn.close()
        except driver_error as exc:
            raise DBAPIError.instance(statement, params, exc, driver_error) from exc

    def _page_on(
        self,
        conn: Any,
        page: str,
        page_args: Any,
        count: str,
        count_args: Any,
        limit: int,
        offset: int,
    ) -> tuple[list[Sequence[Any]], int]:
        """Page and total in one read transaction, on the driver's connection: SQLAlchemy's
        execution layer (events, result rows, its own BEGIN) cost as much as the query."""
        sqlite = self.dialect == "sqlite"
        cursor = conn.cursor()
        began = False
        try:
            if sqlite:  # the engine's SQLite connections are in autocommit mode (db.py)
                cursor.execute("BEGIN")
                began = True
            cursor.execute(page, page_args)
            found: list[Sequence[Any]] = cursor.fetchall()
            if len(found) < limit and (found or offset == 0):
                return found, offset + len(found)  # the page ends the list: no count needed
            cursor.execute(count, count_args)
            return found, int(cursor.fetchone()[0])
        finally:
            try:
                if began:
                    cursor.execute("ROLLBACK")
                elif not sqlite:
                    conn.rollback()
            finally:
                cursor.close()

    def torrent_listing_values(
        self,
        instance: str | None = None,
        state: str | None = None,
        columns: Sequence[str] = PAGE_COLUMNS,
        max_rows: int = 25_000,
        convert: Callable[[list[Sequence[Any]]], list[Any]] = list,
    ) -> list[Any] | None:
        """Every row :meth:`torrent_page_values` would page through for these filters, in
        the same order and form, or None when more than ``max_rows`` match (the WebUI then
        reads pages instead of holding them all). The rows' count is the listing's total:
        both come from one statement, so they agree on any backend.

        The rows go through ``convert`` :data:`LISTING_CHUNK` at a time and its outputs are
        returned, one per row: a caller keeping something smaller than the driver's rows
        (the WebUI keeps their JSON) never holds all of those at once."""
        unknown = [c for c in columns if c not in _TORRENT.c]
        if unknown:
            raise ValueError(f"torrent_listing: unknown column(s) {', '.join(unknown)}")
        (page, page_order), (count, count_order) = _driver_statements(
            self.engine.dialect, tuple(columns), instance is not None, state is not None
        )
        params = {"instance": instance, "state": state, "limit": max_rows + 1, "offset": 0}
        with self._driver_connection(page, params) as conn:
            cursor: Any = conn.cursor()
            try:
                # The count first (from the index, ~1,000 times cheaper than the rows): a
                # listing too long to hold is not read at all.
                cursor.execute(count, _args(count_order, params))
                if int(cursor.fetchone()[0]) > max_rows:
                    return None
                cursor.execute(page, _args(page_order, params))
                found: list[Any] = []
                while chunk := cursor.fetchmany(LISTING_CHUNK):
                    found += convert(chunk)
            finally:
                cursor.close()
                if self.dialect != "sqlite":  # autocommit on SQLite (db.py)
                    conn.rollback()
        return None if len(found) > max_rows else found

    def torrent_page_plan(self, instance: str | None = None, state: str | None = None) -> str:
        """SQLite's ``EXPLAIN QUERY PLAN`` of a page query, one step per line (tests check
        that the listing index serves the order; other backends answer "")."""
        if self.dialect != "sqlite":
            return ""
        page, _ = _statements(PAGE_COLUMNS, instance is not None, state is not None)
        params = {"instance": instance, "state": state, "limit": 100, "offset": 0}
        compiled = page.compile(self.engine)  # SQLite's parameters are positional
        values = compiled.construct_params(params)
        args = tuple(values[name] for name in compiled.positiontup or ())
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, args)
            return "\n".join(str(r[-1]) for r in rows)
