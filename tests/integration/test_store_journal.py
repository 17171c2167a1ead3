"""The action journal and search history on SQLite and PostgreSQL: idempotent intents,
intents left by a crashed process, outcomes, publishing, cursors, searches."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from qbitrr_mqtt.store import Action, NotFound, Store
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HASH = "ab" * 20


def intent(
    store: Store,
    key: str,
    action: str = "remove",
    media_id: int | None = None,
    at: datetime | None = None,
) -> Action:
    return store.record_intent(
        "radarr", HASH, "Movie", action, "stalled 3 times", media_id=media_id, key=key, at=at
    )


def id_of(row: Action) -> int:
    assert row.id is not None
    return row.id


def test_the_same_key_twice_gives_one_row(store: Store) -> None:
    first = intent(store, "radarr:abab:remove:1", media_id=42, at=T0)
    again = store.record_intent(
        "radarr", HASH, "Other", "blocklist", "something else", key="radarr:abab:remove:1"
    )
    assert again.id == first.id
    assert (again.action, again.reason, again.media_id, again.created_at) == (
        "remove",
        "stalled 3 times",
        42,
        T0,
    )
    rows, total = store.list_actions()
    assert total == 1 and rows[0].status == "intent"
    other = intent(store, "radarr:abab:remove:2")
    assert other.id != first.id
    assert store.list_actions()[1] == 2


def test_concurrent_intents_with_one_key_from_two_processes_give_one_row(
    store: Store, store_url: str
) -> None:
    second = Store.open(store_url)
    barrier = threading.Barrier(6)
    ids: list[int | None] = []
    errors: list[BaseException] = []

    def record(target: Store) -> None:
        try:
            barrier.wait(30)
            ids.append(intent(target, "same-key").id)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(s,)) for s in [store, second] * 3]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        second.close()
    assert errors == []
    assert len(ids) == 6 and len(set(ids)) == 1
    assert store.list_actions()[1] == 1


CRASH_AFTER_INTENT = """
import os, sys
from qbitrr_mqtt.store import Store
store = Store.open(sys.argv[1])
row = store.record_intent("radarr", "cd" * 20, "Show", "remove", "stalled", key="crash-key")
print(row.id, flush=True)
os._exit(9)  # dies between journal and action, as a killed manager would
"""


def test_an_intent_left_by_a_crashed_process_is_found_and_resolved_once(
    store: Store, store_url: str
) -> None:
    done = intent(store, "finished-before")
    store.mark_done(id_of(done))
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_INTENT, store_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 9, proc.stderr
    crashed_id = int(proc.stdout.strip())

    pending = store.pending_intents("radarr")
    assert [(a.id, a.key, a.status) for a in pending] == [(crashed_id, "crash-key", "intent")]
    assert store.pending_intents("sonarr") == []
    # The restarted manager records the same intent again (same key): no duplicate.
    again = store.record_intent("radarr", "cd" * 20, "Show", "remove", "stalled", key="crash-key")
    assert again.id == crashed_id

    resolved = store.mark_skipped(crashed_id, "torrent already removed")
    assert (resolved.status, resolved.error) == ("skipped", "torrent already removed")
    assert store.pending_intents("radarr") == []
    # Resolving it a second time (another restart) cannot flip the outcome.
    assert store.mark_failed(crashed_id, "late").status == "skipped"


def test_outcomes_and_the_torrents_last_action(store: Store) -> None:
    store.upsert_torrents("radarr", [{"hash": HASH, "name": "Movie"}], at=T0)
    failed = intent(store, "k-fail", action="recheck")
    removed = intent(store, "k-done", action="remove")
    assert failed.id is not None and removed.id is not None

    out = store.mark_failed(failed.id, "qBittorrent said 403", at=T0 + timedelta(minutes=1))
    assert (out.status, out.error, out.finished_at) == (
        "failed",
        "qBittorrent said 403",
        T0 + timedelta(minutes=1),
    )
    torrent = store.get_torrent("radarr", HASH)
    assert torrent is not None and torrent.last_action is None  # failures do not count

    store.mark_done(removed.id, at=T0 + timedelta(minutes=2))
    torrent = store.get_torrent("radarr", HASH)
    assert torrent is not None
    assert (torrent.last_action, torrent.last_action_at) == ("remove", T0 + timedelta(minutes=2))
    assert store.mark_failed(removed.id, "too late").status == "done"
    with pytest.raises(NotFound):
        store.mark_done(10_000)


def test_finished_actions_are_published_once(store: Store) -> None:
    rows = [intent(store, f"k{i}") for i in range(4)]
    ids = [id_of(r) for r in rows]
    assert store.unpublished_actions() == []  # intents are not events yet
    store.mark_done(ids[0])
    store.mark_failed(ids[2], "boom")
    store.record_intent("sonarr", None, None, "re_search", "missing", key="s1")
    assert [a.id for a in store.unpublished_actions()] == [ids[0], ids[2]]
    assert store.mark_published([ids[0]]) == 1
    assert [a.id for a in store.unpublished_actions("radarr")] == [ids[2]]
    assert store.unpublished_actions("sonarr") == []


def test_list_actions_pages_and_cursors(store: Store) -> None:
    assert store.last_action_id() == 0
    made = [intent(store, f"k{i}", action="remove" if i % 2 else "pause") for i in range(15)]
    for row in made[:5]:
        store.mark_done(id_of(row))
    store.record_intent("sonarr", "ef" * 20, "Show", "remove", "x", key="other")

    page, total = store.list_actions(instance="radarr", limit=4, offset=4)
    assert total == 15 and [a.id for a in page] == [made[i].id for i in (10, 9, 8, 7)]
    assert store.list_actions(status="done")[1] == 5
    assert store.list_actions(hash=HASH.upper(), limit=1)[1] == 15
    assert store.list_actions()[1] == 16

    last = store.last_action_id()
    assert last == max(id_of(a) for a in made) + 1
    after = store.actions_after(id_of(made[11]), limit=3)
    assert [a.id for a in after] == [made[12].id, made[13].id, made[14].id]
    assert store.actions_after(last) == []


def test_searches(store: Store) -> None:
    first = store.record_search("radarr", 42, "missing", at=T0)
    second = store.record_search(
        "radarr", 42, "re_search", arr_command_id=7, at=T0 + timedelta(hours=1)
    )
    store.record_search("radarr", 43, "cutoff", at=T0 + timedelta(hours=2))
    whole = store.record_search("radarr", None, "missing", at=T0 + timedelta(hours=3))

    last = store.last_search_for("radarr", 42)
    assert last is not None and (last.id, last.kind, last.arr_command_id) == (
        second.id,
        "re_search",
        7,
    )
    assert store.last_search_for("radarr", 99) is None
    assert store.last_search_for("sonarr", 42) is None

    assert first.id is not None and whole.id is not None
    store.update_search(first.id, status="started", arr_command_id=5)
    finished = store.finish_search(first.id, at=T0 + timedelta(minutes=3))
    assert (finished.status, finished.arr_command_id, finished.finished_at) == (
        "completed",
        5,
        T0 + timedelta(minutes=3),
    )
    active = store.active_searches("radarr")
    assert [s.id for s in active] == [second.id, active[1].id, whole.id]
    page, total = store.list_searches("radarr", limit=2)
    assert total == 4 and [s.id for s in page] == [whole.id, page[1].id]
    assert store.list_searches("sonarr") == ([], 0)
    with pytest.raises(NotFound):
        store.update_search(10_000, status="x")
