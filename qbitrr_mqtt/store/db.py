"""Engine set-up for the two supported backends.

SQLite (the default, ``sqlite:///./data/qbitrr.db``) is shared by several processes (one
manager per Arr instance, the bridge, the WebUI), so every connection gets, through a
``connect`` event:

- ``journal_mode=WAL``: readers never block the writer and the writer never blocks readers;
- ``busy_timeout`` (10 s): a writer waits for another process's write instead of failing
  at once with "database is locked";
- ``synchronous=NORMAL``: safe with WAL (a power cut can lose the last commits, never
  corrupt the file) and much cheaper than FULL;
- ``foreign_keys=ON``: SQLite ignores foreign keys unless asked on each connection.

Write transactions start with ``BEGIN IMMEDIATE`` (the engine returned by
:func:`writer`): a deferred transaction that reads first and writes later can fail with
SQLITE_BUSY without waiting when another process wrote in between, which busy_timeout
cannot help; taking the write lock up front makes writers queue instead. Read sessions use
a plain ``BEGIN`` and never block anyone.

PostgreSQL (``postgresql+psycopg://user:pass@host/db``; a bare ``postgresql://`` is read as
psycopg 3, the driver installed) gets ``pool_pre_ping`` so a connection dropped by a server
restart is replaced instead of failing the next cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from .lean.db import BUSY_TIMEOUT_MS, enable_wal

if TYPE_CHECKING:
    from .store import Store

DEFAULT_URL = "sqlite:///./data/qbitrr.db"
_IMMEDIATE = "qbitrr_begin_immediate"


class UnsupportedDatabase(ValueError):
    """database.url names a backend the store does not support."""


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    connect_args.update(kwargs.pop("connect_args", {}))
    if _is_memory(url):
        # One shared connection, or every pooled connection would see its own empty db.
        kwargs.setdefault("poolclass", StaticPool)
    elif not url.query.get("uri"):
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) rather than sqlite3's own logic.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not _is_memory(url):
                enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up as the module docstring says; extra kwargs go to
    ``create_engine``. UnsupportedDatabase for anything but SQLite and PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 3)
        kwargs.setdefault("max_overflow", 5)
        kwargs.setdefault("connect_args", {"connect_timeout": 10})
        return create_engine(parsed, **kwargs)
    raise UnsupportedDatabase(
        f"database.url uses {backend!r}; expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    )


def writer(engine: Engine) -> Engine:
    """The engine to run write transactions on: BEGIN IMMEDIATE on SQLite, as is elsewhere."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_IMMEDIATE: True})


def open_store(url: str = DEFAULT_URL, **kwargs: Any) -> Store:
    """Open (and create or migrate) the store at ``url``; see :meth:`Store.open`."""
    from .store import Store

    return Store.open(url, **kwargs)
