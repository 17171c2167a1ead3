"""Engine settings, timestamps and concurrent opening, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from qbitrr_mqtt.store import NaiveDatetimeError, Store
from qbitrr_mqtt.store.db import BUSY_TIMEOUT_MS
from qbitrr_mqtt.store.migrations import SCHEMA_VERSION
from qbitrr_mqtt.store.testing import (  # noqa: F401  (fixtures)
    postgres_url_fixture,
    sqlite_url,
    store_fixture,
    store_url_fixture,
)

TOKYO = timezone(timedelta(hours=9))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(sqlite_url(tmp_path))
    try:
        yield opened
    finally:
        opened.close()


def test_sqlite_connection_settings(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        got = {
            p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        }
    assert got == {
        "journal_mode": "wal",
        "busy_timeout": BUSY_TIMEOUT_MS,
        "synchronous": 1,  # NORMAL
        "foreign_keys": 1,
    }


def test_sqlite_creates_the_data_directory(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "q.db"
    with Store.open(f"sqlite:///{target}") as opened:
        opened.outbox_put("t", "x")
    assert target.is_file()


def test_postgres_connection_settings(postgres_url: str) -> None:
    with Store.open(postgres_url) as opened:
        assert opened.engine.pool._pre_ping is True  # type: ignore[attr-defined]
        with opened.engine.connect() as conn:
            kind = conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'torrent' AND column_name = 'first_seen'"
                )
            ).scalar()
    assert kind == "timestamp with time zone"


def test_sqlite_writer_waits_for_another_writer(sqlite_store: Store) -> None:
    """busy_timeout makes a second writer queue behind a held write lock, not fail."""
    path = str(sqlite_store.engine.url.database)
    held, released = threading.Event(), threading.Event()
    committed: list[bool] = []

    def hold_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES ('held', 'x')")
            held.set()
            released.wait(30)
            committed.append(True)
            other.execute("COMMIT")
        finally:
            other.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert held.wait(30)
        threading.Timer(0.5, released.set).start()
        row_id = sqlite_store.outbox_put("t", "waited")  # blocks until the holder commits
        assert committed == [True]
        assert [m.id for m in sqlite_store.outbox_take()] == [row_id]
    finally:
        released.set()
        holder.join(30)


def test_aware_datetimes_round_trip_as_utc(store: Store) -> None:
    local = datetime(2024, 3, 31, 2, 30, 15, 123456, tzinfo=TOKYO)
    store.upsert_torrents("radarr", [{"hash": "a" * 40, "added_on": local}], at=local)
    got = store.get_torrent("radarr", "a" * 40)
    assert got is not None and got.added_on is not None
    assert got.added_on == local
    assert got.added_on.tzinfo is UTC
    assert got.added_on.hour == 17 and got.added_on.microsecond == 123456
    assert got.first_seen == local and got.first_seen.tzinfo is UTC


def test_sqlite_stores_utc_text(sqlite_store: Store) -> None:
    sqlite_store.record_search("radarr", 1, "manual", at=datetime(2024, 1, 1, 12, tzinfo=TOKYO))
    with sqlite_store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT created_at FROM search").scalar()
    assert raw == "2024-01-01 03:00:00.000000"


def test_postgres_session_timezone_does_not_leak(postgres_url: str) -> None:
    tokyo = Store.open(postgres_url, connect_args={"options": "-c TimeZone=Asia/Tokyo"})
    try:
        when = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
        row = tokyo.record_search("sonarr", 7, "missing", at=when)
        found = tokyo.last_search_for("sonarr", 7)
        assert found is not None and found.id == row.id
        assert found.created_at == when and found.created_at.tzinfo is UTC
    finally:
        tokyo.close()


def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2024, 1, 1, 12, 0)
    with pytest.raises(NaiveDatetimeError, match="naive datetime"):
        store.upsert_torrents("radarr", [{"hash": "b" * 40, "added_on": naive}])
    with pytest.raises(NaiveDatetimeError):
        store.record_intent("radarr", "b" * 40, "n", "remove", "stalled", at=naive)
    assert store.get_torrents("radarr") == {}
    assert store.list_actions()[1] == 0


def test_integrity_check_of_a_sound_database(store: Store) -> None:
    store.upsert_torrents("radarr", [{"hash": "c" * 40}])
    assert store.integrity_check() == []


def test_sqlite_integrity_check_reports_a_broken_index(tmp_path: Path) -> None:
    """An index that no longer matches its table is reported (the fault tests rely on it)."""
    url = sqlite_url(tmp_path)
    with Store.open(url) as opened:
        rows = [{"hash": f"{i:040x}", "name": f"n{i}", "health": "stalled"} for i in range(20)]
        opened.upsert_torrents("radarr", rows)
        path = str(opened.engine.url.database)
    raw = sqlite3.connect(path)
    try:  # make the index claim to cover another column than the one it was built from
        raw.execute("PRAGMA writable_schema=ON")
        raw.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX ix_torrent_instance_health "
            "ON torrent (instance, name)' WHERE name = 'ix_torrent_instance_health'"
        )
        raw.commit()
    finally:
        raw.close()
    with Store.open(url, run_migrations=False) as damaged:
        problems = damaged.integrity_check()
    assert len(problems) == 20
    assert all("missing from index ix_torrent_instance_health" in p for p in problems)


def test_sqlite_integrity_check_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not SQLite " * 300)
    with Store.open(f"sqlite:///{path}", run_migrations=False) as damaged:
        problems = damaged.integrity_check()
    assert problems == ["file is not a database"]


OPEN_AND_WRITE = """
import sys
from qbitrr_mqtt.store import Store
with Store.open(sys.argv[1]) as s:
    s.outbox_put("t", sys.argv[2])
    print(s.schema_version())
"""


def test_processes_opening_a_fresh_database_together(store_url: str) -> None:
    """supervisord starts every program at once: each must open (creating the schema once)
    and write, none may fail with "locked" or "table already exists"."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_WRITE, store_url, f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            outputs.append((proc.returncode, out.strip(), err[-2000:]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert outputs == [(0, str(SCHEMA_VERSION), "")] * 4
    with Store.open(store_url) as opened:
        assert sorted(m.payload for m in opened.outbox_take()) == ["p0", "p1", "p2", "p3"]
