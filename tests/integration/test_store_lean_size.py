"""LeanStore.db_size against retention.db_size (the ORM's) on SQLite and PostgreSQL: the
bridge publishes it as ``bridge/info``'s ``db_size`` and now measures it with LeanStore."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.lean.db import parse_url
from qbitrr_mqtt.store.retention import db_size
from qbitrr_mqtt.store.testing import store_pair_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def fill(lean: LeanStore, n: int) -> None:
    """``n`` finished process events with a long detail (rows that take room)."""
    for i in range(n):
        lean.record_process_event("manager-a", "RUNNING", "EXITED", pid=i, detail="x" * 400, at=T0)


def between(store: Store, lean: LeanStore) -> tuple[int, int, int]:
    """The ORM's size, LeanStore's, the ORM's again (no writes in between)."""
    return db_size(store), lean.db_size(), db_size(store)


def test_db_size_matches_the_orm_and_grows(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    first, lean_first, again = between(store, lean)
    assert first > 0
    assert min(first, again) <= lean_first <= max(first, again)
    fill(lean, 2000)
    grown, lean_grown, again = between(store, lean)
    assert min(grown, again) <= lean_grown <= max(grown, again)
    assert lean_grown > lean_first


def test_sqlite_counts_the_wal(tmp_path: Path) -> None:
    """Rows not yet checkpointed live in the ``-wal`` file; the size includes them."""
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    Store.open(url).close()
    lean = LeanStore.open(url)
    try:
        fill(lean, 200)
        path = Path(parse_url(url)[1])
        wal = path.with_name(path.name + "-wal").stat().st_size
        assert wal > 0
        assert lean.db_size() == path.stat().st_size + wal
    finally:
        lean.close()
