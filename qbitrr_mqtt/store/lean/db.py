"""Connections for the lean store: plain DB-API (sqlite3, psycopg 3), no SQLAlchemy.

The same settings as ``store/db.py`` gives SQLAlchemy's engine, so both implementations can
share one database file or server:

- SQLite: WAL, ``busy_timeout`` 10 s, ``synchronous=NORMAL``, ``foreign_keys=ON``; writes
  start with ``BEGIN IMMEDIATE`` (a deferred transaction that reads and then writes can fail
  with SQLITE_BUSY at once when another process wrote in between), reads with ``BEGIN``.
- PostgreSQL: a connection that the server dropped (restart, idle timeout) is replaced before
  the next transaction instead of failing it (SQLAlchemy's ``pool_pre_ping``).

One connection per thread (the manager's cycle and its quick-command thread each get their
own), opened on first use. SQL is written with ``:name`` parameters, which sqlite3 takes as
they are and which are rewritten to psycopg's ``%(name)s`` once per statement text.
Datetimes are bound as SQLAlchemy binds them (naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
on SQLite, ``timestamptz`` on PostgreSQL) so that comparisons in SQL agree across the two
implementations.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..common import StorageFull, full_message, is_disk_full, to_utc

BUSY_TIMEOUT_MS = 10_000
#: Page cache per SQLite connection, KiB (SQLite's default is 2,000): each thread of a manager
#: has its own connection, and an idle cycle reads one row; the pages stay in the OS cache.
SQLITE_CACHE_KIB = 512
#: SQLAlchemy's storage format for DATETIME on SQLite (``sqlalchemy.dialects.sqlite.DATETIME``).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"

Params = Mapping[str, Any]


class UnsupportedDatabase(ValueError):
    """database.url names a backend the lean store does not support."""


def parse_url(url: str) -> tuple[str, str, dict[str, str]]:
    """``(dialect, target, query)``: ``sqlite`` and a file path, or ``postgresql`` and a libpq
    URI. SQLAlchemy's URL forms are accepted: ``sqlite:///relative.db``,
    ``sqlite:////absolute.db``, ``postgresql://`` and ``postgresql+psycopg://``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UnsupportedDatabase(f"database.url {url!r} is not a URL (sqlite:///PATH?)")
    backend = scheme.split("+", 1)[0]
    if backend == "sqlite":
        path, _, query = rest.removeprefix("/").partition("?")
        if path in ("", ":memory:"):
            raise UnsupportedDatabase(
                "the lean store needs a database file shared by processes; an in-memory "
                "SQLite database is private to one connection"
            )
        return "sqlite", path, {k: v[-1] for k, v in parse_qs(query).items()}
    if backend == "postgresql":
        parts = urlsplit(url)
        return "postgresql", parts._replace(scheme="postgresql").geturl(), {}
    raise UnsupportedDatabase(
        f"database.url uses {backend!r}; expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s`` (a literal ``%`` doubled)."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql.replace("%", "%%"))


def in_params(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(":p0, :p1, ...", {"p0": v0, ...})`` for an ``IN (...)`` list of ``values``."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))


def enable_wal(conn: Any) -> None:
    """Switch the SQLite file behind ``conn`` (a connection or cursor) to WAL once (the mode
    is stored in the file). Switching needs a lock SQLite does not wait for with
    busy_timeout, so processes opening a new database together (supervisord starts them at
    once) retry here instead of failing with "locked". Both stores' connections call it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class Tx:
    """One transaction: ``execute`` / ``rows`` / ``row`` / ``scalar`` with ``:name`` SQL."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor

    def execute(self, sql: str, params: Params | None = None) -> Any:
        """Run one statement; returns the cursor (``rowcount``, ``fetch*``)."""
        cursor = self._cursor
        cursor.execute(self._db.sql(sql), self._db.bind(params) if params else {})
        self._db.count(sql)
        return cursor

    def many(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement for each parameter set (the driver's ``executemany``: one round
        trip per batch on PostgreSQL, where a loop of ``execute`` pays one per row); returns
        the rows affected in all. Counted as one statement, as SQLAlchemy's cursor event
        counts an executemany."""
        if not params:
            return 0
        cursor = self._cursor
        cursor.executemany(self._db.sql(sql), [self._db.bind(p) for p in params])
        self._db.count(sql)
        return int(cursor.rowcount)

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        return list(self.execute(sql, params).fetchall())

    def row(self, sql: str, params: Params | None = None) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.execute(sql, params).fetchone()
        return found

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        found = self.row(sql, params)
        return None if found is None else found[0]

    @property
    def dialect(self) -> str:
        return self._db.dialect


class Database:
    """The database at ``url``, one connection per thread (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect, self._target, self._query = parse_url(url)
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        #: Statements and writes run, for the bench probe (there are no SQLAlchemy events).
        self.statements = 0
        self.writes = 0
        if self.dialect == "sqlite" and not self._query.get("uri"):
            Path(self._target).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def count(self, sql: str) -> None:
        self.statements += 1
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writes += 1

    # --- values -------------------------------------------------------------------------
    def sql(self, text: str) -> str:
        return text if self.dialect == "sqlite" else _pyformat(text)

    def bind(self, params: Params) -> dict[str, Any]:
        """Parameters as the driver takes them: datetimes checked to be aware and, on
        SQLite, written as SQLAlchemy writes them."""
        out = dict(params)
        for key, value in out.items():
            if isinstance(value, datetime):
                value = to_utc(value)
                if self.dialect == "sqlite":
                    value = value.replace(tzinfo=None).strftime(SQLITE_DATETIME)
                out[key] = value
        return out

    # --- connections --------------------------------------------------------------------
    def _connect(self) -> Any:
        conn: Any
        if self.dialect == "sqlite":
            conn = sqlite3.connect(
                self._target,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we say BEGIN ourselves
                uri=bool(self._query.get("uri")),
            )
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        else:
            import psycopg  # only a PostgreSQL set-up pays for the driver

            conn = psycopg.connect(self._target, connect_timeout=10, autocommit=True)
        with self._lock:
            self._all.append(conn)
        return conn

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self.dialect == "postgresql" and (conn.closed or conn.broken):
            self._discard(conn)
            conn = None
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _discard(self, conn: Any) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(Exception):  # a dead connection may fail to close
            conn.close()
        self._local.conn = None

    def _begin(self, write: bool) -> Any:
        """A cursor inside a new transaction. On PostgreSQL a connection found dead at BEGIN
        (nothing done yet, so retrying is safe) is replaced once, as ``pool_pre_ping`` does."""
        for attempt in (1, 2):
            conn = self._connection()
            cursor = conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE" if write and self.dialect == "sqlite" else "BEGIN")
                return cursor
            except Exception:
                if self.dialect != "postgresql" or attempt == 2 or not conn.broken:
                    raise
                self._discard(conn)
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction (never blocks a writer); rolled back at the end."""
        cursor = self._begin(write=False)
        try:
            yield Tx(self, cursor)
        finally:
            self._end(cursor, commit=False)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction, committed when the block ends and rolled back when it raises;
        StorageFull when the disk is full."""
        cursor = self._begin(write=True)
        try:
            yield Tx(self, cursor)
        except BaseException as exc:
            self._end(cursor, commit=False)
            if isinstance(exc, Exception) and is_disk_full(exc):
                raise StorageFull(full_message(self._where())) from exc
            raise
        try:
            self._end(cursor, commit=True)
        except Exception as exc:
            if is_disk_full(exc):
                raise StorageFull(full_message(self._where())) from exc
            raise

    def _end(self, cursor: Any, commit: bool) -> None:
        try:
            cursor.execute("COMMIT" if commit else "ROLLBACK")
        except Exception:
            if commit:
                self._rollback_quietly(cursor)
                raise
            # a rollback after the connection died: the transaction is gone either way
            if self.dialect == "postgresql":
                self._discard(cursor.connection)
        finally:
            cursor.close()

    @staticmethod
    def _rollback_quietly(cursor: Any) -> None:
        with contextlib.suppress(Exception):  # the commit's own error is the one to report
            cursor.execute("ROLLBACK")

    def _where(self) -> str:
        return self._target if self.dialect == "sqlite" else "the database server"

    def close(self) -> None:
        """Close every connection of every thread."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()
