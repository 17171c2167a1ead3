"""The WebUI's torrent page (``Store.torrent_page``) on SQLite and PostgreSQL: the same rows,
order and totals as ``list_torrents``, read through the listing indexes (the query plan is
checked, not timed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.listing import PAGE_COLUMNS
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FIELDS = ("instance", "hash", "name", "state", "health", "first_seen", "gone_at", "strikes")


def h(i: int) -> str:
    return f"{i:040x}"


def _fill(store: Store) -> None:
    """Three instances; many torrents share a first_seen (a first cycle sees them all at
    once), some are gone, states vary."""
    for n, instance in enumerate(("radarr", "sonarr", "lidarr")):
        for batch in range(4):
            rows = [
                {
                    "hash": h(1000 * n + 10 * batch + i),
                    "name": f"{instance} {batch}.{i}",
                    "state": "stalledDL" if i % 4 == 0 else "uploading",
                    "health": "stalled" if i % 4 == 0 else "seeding",
                    "added_on": T0,
                }
                for i in range(7 + n)
            ]
            store.upsert_torrents(instance, rows, at=T0 + timedelta(minutes=batch))
    store.mark_gone("radarr", [h(1), h(12), h(25)], at=T0 + timedelta(hours=1))
    store.add_strike("sonarr", h(1000), "stalled")


def _as_rows(items: list, fields: tuple[str, ...] = FIELDS) -> list[tuple]:
    get = (lambda o, f: o[f]) if items and isinstance(items[0], dict) else getattr
    return [tuple(get(o, f) for f in fields) for o in items]


def test_torrent_page_answers_what_list_torrents_answers(store: Store) -> None:
    _fill(store)
    for instance in (None, "radarr", "sonarr", "readarr"):
        for state in (None, "stalled", "uploading", "stalledDL", "paused"):
            for limit, offset in ((100, 0), (5, 0), (5, 3), (7, 20), (10, 29), (3, 200), (0, 0)):
                want, want_total = store.list_torrents(instance, state, limit, offset)
                got, total = store.torrent_page(instance, state, limit, offset, columns=FIELDS)
                assert _as_rows(got) == _as_rows(want), (instance, state, limit, offset)
                assert total == want_total, (instance, state, limit, offset)
    everything, total = store.torrent_page(limit=1000)
    assert total == 3 * 4 * 8 - 3 and len(everything) == total
    assert set(everything[0]) == set(PAGE_COLUMNS)
    assert all(t["gone_at"] is None for t in everything)
    first = everything[0]["first_seen"]
    assert first == T0 + timedelta(minutes=3) and first.tzinfo is UTC  # aware UTC, newest first
    assert next(t for t in everything if t["hash"] == h(1000))["strikes"] == 1


def test_paging_visits_every_torrent_once(store: Store) -> None:
    _fill(store)
    seen: list[str] = []
    offset = 0
    while True:
        page, total = store.torrent_page(limit=4, offset=offset, columns=("instance", "hash"))
        if not page:
            break
        seen += [f"{t['instance']}/{t['hash']}" for t in page]
        offset += len(page)
    assert len(seen) == len(set(seen)) == total == 93


def test_torrent_page_refuses_bad_paging_and_columns(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.torrent_page(limit=-1)
    with pytest.raises(ValueError, match="offset"):
        store.torrent_page(offset=-1)
    with pytest.raises(ValueError, match="unknown column"):
        store.torrent_page(columns=("hash", "nmae"))


def test_sqlite_reads_the_page_in_index_order(store: Store) -> None:
    """No sort of every row: SQLite walks a listing index (stats or none)."""
    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    _fill(store)
    for analyzed in (False, True):
        if analyzed:
            with store.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        for instance, state, index in (
            (None, None, "ix_torrent_listing_all"),
            ("radarr", None, "ix_torrent_listing "),
            ("radarr", "stalled", "ix_torrent_listing "),
            (None, "stalledDL", "ix_torrent_listing_all"),
        ):
            plan = store.torrent_page_plan(instance, state) + " "
            assert f"USING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def test_postgresql_reads_the_page_in_index_order(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("the PostgreSQL planner")
    rows = [{"hash": h(i), "health": "seeding", "state": "uploading"} for i in range(3000)]
    store.upsert_torrents("radarr", rows, at=T0)
    store.upsert_torrents("sonarr", rows[:50], at=T0 + timedelta(minutes=1))
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE torrent"))
    for where in ("gone_at IS NULL", "instance = 'radarr' AND gone_at IS NULL"):
        sql = (
            f"EXPLAIN SELECT * FROM torrent WHERE {where} "
            "ORDER BY first_seen DESC, instance, hash LIMIT 100 OFFSET 500"
        )
        with store.engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.execute(text(sql)))
        assert "Index Scan using ix_torrent_listing" in plan, plan
        assert "Sort" not in plan, plan
