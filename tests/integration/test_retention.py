"""Retention on SQLite and PostgreSQL: thousands of old rows pruned in bounded batches,
recent rows and pending intents kept, gone torrents forgotten, the SQLite file shrinking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from qbitrr_mqtt.store import Action, Command, ProcessEvent, Search, Store, Strike, Torrent
from qbitrr_mqtt.store.retention import (
    BATCH_SIZE,
    db_size,
    ensure_incremental_vacuum,
    last_report,
    pruned_action_totals,
    run_maintenance,
)
from qbitrr_mqtt.store.testing import (  # noqa: F401
    postgres_url_fixture,
    sqlite_url,
    store_fixture,
    store_url_fixture,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=45)
RECENT = NOW - timedelta(days=2)
CONFIG = SimpleNamespace(settings=SimpleNamespace(retention_days=30))
N_OLD = 2600  # more than five batches


def fill(store: Store, n_old: int = N_OLD, pad: str = "") -> None:
    """``n_old`` old rows and 10 recent ones in every pruned table, in a few transactions."""
    with store.session() as s:
        for i, at in [(i, OLD) for i in range(n_old)] + [(n_old + i, RECENT) for i in range(10)]:
            status = "done" if i % 2 else "failed"
            s.execute(
                insert(Action).values(
                    instance="radarr", action="remove", reason="stalled" + pad, status=status,
                    key=f"k{i}", created_at=at, finished_at=at, published=True,
                )
            )  # fmt: skip
        s.execute(
            insert(Search),
            [
                dict(instance="radarr", kind="missing", status="completed", created_at=at, finished_at=at)
                for at in [OLD] * n_old + [RECENT] * 10
            ],
        )  # fmt: skip
        s.execute(
            insert(ProcessEvent),
            [
                dict(name="manager-radarr", to_state="RUNNING", detail=pad, at=at)
                for at in [OLD] * n_old + [RECENT] * 10
            ],
        )
        s.execute(
            insert(Command),
            [
                dict(id=f"c{i}", command="run_now", instance="radarr", source="cli",
                     status="done", payload="{}", created_at=at, finished_at=at)
                for i, at in enumerate([OLD] * n_old + [RECENT] * 10)
            ],
        )  # fmt: skip
        s.commit()


def count(store: Store, model: type) -> int:
    with store.session(write=False) as s:
        return len(list(s.execute(select(model))))


def test_prunes_old_rows_in_batches_and_keeps_recent_ones(store: Store) -> None:
    fill(store)
    # Kept whatever their age: a pending intent, an unfinished search, a pending command.
    intent = store.record_intent(
        "radarr", "a" * 40, "x", "remove", "stalled", key="pending", at=OLD
    )
    store.record_search("radarr", 7, "missing", at=OLD)
    pending = store.enqueue_command("run_now", "radarr")

    report = run_maintenance(store, CONFIG, now=NOW)

    for table in ("actions", "searches", "process_events", "commands"):
        result = report.pruned[table]
        assert result.rows == N_OLD, table
        assert result.largest_batch <= BATCH_SIZE
        assert result.batches >= N_OLD // BATCH_SIZE
    assert count(store, Action) == 11 and store.get_action(intent.id) is not None  # type: ignore[arg-type]
    assert count(store, Search) == 11
    assert count(store, ProcessEvent) == 10
    assert count(store, Command) == 11 and store.get_command(pending.id) is not None
    # Pruned actions stay counted for /metrics, by instance, action and status.
    assert pruned_action_totals(store) == {
        ("radarr", "remove", "done"): N_OLD // 2,
        ("radarr", "remove", "failed"): N_OLD // 2,
    }
    saved = last_report(store)
    assert saved is not None and saved["total_pruned"] == 4 * N_OLD
    assert saved["db_size_after"] == report.db_size_after > 0

    again = run_maintenance(store, CONFIG, now=NOW)  # nothing left to prune
    assert again.total_pruned == 0
    assert sum(pruned_action_totals(store).values()) == N_OLD


def test_small_batches_still_take_everything(store: Store) -> None:
    fill(store, n_old=25)
    report = run_maintenance(store, CONFIG, now=NOW, batch_size=4)
    assert report.pruned["process_events"].rows == 25
    assert report.pruned["process_events"].batches == 7
    assert report.pruned["process_events"].largest_batch == 4
    assert count(store, ProcessEvent) == 10


def test_forgets_torrents_gone_for_more_than_a_day_with_their_strikes(store: Store) -> None:
    store.upsert_torrents(
        "radarr", [{"hash": h, "name": h} for h in ("a" * 40, "b" * 40, "c" * 40)]
    )
    store.upsert_torrents("sonarr", [{"hash": "d" * 40, "name": "d"}])
    store.add_strike("radarr", "a" * 40, "stalled", at=OLD)
    store.mark_gone("radarr", ["a" * 40], at=NOW - timedelta(days=3))
    store.mark_gone("radarr", ["b" * 40], at=NOW - timedelta(hours=2))  # gone, but recently
    store.mark_gone("sonarr", ["d" * 40], at=NOW - timedelta(days=1, minutes=1))

    report = run_maintenance(store, CONFIG, now=NOW)

    assert report.pruned["torrents"].rows == 2
    assert set(store.get_torrents("radarr")) == {"b" * 40, "c" * 40}
    assert store.get_torrents("sonarr") == {}
    assert count(store, Strike) == 0
    assert count(store, Torrent) == 2


def test_db_size_is_reported_on_both_backends(store: Store) -> None:
    before = db_size(store)
    assert before > 0
    fill(store, n_old=3000, pad="x" * 200)
    assert db_size(store) > before


def test_sqlite_file_shrinks_after_maintenance(tmp_path: Path) -> None:
    store = Store.open(sqlite_url(tmp_path))
    try:
        assert ensure_incremental_vacuum(store) is True  # an existing db: one full VACUUM
        assert ensure_incremental_vacuum(store) is False
        fill(store, n_old=4000, pad="x" * 300)
        store.engine.dispose()  # let the WAL be checkpointed into the file
        grown = db_size(store)
        report = run_maintenance(store, CONFIG, now=NOW)
        assert report.freed_pages > 0
        assert report.checkpoint_complete is True
        assert report.db_size_after is not None and report.db_size_after < grown / 2
        db_file = Path(str(store.engine.url.database))
        # The WAL was truncated; only the saved report was written after that.
        assert db_file.with_name(db_file.name + "-wal").stat().st_size < 64 * 1024
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_report_has_no_sqlite_steps(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        fill(store, n_old=600)
        report = run_maintenance(store, CONFIG, now=NOW)
        assert report.total_pruned == 4 * 600
        assert (report.converted, report.freed_pages, report.checkpoint_complete) == (
            False,
            0,
            None,
        )
        assert report.db_size_after and report.db_size_after > 0
    finally:
        store.close()
