"""How the store recognises a full disk in what SQLite and PostgreSQL raise (the end-to-end
disk-full scenario is test_disk_full.py; PostgreSQL's disk cannot be filled from a test)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from qbitrr_mqtt.store import StorageFull, Store
from qbitrr_mqtt.store.base import is_disk_full


class PgDiskFull(Exception):
    """Shaped like psycopg's DiskFull: SQLSTATE 53100."""

    sqlstate = "53100"


@pytest.mark.parametrize(
    ("orig", "full"),
    [
        (sqlite3.OperationalError("database or disk is full"), True),
        (PgDiskFull('could not extend file "base/16384/2619": No space left on device'), True),
        (PgDiskFull("anything"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.OperationalError("no such table: torrent"), False),
    ],
)
def test_disk_full_is_told_apart_from_other_database_errors(orig: Exception, full: bool) -> None:
    assert is_disk_full(OperationalError("INSERT ...", {}, orig)) is full


def test_a_write_on_a_full_sqlite_database_raises_storage_full_and_keeps_it_intact(
    tmp_path: Path,
) -> None:
    """A real SQLite limit (max_page_count) stands in for the disk: same SQLITE_FULL error."""
    store = Store.open(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        with store.session() as s:
            pages = s.connection().exec_driver_sql("PRAGMA page_count").scalar()
            s.connection().exec_driver_sql(f"PRAGMA max_page_count = {pages}")
            s.commit()
        with pytest.raises(StorageFull, match="is full; nothing was lost"):
            for i in range(2000):
                store.upsert_instance_state(f"instance-{i}", error="x" * 2000)
        assert store.integrity_check() == []
    finally:
        store.close()
