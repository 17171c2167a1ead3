"""LeanStore's journal, searches, command inbox and outbox against Store, on SQLite and
PostgreSQL: the same calls on two fresh databases give the same rows field by field, each
implementation reads what the other wrote, the errors are the same, and competing
processes never claim one command twice."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.store import NotFound, Store
from qbitrr_mqtt.store.common import NaiveDatetimeError
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.lean.tables import ACTION, COMMAND, OUTBOX, SEARCH, Table
from qbitrr_mqtt.store.testing import (  # noqa: F401
    sqlite_url,
    store_pair_fixture,
    store_url_fixture,  # noqa: F401
    temp_postgres_database,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
HASH = "AB" * 20
HASH2 = "cd" * 20
#: Set by the database clock, so never equal across two databases.
COMMAND_CLOCK = ("id", "created_at", "started_at", "finished_at")
#: The same, when the call gave ``at`` for ``finished_at``.
COMMAND_STARTED = COMMAND_CLOCK[:3]


def sec(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


def fields(table: Table[Any], row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A row of either implementation as ``{column: value}`` (None stays None)."""
    if row is None:
        return None
    return {name: getattr(row, name) for name in table.names if name not in skip}


def listed(table: Table[Any], rows: Any, skip: tuple[str, ...] = ()) -> list[Any]:
    return [fields(table, r, skip) for r in rows]


@dataclass
class Twins:
    """``orm`` on one database; ``lean`` on another, with ``orm_b`` (Store on the lean
    database) for what the lean parts under test do not cover (torrent rows)."""

    orm: Store
    lean: LeanStore
    orm_b: Store


@pytest.fixture(name="second_url")
def second_url_fixture(store_url: str, tmp_path: Path) -> Iterator[str]:
    """Another fresh database on the same backend as ``store_url``."""
    if store_url.startswith("sqlite"):
        yield sqlite_url(tmp_path / "second")
        return
    with temp_postgres_database() as url:
        yield url


@pytest.fixture(name="twins")
def twins_fixture(store_url: str, second_url: str) -> Iterator[Twins]:
    orm = Store.open(store_url)
    orm_b = Store.open(second_url)
    lean = LeanStore.open(second_url)
    try:
        yield Twins(orm, lean, orm_b)
    finally:
        lean.close()
        orm_b.close()
        orm.close()


def both(twins: Twins, script: Callable[[Any], list[Any]]) -> tuple[list[Any], list[Any]]:
    return script(twins.orm), script(twins.lean)


# --- the same calls on both give the same rows --------------------------------------------


def journal_script(store: Any) -> list[Any]:
    out: list[Any] = []
    first = store.record_intent(
        "radarr", HASH, "Movie", "remove", "stalled 3 times", media_id=42, key="k1", at=T0
    )
    again = store.record_intent("radarr", HASH, "Other", "blocklist", "else", key="k1", at=sec(9))
    keyless = store.record_intent(
        "radarr", None, None, "search", "missing", dry_run=True, at=sec(1)
    )
    other = store.record_intent("sonarr", HASH2, "Show", "blocklist", "bad", key="k3", at=sec(2))
    assert len(keyless.key) == 32  # a uuid4 hex: differs between the runs, so not compared
    out += [fields(ACTION, first), fields(ACTION, again), fields(ACTION, keyless, ("key",))]
    out.append(listed(ACTION, store.pending_intents("radarr"), ("key",)))
    out.append(fields(ACTION, store.mark_done(first.id, at=sec(10))))
    out.append(fields(ACTION, store.mark_failed(keyless.id, "boom", at=sec(11)), ("key",)))
    out.append(fields(ACTION, store.mark_skipped(other.id, "already gone", at=sec(12))))
    out.append(fields(ACTION, store.mark_failed(first.id, "late", at=sec(13))))  # unchanged
    out.append(fields(ACTION, store.mark_done(other.id)))  # unchanged: no new finished_at
    out += [fields(ACTION, store.get_action(first.id)), store.get_action(999)]
    out += [fields(ACTION, store.action_by_key("k3")), store.action_by_key("nope")]
    out.append(store.pending_intents("radarr"))
    out.append(listed(ACTION, store.unpublished_actions(), ("key",)))
    out.append(listed(ACTION, store.unpublished_actions("radarr", limit=1)))
    out.append(store.mark_published([first.id, first.id, other.id, 999]))
    out.append(listed(ACTION, store.unpublished_actions(), ("key",)))
    out.append(store.mark_published([]))
    return out


def test_journal_calls_give_the_same_rows(twins: Twins) -> None:
    for store in (twins.orm, twins.orm_b):
        store.upsert_torrents("radarr", [{"hash": HASH, "name": "Movie"}], at=T0)
    orm, lean = both(twins, journal_script)
    assert lean == orm
    assert orm[0]["hash"] == HASH.lower() and orm[3][0]["status"] == "intent"
    assert orm[16] == 2 and [r["id"] for r in orm[17]] == [2]
    # done moved the torrent's last action, on both
    for store in (twins.orm, twins.orm_b):
        torrent = store.get_torrent("radarr", HASH)
        assert torrent is not None
        assert (torrent.last_action, torrent.last_action_at) == ("remove", sec(10))


def search_script(store: Any) -> list[Any]:
    out: list[Any] = []
    manual = store.record_search("radarr", 42, "manual", at=T0)
    started = store.record_search(
        "radarr", 42, "re_search", arr_command_id=7, status="started", at=sec(5)
    )
    library = store.record_search("radarr", None, "missing", at=sec(1))
    store.record_search("sonarr", 42, "cutoff", at=sec(9))
    out += [fields(SEARCH, r) for r in (manual, started, library)]
    out.append(fields(SEARCH, store.last_search_for("radarr", 42)))
    out.append(store.last_search_for("radarr", 43))
    same_time = store.record_search("radarr", 42, "manual", at=sec(5))  # newest id wins a tie
    out.append(fields(SEARCH, store.last_search_for("radarr", 42)))
    out.append(fields(SEARCH, store.update_search(manual.id, arr_command_id=11)))
    out.append(fields(SEARCH, store.update_search(manual.id)))  # nothing to change
    out.append(fields(SEARCH, store.update_search(manual.id, status="started")))
    out.append(fields(SEARCH, store.finish_search(manual.id, at=sec(20))))
    out.append(fields(SEARCH, store.finish_search(library.id, "failed", at=sec(21))))
    out.append(fields(SEARCH, store.finish_search(same_time.id, at=sec(22))))
    out.append(listed(SEARCH, store.active_searches("radarr")))
    out.append(listed(SEARCH, store.active_searches("lidarr")))
    return out


def test_search_calls_give_the_same_rows(twins: Twins) -> None:
    orm, lean = both(twins, search_script)
    assert lean == orm
    assert orm[3]["id"] == 2 and orm[5]["id"] == 5  # the tie went to the newer row
    assert [r["id"] for r in orm[-2]] == [2]


def inbox_script(store: Any) -> list[Any]:
    out: list[Any] = []
    search = store.enqueue_command("search", "radarr", {"media_ids": [1, 2]}, "mqtt", "tx-1")
    run_now = store.enqueue_command("run_now", "radarr", None, "http")
    remove = store.enqueue_command("remove", "radarr", {"hash": HASH2})
    dry_run = store.enqueue_command("dry_run", "sonarr", {"value": True}, "cli")
    out += [fields(COMMAND, c, COMMAND_CLOCK) for c in (search, run_now, remove, dry_run)]
    out.append(
        [
            store.has_pending_command("radarr"),
            store.has_pending_command("radarr", ["log_level"]),
            store.has_pending_command("radarr", iter(["log_level", "remove"])),
            store.has_pending_command("radarr", []),
            store.has_pending_command("lidarr"),
        ]
    )
    quick = store.claim_next_command("radarr", ["run_now", "log_level"])
    out.append(fields(COMMAND, quick, COMMAND_CLOCK))
    out.append(store.claim_next_command("radarr", []))
    out.append(store.claim_next_command("radarr", ("log_level",)))
    out.append(fields(COMMAND, store.claim_next_command("radarr"), COMMAND_CLOCK))
    out.append(
        fields(COMMAND, store.finish_command(search.id, {"searched": 3}, at=T0), COMMAND_STARTED)
    )
    out.append(fields(COMMAND, store.finish_command(search.id, error="late"), COMMAND_STARTED))
    out.append(
        fields(COMMAND, store.finish_command(remove.id, error="gone", at=sec(1)), COMMAND_STARTED)
    )
    out.append(store.claim_next_command("radarr"))  # run_now runs, remove finished unclaimed
    out.append(fields(COMMAND, store.last_done_command("radarr", "search"), COMMAND_STARTED))
    out.append(store.last_done_command("radarr", "remove"))  # an error is not done
    out.append(store.abandon_running_commands("radarr"))
    out.append(store.abandon_running_commands("radarr"))
    out.append(fields(COMMAND, store.get_command(run_now.id), COMMAND_CLOCK))
    claimed = store.claim_next_command("sonarr")
    out.append(fields(COMMAND, store.finish_command(claimed.id, at=sec(2)), COMMAND_STARTED))
    out.append(fields(COMMAND, store.last_done_command("sonarr", "dry_run"), COMMAND_CLOCK))
    out.append(store.get_command("0" * 32))
    out.append(store.has_pending_command("radarr"))
    # id and clock fields: set, aware, and in the order of the calls
    got = store.get_command(run_now.id)
    assert len(got.id) == 32 and int(got.id, 16) >= 0
    assert got.created_at <= got.started_at <= got.finished_at
    assert got.created_at.tzinfo is not None and got.payload_data == {}
    return out


def test_inbox_calls_give_the_same_rows(twins: Twins) -> None:
    orm, lean = both(twins, inbox_script)
    assert lean == orm
    assert orm[4] == [True, False, True, False, False]
    assert orm[5]["command"] == "run_now" and orm[5]["status"] == "running"
    assert orm[8]["command"] == "search" and orm[9]["result"] == '{"searched":3}'
    assert orm[10]["result"] == '{"searched":3}' and orm[10]["error"] is None
    assert orm[15] == 1 and orm[16] == 0 and orm[17]["status"] == "error"


def outbox_script(store: Any) -> list[Any]:
    store.outbox_limit = 3
    out: list[Any] = []
    out.append(store.outbox_put("qbitrr/a", "1", at=T0, owner="manager-radarr"))
    out.append(store.outbox_put("qbitrr/r", "r1", retain=True, at=sec(1), owner="manager-radarr"))
    out.append(store.outbox_put("qbitrr/x", "x", retain=True, at=sec(1), owner="bridge"))
    out.append(store.outbox_put("qbitrr/r", "r2", retain=True, at=sec(2), owner="manager-radarr"))
    out.append(store.outbox_put("qbitrr/b", "é".encode(), at=sec(3), owner="manager-radarr"))
    out.append(listed(OUTBOX, store.outbox_take(owner="manager-radarr")))
    out += [store.outbox_size("manager-radarr"), store.outbox_size(), store.outbox_size("nobody")]
    for n in range(3):  # past the limit of 3: the oldest of this owner go, the bridge's stay
        store.outbox_put("qbitrr/c", str(n), at=sec(4 + n), owner="manager-radarr")
    out.append(listed(OUTBOX, store.outbox_take(10, owner="manager-radarr")))
    out.append(listed(OUTBOX, store.outbox_take(10, owner="bridge")))
    scoped = store.scoped_outbox("manager-radarr")
    assert repr(scoped) == "ScopedOutbox('manager-radarr')"
    taken = scoped.outbox_take(2)
    out.append(listed(OUTBOX, taken))
    out.append(scoped.outbox_delete([r.id for r in taken] + [taken[0].id, 999]))
    out.append(scoped.outbox_put("qbitrr/d", "d", False))
    out.append(listed(OUTBOX, scoped.outbox_take(10), ("created_at",)))
    out.append(store.outbox_delete([]))
    out.append(store.outbox_take(owner=""))
    return out


def test_outbox_calls_give_the_same_rows(twins: Twins) -> None:
    orm, lean = both(twins, outbox_script)
    assert lean == orm
    assert [r["payload"] for r in orm[5]] == ["1", "r2", "é"]  # r1 replaced by r2
    assert orm[6:9] == [3, 4, 0]
    assert [r["payload"] for r in orm[9]] == ["0", "1", "2"]
    assert [r["payload"] for r in orm[10]] == ["x"] and orm[12] == 2


# --- each reads what the other wrote --------------------------------------------------------


@pytest.mark.parametrize("writer", ["orm", "lean"])
def test_actions_written_by_one_are_read_by_the_other(
    store_pair: tuple[Store, LeanStore], writer: str
) -> None:
    orm, lean = store_pair
    write, read = (orm, lean) if writer == "orm" else (lean, orm)
    orm.upsert_torrents("radarr", [{"hash": HASH}], at=T0)
    first: Any = write.record_intent("radarr", HASH, "M", "remove", "r", key="k", at=T0)
    assert fields(ACTION, read.record_intent("radarr", None, None, "x", "y", key="k")) == fields(
        ACTION, first
    )
    second: Any = write.record_intent("radarr", HASH, "M", "recheck", "r", at=sec(1))
    assert listed(ACTION, read.pending_intents("radarr")) == listed(ACTION, [first, second])
    done = read.mark_done(first.id, at=sec(5))
    assert fields(ACTION, write.get_action(first.id)) == fields(ACTION, done)
    assert write.mark_failed(first.id, "late").status == "done"  # the reader's outcome holds
    torrent = orm.get_torrent("radarr", HASH)
    assert torrent is not None and (torrent.last_action, torrent.last_action_at) == (
        "remove",
        sec(5),
    )
    assert read.mark_published([first.id]) == 1
    assert write.unpublished_actions() == []
    assert read.last_action_id() == write.last_action_id() == second.id


@pytest.mark.parametrize("writer", ["orm", "lean"])
def test_searches_written_by_one_are_read_by_the_other(
    store_pair: tuple[Store, LeanStore], writer: str
) -> None:
    orm, lean = store_pair
    write, read = (orm, lean) if writer == "orm" else (lean, orm)
    older: Any = write.record_search("radarr", 42, "manual", at=sec(0.5))
    newer: Any = read.record_search("radarr", 42, "manual", at=sec(0.75))  # sub-second order
    assert fields(SEARCH, write.last_search_for("radarr", 42)) == fields(SEARCH, newer)
    assert fields(SEARCH, read.last_search_for("radarr", 42)) == fields(SEARCH, newer)
    updated = read.update_search(older.id, status="started", arr_command_id=9)
    assert fields(SEARCH, write.active_searches("radarr")[0]) == fields(SEARCH, updated)
    read.finish_search(newer.id, at=sec(3))
    assert listed(SEARCH, write.active_searches("radarr")) == [fields(SEARCH, updated)]
    assert listed(SEARCH, read.active_searches("radarr")) == [fields(SEARCH, updated)]


@pytest.mark.parametrize("writer", ["orm", "lean"])
def test_commands_written_by_one_are_read_by_the_other(
    store_pair: tuple[Store, LeanStore], writer: str
) -> None:
    orm, lean = store_pair
    write, read = (orm, lean) if writer == "orm" else (lean, orm)
    first: Any = write.enqueue_command("search", "radarr", {"ids": [1]}, "mqtt", "tx")
    second: Any = read.enqueue_command("run_now", "radarr", {}, "http")
    assert fields(COMMAND, read.get_command(first.id)) == fields(COMMAND, first)
    assert read.has_pending_command("radarr", ["search"])
    claimed = read.claim_next_command("radarr")
    assert claimed is not None and claimed.id == first.id
    assert fields(COMMAND, write.get_command(first.id)) == fields(COMMAND, claimed)
    later = write.claim_next_command("radarr")
    assert later is not None and later.id == second.id
    finished = read.finish_command(first.id, result=[1, "two"], at=sec(1))
    assert fields(COMMAND, write.get_command(first.id)) == fields(COMMAND, finished)
    assert write.get_command(first.id).result_data == [1, "two"]  # type: ignore[union-attr]
    assert fields(COMMAND, write.last_done_command("radarr", "search")) == fields(COMMAND, finished)
    assert write.abandon_running_commands("radarr") == 1
    assert read.get_command(second.id).status == "error"  # type: ignore[union-attr]
    assert read.finish_command(second.id, result="late").status == "error"


@pytest.mark.parametrize("writer", ["orm", "lean"])
def test_outbox_written_by_one_is_read_by_the_other(
    store_pair: tuple[Store, LeanStore], writer: str
) -> None:
    orm, lean = store_pair
    write, read = (orm, lean) if writer == "orm" else (lean, orm)
    write.outbox_put("t/r", "old", retain=True, at=T0, owner="m")
    write.outbox_put("t/e", "event", at=sec(1), owner="m")
    read.outbox_put("t/r", "new", retain=True, at=sec(2), owner="m")  # replaces the writer's
    rows = listed(OUTBOX, write.outbox_take(owner="m"))
    assert rows == listed(OUTBOX, read.outbox_take(owner="m"))
    assert [(r["payload"], r["retain"], r["created_at"]) for r in rows] == [
        ("event", False, sec(1)),
        ("new", True, sec(2)),
    ]
    assert write.outbox_size("m") == read.outbox_size("m") == 2
    assert read.outbox_delete([rows[0]["id"]]) == 1
    assert [r.payload for r in write.outbox_take(owner="m")] == ["new"]


# --- errors -----------------------------------------------------------------------------


def test_missing_rows_and_naive_datetimes_fail_alike(store_pair: tuple[Store, LeanStore]) -> None:
    naive = datetime(2024, 5, 1, 12, 0)
    for store in store_pair:
        with pytest.raises(NotFound, match="no action 999"):
            store.mark_done(999)
        with pytest.raises(NotFound, match="no action 999"):
            store.mark_failed(999, "x")
        with pytest.raises(NotFound, match="no action 999"):
            store.mark_skipped(999, "x")
        with pytest.raises(NotFound, match="no search 999"):
            store.update_search(999, status="started")
        with pytest.raises(NotFound, match="no search 999"):
            store.finish_search(999)
        with pytest.raises(NotFound, match="no command"):
            store.finish_command("0" * 32, result=1)
        with pytest.raises(NaiveDatetimeError):
            store.record_intent("radarr", HASH, "M", "remove", "r", key="naive", at=naive)
        with pytest.raises(NaiveDatetimeError):
            store.record_search("radarr", 1, "manual", at=naive)
        with pytest.raises(NaiveDatetimeError):
            store.outbox_put("t", "p", at=naive)
        intent: Any = store.record_intent("radarr", None, None, "search", "r")
        with pytest.raises(NaiveDatetimeError):
            store.mark_done(intent.id, at=naive)
        store.mark_failed(intent.id, "cleanup")  # the next store starts with no intent
    orm, lean = store_pair
    # nothing half-written by the failed calls, as seen by either implementation
    for store in store_pair:
        assert store.action_by_key("naive") is None
        assert store.pending_intents("radarr") == []
        assert store.outbox_size() == 0
    assert orm.list_searches()[1] == 0


# --- concurrency and the manager's row cache ------------------------------------------------


def test_two_lean_stores_claim_each_command_exactly_once(store_url: str) -> None:
    """Two LeanStore objects (two manager processes), two threads each, and a Store too."""
    with Store.open(store_url) as orm:
        wanted = {orm.enqueue_command("recheck", "radarr", {"n": i}, "mqtt").id for i in range(120)}
        noise = orm.enqueue_command("recheck", "sonarr", {}, "mqtt").id
        quick = orm.enqueue_command("run_now", "radarr", {}, "mqtt").id
        claimed: list[list[str]] = [[] for _ in range(5)]
        errors: list[BaseException] = []
        start = threading.Barrier(5)
        first, second = LeanStore.open(store_url), LeanStore.open(store_url)

        def run(target: Any, into: list[str], kinds: list[str] | None) -> None:
            try:
                start.wait(30)
                while (cmd := target.claim_next_command("radarr", kinds)) is not None:
                    into.append(cmd.id)
            except BaseException as exc:  # asserted below
                errors.append(exc)

        plan = [(first, None), (second, None), (first, None), (second, None), (orm, ["run_now"])]
        threads = [
            threading.Thread(target=run, args=(target, into, kinds))
            for (target, kinds), into in zip(plan, claimed, strict=True)
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        finally:
            first.close()
            second.close()
        assert errors == []
        every = [cid for part in claimed for cid in part]
        assert len(every) == len(set(every)) == 121  # nobody claimed a command twice
        assert set(every) == wanted | {quick}
        assert set(claimed[4]) <= {quick}  # the kinds filter held under contention
        assert orm.list_commands(status="pending")[0][0].id == noise
        assert orm.list_commands(instance="radarr", status="running")[1] == 121


def test_two_lean_stores_record_one_key_once(store_url: str) -> None:
    with Store.open(store_url):  # migrate in-process (LeanStore would use a child)
        pass
    stores = [LeanStore.open(store_url), LeanStore.open(store_url)]
    start = threading.Barrier(6)
    ids: list[int] = []
    errors: list[BaseException] = []

    def run(target: LeanStore, n: int) -> None:
        try:
            start.wait(30)
            for k in range(20):
                row = target.record_intent("radarr", HASH, f"by {n}", "remove", "r", key=f"k{k}")
                ids.append(row.id)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(stores[n % 2], n)) for n in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert len(ids) == 120 and len(set(ids)) == 20  # one row per key, whoever won
        assert len(stores[0].pending_intents("radarr")) == 20
    finally:
        for store in stores:
            store.close()


def test_done_touches_the_torrent_only_when_it_ran(store_pair: tuple[Store, LeanStore]) -> None:
    orm, lean = store_pair
    lean.track_torrent_writes("radarr")
    done = lean.record_intent("radarr", HASH, "M", "remove", "r", at=T0)
    failed = lean.record_intent("radarr", HASH2, "M", "remove", "r", at=T0)
    hashless = lean.record_intent("radarr", None, None, "search", "r", at=T0)
    assert lean.take_touched("radarr") == set()  # an intent changes no torrent
    lean.mark_failed(failed.id, "no")
    lean.mark_done(hashless.id)
    assert lean.take_touched("radarr") == set()
    lean.mark_done(done.id, at=sec(1))  # no torrent row: touched all the same, as the ORM does
    assert lean.take_touched("radarr") == {HASH.lower()}
    lean.mark_done(done.id)  # already done: no write
    assert lean.take_touched("radarr") == set()
    assert orm.get_torrent("radarr", HASH) is None


def test_the_lean_parts_import_no_sqlalchemy() -> None:
    code = (
        "import sys\n"
        "from qbitrr_mqtt.store.lean import journal, inbox, outbox, LeanStore\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel', 'pydantic'))\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
