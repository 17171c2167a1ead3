"""LeanStore's torrent and strike methods against Store's, on SQLite and PostgreSQL.

The manager will run on LeanStore while the WebUI and the CLI read the same rows through
Store, so the two must agree: what one writes the other reads field for field, and the same
calls on both (each on its own instance) leave the same rows, return the same values, raise
the same errors and record the same touched hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.store import NaiveDatetimeError, NotFound, StorageFull, Store
from qbitrr_mqtt.store.common import CHUNK
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.lean.tables import STRIKE, TORRENT
from qbitrr_mqtt.store.testing import sqlite_url, store_pair_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ORM, LEAN = "orm", "lean"  # one instance per store in the same database


def h(i: int) -> str:
    return f"{i:040x}"


def torrent_fields(row: Any, *, instance: bool = True) -> dict[str, Any]:
    """Every column of a torrent row (ORM object, Core row or TorrentRow) as a dict."""
    out = {name: getattr(row, name) for name in TORRENT.names}
    if not instance:
        out.pop("instance")
    return out


def strike_fields(row: Any) -> dict[str, Any]:
    """A strike's columns, without ``id`` and ``instance`` (which differ between runs)."""
    return {n: getattr(row, n) for n in STRIKE.names if n not in ("id", "instance")}


def all_rows(store: Store | LeanStore, instance: str) -> dict[str, dict[str, Any]]:
    return {k: torrent_fields(r, instance=False) for k, r in store.torrent_rows(instance).items()}


def sample_rows(n: int) -> list[dict[str, Any]]:
    """Torrents with every kind of column set: text, float, 64-bit ints, bools, datetimes."""
    return [
        {
            "hash": h(i).upper() if i % 2 else h(i),
            "name": f"Movie {i}",
            "category": "radarr",
            "state": "downloading",
            "health": "downloading",
            "progress": i / 10,
            "size": 8 * 2**30 + i,
            "downloaded": 2**33,
            "added_on": T0 - timedelta(days=1, microseconds=i),
            "private": i % 2 == 1,
            "media_id": 1000 + i,
            "tracker": None,
        }
        for i in range(n)
    ]


# --- one writes, the other reads -----------------------------------------------------------


def test_what_store_writes_lean_reads_field_for_field(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    store.upsert_torrents(ORM, sample_rows(5), at=T0)
    store.upsert_torrents(ORM, [{"hash": h(1), "imported": True, "rechecks": 2}], at=T0)
    store.add_strike(ORM, h(2), "stalled", at=T0 + timedelta(minutes=1), downloaded=7)
    store.add_strike(ORM, h(2), "slow", at=T0 + timedelta(minutes=2), downloaded=9)
    store.mark_gone(ORM, [h(3)], at=T0 + timedelta(minutes=3))

    expected = {k: torrent_fields(t) for k, t in store.get_torrents(ORM).items()}
    got = {k: torrent_fields(r) for k, r in lean.torrent_rows(ORM).items()}
    assert got == expected and len(got) == 5
    assert got[h(2)]["strikes"] == 2 and got[h(2)]["strike_reason"] == "slow"
    assert got[h(3)]["gone_at"] == T0 + timedelta(minutes=3)
    assert got[h(1)]["imported"] is True and got[h(1)]["private"] is True
    assert got[h(0)]["added_on"] == T0 - timedelta(days=1)  # aware UTC, microseconds kept
    assert got[h(0)]["added_on"].tzinfo is UTC

    one = lean.get_torrent(ORM, h(2).upper())
    assert one is not None and torrent_fields(one) == expected[h(2)]
    assert lean.get_torrent(ORM, h(99)) is None
    assert lean.get_torrent(LEAN, h(2)) is None  # instances are separate
    some = lean.torrent_rows(ORM, hashes=[h(1).upper(), h(4), h(99)])
    assert {k: torrent_fields(r) for k, r in some.items()} == {
        h(1): expected[h(1)],
        h(4): expected[h(4)],
    }
    assert [strike_fields(s) for s in lean.list_strikes(ORM, h(2))] == [
        strike_fields(s) for s in store.list_strikes(ORM, h(2))
    ]


def test_what_lean_writes_store_reads_field_for_field(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    lean.upsert_torrents(LEAN, sample_rows(5), at=T0)
    lean.upsert_torrents(LEAN, [{"hash": h(1), "kept_for_hnr": True, "name": "B"}], at=T0)
    lean.add_strike(LEAN, h(2), "stalled", at=T0 + timedelta(minutes=1), downloaded=7)
    lean.mark_gone(LEAN, [h(3)], at=T0 + timedelta(minutes=3))

    expected = {k: torrent_fields(r) for k, r in lean.torrent_rows(LEAN).items()}
    got = {k: torrent_fields(t) for k, t in store.get_torrents(LEAN).items()}
    assert got == expected and len(got) == 5
    assert got[h(1)]["kept_for_hnr"] is True and got[h(1)]["name"] == "B"
    assert got[h(2)]["last_strike_at"] == T0 + timedelta(minutes=1)
    core = store.torrent_rows(LEAN)  # the ORM's Core rows the manager reads today
    assert {k: torrent_fields(r) for k, r in core.items()} == expected
    # The WebUI's filters compare the datetimes lean bound: gone torrents are left out.
    page, total = store.list_torrents(LEAN, limit=10)
    assert total == 4 and h(3) not in {t.hash for t in page}
    assert [strike_fields(s) for s in store.list_strikes(LEAN, h(2))] == [
        {"hash": h(2), "reason": "stalled", "at": T0 + timedelta(minutes=1), "downloaded": 7}
    ]
    # A torrent lean gave a strike can be pruned by Store (its strike goes with it).
    store.mark_gone(LEAN, [h(2)], at=T0)
    assert store.prune_gone(LEAN, before=T0 + timedelta(minutes=4)) == 2
    assert lean.list_strikes(LEAN, h(2)) == [] and len(lean.torrent_rows(LEAN)) == 3


# --- the same calls on both ----------------------------------------------------------------


def run_sequence(store: Store | LeanStore, instance: str) -> list[Any]:
    """A manager's week in a few calls; what each returned (rows as plain dicts)."""
    store.track_torrent_writes(instance)
    out: list[Any] = []
    first = store.upsert_torrents(instance, sample_rows(6), at=T0)
    out.append({k: torrent_fields(r, instance=False) for k, r in first.items()})
    out.append(sorted(store.take_touched(instance)))
    t1 = T0 + timedelta(minutes=10)
    again = store.upsert_torrents(
        instance,
        [
            {"hash": h(0), "progress": 0.75, "last_activity": t1},
            {"hash": h(1).upper(), "health": "stalled", "state": "stalledDL"},
            {"hash": h(9), "name": "new one", "gone_at": t1},  # gone_at given: kept
            {"hash": h(2), "first_seen": T0 - timedelta(hours=1), "protected": True},
        ],
        at=t1,
    )
    out.append({k: torrent_fields(r, instance=False) for k, r in again.items()})
    out.append(store.add_strike(instance, h(1), "stalled", at=t1, downloaded=10))
    out.append(store.add_strike(instance, h(1).upper(), "stalled", at=t1, downloaded=20))
    out.append(store.add_strike(instance, h(0), "slow", at=t1))
    out.append(sorted(store.take_touched(instance)))
    out.append(store.reset_strikes(instance, h(0)))
    out.append(store.reset_strikes(instance, h(5)))  # none to reset
    out.append(store.reset_strikes(instance, h(77)))  # no such torrent
    out.append(store.mark_gone(instance, [h(3), h(4).upper(), h(9), h(77)], at=t1))
    out.append(store.mark_gone(instance, [h(3)], at=t1))  # already gone: not counted
    out.append(sorted(store.take_touched(instance)))
    # Seen again: gone_at cleared by default.
    store.upsert_torrents(instance, [{"hash": h(4)}], at=t1 + timedelta(minutes=1))
    out.append(sorted(store.take_touched(instance)))
    out.append(torrent_fields(store.get_torrent(instance, h(1)), instance=False))
    out.append([strike_fields(s) for s in store.list_strikes(instance, h(1))])
    out.append(all_rows(store, instance))
    return out


def test_the_same_calls_give_the_same_results(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    orm_results = run_sequence(store, ORM)
    lean_results = run_sequence(lean, LEAN)
    for i, (a, b) in enumerate(zip(orm_results, lean_results, strict=True)):
        assert a == b, f"call {i} differs"
    rows = lean_results[-1]
    assert rows[h(1)]["strikes"] == 2 and rows[h(0)]["strikes"] == 0
    assert rows[h(0)]["strike_reason"] is None and rows[h(0)]["last_strike_at"] is None
    assert rows[h(9)]["gone_at"] is not None and rows[h(4)]["gone_at"] is None
    assert rows[h(2)]["first_seen"] == T0 - timedelta(hours=1)
    assert lean_results[10] == 2  # h(3) and h(4); h(9) was gone, h(77) unknown


def test_strike_count_equals_strike_rows_across_both_stores(
    store_pair: tuple[Store, LeanStore],
) -> None:
    """Strikes given alternately by the two stores: the count is the number of rows."""
    store, lean = store_pair
    lean.upsert_torrents(LEAN, [{"hash": h(1)}], at=T0)
    counts = []
    for i in range(6):
        writer = store if i % 2 else lean
        counts.append(writer.add_strike(LEAN, h(1), f"r{i}", at=T0 + timedelta(seconds=i)))
    assert counts == [1, 2, 3, 4, 5, 6]
    row = lean.get_torrent(LEAN, h(1))
    assert row is not None and (row.strikes, row.strike_reason) == (6, "r5")
    assert len(store.list_strikes(LEAN, h(1))) == 6
    assert lean.reset_strikes(LEAN, h(1)) == 6
    assert store.list_strikes(LEAN, h(1)) == [] and store.get_torrent(LEAN, h(1)).strikes == 0  # type: ignore[union-attr]


def test_more_hashes_than_one_in_list_are_chunked(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    n = 2 * CHUNK + 17
    lean.track_torrent_writes(LEAN)
    made = lean.upsert_torrents(LEAN, [{"hash": h(i), "size": i} for i in range(n)], at=T0)
    assert len(made) == n and len(lean.take_touched(LEAN)) == n
    updated = lean.upsert_torrents(LEAN, [{"hash": h(i), "size": -i} for i in range(n)], at=T0)
    assert all(updated[h(i)].size == -i for i in range(n))
    wanted = [h(i).upper() for i in range(0, n, 2)]
    assert len(lean.torrent_rows(LEAN, hashes=wanted)) == len(wanted)
    assert lean.mark_gone(LEAN, [h(i) for i in range(n)], at=T0) == n
    assert len(lean.take_touched(LEAN)) == n
    rows = store.get_torrents(LEAN, include_gone=False)
    assert rows == {} and len(store.get_torrents(LEAN)) == n


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "at", "error", "match"),
    [
        ([{"hash": h(1), "nmae": "typo"}], None, ValueError, "unknown field"),
        ([{"hash": h(1), "instance": "other"}], None, ValueError, "unknown field"),
        ([{"hash": h(1), "strikes": 3}], None, ValueError, "add_strike"),
        ([{"hash": h(1)}, {"name": "x"}], None, ValueError, "needs a hash"),
        ([{"hash": h(1), "added_on": datetime(2024, 1, 1)}], None, NaiveDatetimeError, "naive"),
        ([{"hash": h(1)}], datetime(2024, 1, 1), NaiveDatetimeError, "naive"),
    ],
)
def test_upsert_refuses_what_store_refuses_and_writes_nothing(
    store_pair: tuple[Store, LeanStore],
    rows: list[dict[str, Any]],
    at: Any,
    error: type,
    match: str,
) -> None:
    for writer, instance in ((store_pair[0], ORM), (store_pair[1], LEAN)):
        writer.track_torrent_writes(instance)
        with pytest.raises(error, match=match):
            writer.upsert_torrents(instance, rows, at=at)
        assert writer.take_touched(instance) == set()
    assert store_pair[1].torrent_rows(ORM) == {} and store_pair[1].torrent_rows(LEAN) == {}


def test_strikes_and_gone_marks_refuse_what_store_refuses(
    store_pair: tuple[Store, LeanStore],
) -> None:
    for writer, instance in ((store_pair[0], ORM), (store_pair[1], LEAN)):
        with pytest.raises(NotFound, match="no torrent"):
            writer.add_strike(instance, h(1), "stalled")
        writer.upsert_torrents(instance, [{"hash": h(1)}], at=T0)
        with pytest.raises(NaiveDatetimeError):
            writer.add_strike(instance, h(1), "stalled", at=datetime(2024, 1, 1))
        with pytest.raises(NaiveDatetimeError):
            writer.mark_gone(instance, [h(1)], at=datetime(2024, 1, 1))
        with pytest.raises(RuntimeError, match="not tracked"):
            writer.take_touched("nobody")
    for instance in (ORM, LEAN):
        assert store_pair[1].list_strikes(instance, h(1)) == []
        row = store_pair[1].get_torrent(instance, h(1))
        assert row is not None and row.strikes == 0 and row.gone_at is None


def test_a_full_sqlite_database_raises_storage_full_and_keeps_what_was_there(
    tmp_path: Path,
) -> None:
    """SQLite's max_page_count stands in for a full disk (the same SQLITE_FULL error);
    PostgreSQL's disk-full check is the shared ``is_disk_full``, tested in test_storage_full."""
    store_url = sqlite_url(tmp_path)
    Store.open(store_url).close()
    lean = LeanStore.open(store_url)
    try:
        lean.upsert_torrents(LEAN, [{"hash": h(1), "name": "kept"}], at=T0)
        with lean.db.read() as tx:  # this thread's connection: the one that writes next
            pages = tx.scalar("PRAGMA page_count")
            tx.execute(f"PRAGMA max_page_count = {pages}")
        big = [{"hash": h(i), "name": "x" * 2000} for i in range(2, 200)]
        with pytest.raises(StorageFull, match="is full; nothing was lost"):
            lean.upsert_torrents(LEAN, big, at=T0)
        assert list(lean.torrent_rows(LEAN)) == [h(1)]  # the failed batch rolled back whole
    finally:
        lean.close()
