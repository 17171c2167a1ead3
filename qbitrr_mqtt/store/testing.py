"""Pytest fixtures that run a store test on SQLite and on PostgreSQL.

Imported only by tests: ``from qbitrr_mqtt.store.testing import store_fixture,
store_url_fixture  # noqa: F401`` gives a module the ``store`` and ``store_url`` fixtures
(``store_pair_fixture`` gives ``store_pair``: ``Store`` and ``LeanStore`` on one database)
(the ``_fixture`` names keep ruff from reading the test arguments as redefinitions). Each
test gets its own database: a SQLite file in ``tmp_path``, or a throwaway PostgreSQL
database with a random name on 127.0.0.1:5432 (user postgres, trust auth; override with
``QBITRR_TEST_PG_DSN``), dropped afterwards even when the test fails. When the server cannot
be reached the PostgreSQL variant is skipped with the reason, visible under ``pytest -ra``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from .lean import LeanStore
from .store import Store

PG_DSN = os.environ.get(
    "QBITRR_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        with psycopg.connect(PG_DSN, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_DSN!r} unreachable: {exc}".strip()
    return None


def _admin() -> psycopg.Connection:
    return psycopg.connect(PG_DSN, connect_timeout=10, autocommit=True)


@contextmanager
def temp_postgres_database() -> Iterator[str]:
    """A new empty database; yields its SQLAlchemy URL and drops it on exit (closing any
    connection a test left open)."""
    name = f"qbitrr_test_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(PG_DSN)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", 5432)
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'data' / 'qbitrr.db'}"


@pytest.fixture(name="postgres_url")
def postgres_url_fixture() -> Iterator[str]:
    """A throwaway PostgreSQL database (skipped, with the reason, when unreachable)."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with temp_postgres_database() as url:
        yield url


@pytest.fixture(name="store_url", params=BACKENDS)
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with temp_postgres_database() as url:
        yield url


@pytest.fixture(name="store")
def store_fixture(store_url: str) -> Iterator[Store]:
    """An opened (migrated) store on a fresh database, closed after the test."""
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(name="store_pair")
def store_pair_fixture(store_url: str) -> Iterator[tuple[Store, LeanStore]]:
    """``Store`` (which creates the schema) and ``LeanStore`` on the same fresh database."""
    store = Store.open(store_url)
    lean = LeanStore.open(store_url)
    try:
        yield store, lean
    finally:
        lean.close()
        store.close()
