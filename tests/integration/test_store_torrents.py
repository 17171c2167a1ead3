"""Torrents and strikes on SQLite and PostgreSQL: upserts, paging totals, gone torrents,
download history, the strike count invariant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbitrr_mqtt.store import NotFound, Store
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def h(i: int) -> str:
    return f"{i:040x}"


def test_upsert_inserts_then_updates_only_the_given_fields(store: Store) -> None:
    store.upsert_torrents(
        "radarr",
        [{"hash": "ABCDEF" + "0" * 34, "name": "Movie", "size": 8 * 2**30, "media_id": 42}],
        at=T0,
    )
    later = T0 + timedelta(minutes=5)
    out = store.upsert_torrents(
        "radarr",
        [{"hash": "abcdef" + "0" * 34, "progress": 0.5, "health": "downloading"}],
        at=later,
    )
    assert list(out) == ["abcdef" + "0" * 34]  # hashes are lower-cased
    got = store.get_torrent("radarr", "ABCDEF" + "0" * 34)
    assert got is not None
    assert (got.name, got.size, got.media_id, got.progress, got.health) == (
        "Movie",
        8 * 2**30,  # 64-bit byte counts
        42,
        0.5,
        "downloading",
    )
    assert (got.first_seen, got.last_seen) == (T0, later)
    assert store.get_torrents("sonarr") == {}  # instances are separate


def test_upsert_refuses_unknown_fields_and_strike_fields(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown field"):
        store.upsert_torrents("radarr", [{"hash": h(1), "nmae": "typo"}])
    with pytest.raises(ValueError, match="add_strike"):
        store.upsert_torrents("radarr", [{"hash": h(1), "strikes": 3}])
    with pytest.raises(ValueError, match="needs a hash"):
        store.upsert_torrents("radarr", [{"name": "x"}])
    assert store.get_torrents("radarr") == {}


def test_list_torrents_pages_with_totals_and_filters(store: Store) -> None:
    rows = [
        {"hash": h(i), "health": "stalled" if i % 3 == 0 else "downloading", "state": "stalledDL"}
        for i in range(25)
    ]
    for i, row in enumerate(rows):  # distinct first_seen: newest first is well defined
        store.upsert_torrents("radarr", [row], at=T0 + timedelta(seconds=i))
    store.upsert_torrents("sonarr", [{"hash": h(99), "health": "stalled"}], at=T0)

    page, total = store.list_torrents("radarr", limit=10, offset=0)
    assert total == 25 and [t.hash for t in page] == [h(i) for i in range(24, 14, -1)]
    page, total = store.list_torrents("radarr", limit=10, offset=20)
    assert total == 25 and [t.hash for t in page] == [h(i) for i in range(4, -1, -1)]
    page, total = store.list_torrents("radarr", limit=10, offset=30)
    assert (page, total) == ([], 25)

    stalled, total = store.list_torrents("radarr", state="stalled", limit=100)
    assert total == 9 and all(t.health == "stalled" for t in stalled)
    by_qbit_state, total = store.list_torrents("radarr", state="stalledDL", limit=5)
    assert total == 25 and len(by_qbit_state) == 5
    assert store.list_torrents(state="stalled")[1] == 10  # every instance
    with pytest.raises(ValueError, match="limit"):
        store.list_torrents(limit=-1)


def test_gone_torrents_leave_the_list_and_come_back_when_seen(store: Store) -> None:
    store.upsert_torrents("radarr", [{"hash": h(i)} for i in range(3)], at=T0)
    gone_at = T0 + timedelta(hours=1)
    assert store.mark_gone("radarr", [h(0).upper(), h(1), h(7)], gone_at) == 2
    assert store.mark_gone("radarr", [h(0)], gone_at + timedelta(hours=1)) == 0  # kept first
    listed, total = store.list_torrents("radarr")
    assert total == 1 and listed[0].hash == h(2)
    assert store.list_torrents("radarr", include_gone=True)[1] == 3
    assert store.get_torrents("radarr")[h(0)].gone_at == gone_at
    assert set(store.get_torrents("radarr", include_gone=False)) == {h(2)}

    store.upsert_torrents("radarr", [{"hash": h(0)}], at=gone_at + timedelta(hours=2))
    back = store.get_torrent("radarr", h(0))
    assert back is not None and back.gone_at is None and back.first_seen == T0


def test_downloads_are_finished_torrents_gone_or_not(store: Store) -> None:
    store.upsert_torrents(
        "radarr",
        [
            {"hash": h(1), "progress": 1.0, "health": "completed"},
            {"hash": h(2), "progress": 0.3, "health": "downloading"},
            {"hash": h(3), "progress": 1.0, "health": "seeding"},
            {"hash": h(4), "progress": 0.99, "imported": True},
        ],
        at=T0,
    )
    store.upsert_torrents("radarr", [{"hash": h(3)}], at=T0 + timedelta(minutes=1))
    store.mark_gone("radarr", [h(1)])
    rows, total = store.list_downloads("radarr", limit=2)
    assert total == 3
    assert rows[0].hash == h(3)  # most recently seen first
    assert {t.hash for t in store.list_downloads(limit=10)[0]} == {h(1), h(3), h(4)}


def test_strikes_count_up_and_reset_with_their_rows(store: Store) -> None:
    store.upsert_torrents("radarr", [{"hash": h(1)}], at=T0)
    assert store.add_strike("radarr", h(1), "stalled", T0, downloaded=100) == 1
    assert store.add_strike("radarr", h(1).upper(), "slow", T0 + timedelta(minutes=1), 150) == 2
    got = store.get_torrent("radarr", h(1))
    assert got is not None
    assert (got.strikes, got.strike_reason, got.last_strike_at) == (
        2,
        "slow",
        T0 + timedelta(minutes=1),
    )
    strikes = store.list_strikes("radarr", h(1))
    assert [(s.reason, s.downloaded) for s in strikes] == [("stalled", 100), ("slow", 150)]

    assert store.reset_strikes("radarr", h(1)) == 2
    got = store.get_torrent("radarr", h(1))
    assert got is not None and (got.strikes, got.strike_reason, got.last_strike_at) == (
        0,
        None,
        None,
    )
    assert store.list_strikes("radarr", h(1)) == []
    assert store.add_strike("radarr", h(1), "stalled") == 1  # counts from zero again


def test_a_strike_needs_a_known_torrent(store: Store) -> None:
    with pytest.raises(NotFound, match="no torrent"):
        store.add_strike("radarr", h(5), "stalled")
    store.upsert_torrents("sonarr", [{"hash": h(5)}])
    with pytest.raises(NotFound):
        store.add_strike("radarr", h(5), "stalled")  # same hash, other instance


def test_pruning_gone_torrents_takes_their_strikes(store: Store) -> None:
    store.upsert_torrents("radarr", [{"hash": h(1)}, {"hash": h(2)}], at=T0)
    store.add_strike("radarr", h(1), "stalled", T0)
    store.add_strike("radarr", h(2), "stalled", T0)
    store.mark_gone("radarr", [h(1)], T0 + timedelta(days=1))
    store.mark_gone("radarr", [h(2)], T0 + timedelta(days=9))
    assert store.prune_gone("radarr", before=T0 + timedelta(days=7)) == 1
    assert set(store.get_torrents("radarr")) == {h(2)}
    assert store.list_strikes("radarr", h(1)) == []  # ON DELETE CASCADE (foreign keys on)
    assert len(store.list_strikes("radarr", h(2))) == 1


def test_a_tracking_store_names_every_torrent_row_it_wrote(store: Store) -> None:
    """The manager's row cache re-reads only these: every write path must name its rows."""
    with pytest.raises(RuntimeError, match="not tracked"):
        store.take_touched("radarr")
    store.upsert_torrents("sonarr", [{"hash": h(9)}], at=T0)  # before tracking: not named
    store.track_torrent_writes("radarr")
    assert store.take_touched("radarr") == set()
    store.upsert_torrents("radarr", [{"hash": h(1)}, {"hash": h(2)}, {"hash": h(3)}], at=T0)
    assert store.take_touched("radarr") == {h(1), h(2), h(3)}
    assert store.take_touched("radarr") == set()  # handed over once
    store.add_strike("radarr", h(1), "stalled", at=T0)
    store.reset_strikes("radarr", h(2))
    store.mark_gone("radarr", [h(3)], at=T0)
    row = store.record_intent(
        instance="radarr", hash=h(1), name="x", action="recheck", reason="r", key="k1"
    )
    store.mark_done(row.id)
    assert store.take_touched("radarr") == {h(1), h(2), h(3)}
    store.upsert_torrents("sonarr", [{"hash": h(9)}], at=T0)  # another instance
    assert store.take_touched("radarr") == set()
    assert store.prune_gone("radarr", T0 + timedelta(days=1)) == 1
    assert store.take_touched("radarr") == {h(3)}
    got = store.torrent_rows("radarr", hashes=[h(1).upper(), h(3), h(4)])
    assert set(got) == {h(1)} and got[h(1)].strikes == 1 and got[h(1)].last_action == "recheck"


def test_torrent_rows_read_like_the_orm_rows(store: Store) -> None:
    store.upsert_torrents("radarr", [{"hash": h(1), "name": "A", "size": 2**40}], at=T0)
    store.upsert_torrents("radarr", [{"hash": h(2), "name": "B"}], at=T0)
    store.add_strike("radarr", h(1), "stalled", at=T0)
    store.mark_gone("radarr", [h(2)], at=T0)
    store.upsert_torrents("sonarr", [{"hash": h(3)}], at=T0)
    rows, orm = store.torrent_rows("radarr"), store.get_torrents("radarr")
    assert set(rows) == set(orm) == {h(1), h(2)}
    for key, row in rows.items():
        for name in ("name", "size", "strikes", "last_strike_at", "first_seen", "gone_at"):
            assert getattr(row, name) == getattr(orm[key], name), name
    assert rows[h(1)].last_strike_at == T0 and rows[h(1)].last_strike_at.tzinfo is not None
    assert set(store.torrent_rows("radarr", hashes=[h(2), h(3)])) == {h(2)}
