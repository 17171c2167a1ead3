"""The command inbox on SQLite and PostgreSQL: FIFO claims, each command claimed exactly
once by competing processes, outcomes, waiting, crash recovery, paging."""

from __future__ import annotations

import threading

import pytest

from qbitrr_mqtt.store import Command, NotFound, Store
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401


def test_commands_are_claimed_oldest_first_per_instance(store: Store) -> None:
    a = store.enqueue_command("search", "radarr", {"media_ids": [1, 2]}, "mqtt", "tx-1")
    b = store.enqueue_command("run_now", "radarr", {}, "http")
    c = store.enqueue_command("dry_run", "sonarr", {"value": True}, "cli")
    assert len(a.id) == 32 and int(a.id, 16) >= 0  # uuid4 hex
    assert (a.status, a.payload_data, a.transaction) == ("pending", {"media_ids": [1, 2]}, "tx-1")

    first = store.claim_next_command("radarr")
    assert first is not None
    assert (first.id, first.status, first.command) == (a.id, "running", "search")
    assert first.started_at is not None and first.started_at.tzinfo is not None
    second = store.claim_next_command("radarr")
    assert second is not None and second.id == b.id
    assert store.claim_next_command("radarr") is None
    other = store.claim_next_command("sonarr")
    assert other is not None and other.id == c.id and other.payload_data == {"value": True}


def test_pending_check_sees_only_pending_commands_of_the_instance(store: Store) -> None:
    assert not store.has_pending_command("radarr")
    store.enqueue_command("run_now", "sonarr", {}, "http")
    assert not store.has_pending_command("radarr")
    store.enqueue_command("run_now", "radarr", {}, "http")
    assert store.has_pending_command("radarr")
    claimed = store.claim_next_command("radarr")
    assert claimed is not None and not store.has_pending_command("radarr")


def _drain(target: Store, instance: str, into: list[str], start: threading.Barrier) -> None:
    start.wait(30)
    while (cmd := target.claim_next_command(instance)) is not None:
        into.append(cmd.id)


def test_two_processes_claim_each_command_exactly_once(store: Store, store_url: str) -> None:
    """Two engines (as two manager processes would have), two threads each, one inbox."""
    wanted = {store.enqueue_command("recheck", "radarr", {"n": i}, "mqtt").id for i in range(120)}
    noise = store.enqueue_command("recheck", "sonarr", {}, "mqtt").id
    second = Store.open(store_url)
    claimed: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run(target: Store, into: list[str]) -> None:
        try:
            _drain(target, "radarr", into, start)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    stores = [store, second, store, second]
    threads = [
        threading.Thread(target=run, args=(s, c)) for s, c in zip(stores, claimed, strict=True)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        second.close()
    assert errors == []
    every = [cid for part in claimed for cid in part]
    assert len(every) == len(set(every)) == 120  # nobody claimed a command twice
    assert set(every) == wanted
    assert store.list_commands(status="pending")[0][0].id == noise
    assert store.list_commands(instance="radarr", status="running")[1] == 120


def test_finish_records_the_outcome_once(store: Store) -> None:
    ok = store.enqueue_command("search", "radarr", {"missing": True}, "http")
    bad = store.enqueue_command("remove", "radarr", {"hash": "ab" * 20}, "mqtt")
    store.claim_next_command("radarr")

    done = store.finish_command(ok.id, result={"searched": 3})
    assert (done.status, done.result_data, done.error) == ("done", {"searched": 3}, None)
    assert done.finished_at is not None
    failed = store.finish_command(bad.id, error="no such torrent")  # never claimed: allowed
    assert (failed.status, failed.error) == ("error", "no such torrent")
    again = store.finish_command(ok.id, error="late")
    assert (again.status, again.result_data) == ("done", {"searched": 3})
    got = store.get_command(ok.id)
    assert got is not None and got.status == "done"
    assert store.get_command("0" * 32) is None
    with pytest.raises(NotFound):
        store.finish_command("0" * 32)


def test_wait_command_returns_when_another_process_finishes_it(
    store: Store, store_url: str
) -> None:
    cmd = store.enqueue_command("run_now", "radarr", {}, "cli")
    manager = Store.open(store_url)
    claimed = threading.Event()

    def work() -> None:
        claimed.wait(30)
        got = manager.claim_next_command("radarr")
        assert got is not None
        manager.finish_command(got.id, result={"cycle": 1})

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert store.wait_command(cmd.id, timeout=0.05).status == "pending"  # type: ignore[union-attr]
        claimed.set()
        finished: Command | None = store.wait_command(cmd.id, timeout=60, poll=0.02)
        assert finished is not None
        assert (finished.status, finished.result_data) == ("done", {"cycle": 1})
    finally:
        claimed.set()
        worker.join(60)
        manager.close()
    assert store.wait_command("f" * 32, timeout=0.01) is None


def test_a_restarted_manager_fails_what_its_predecessor_left_running(store: Store) -> None:
    left = store.enqueue_command("remove", "radarr", {"hash": "ab" * 20}, "mqtt")
    waiting = store.enqueue_command("run_now", "radarr", {}, "mqtt")
    theirs = store.enqueue_command("run_now", "sonarr", {}, "mqtt")
    assert store.claim_next_command("radarr") is not None
    assert store.claim_next_command("sonarr") is not None

    assert store.abandon_running_commands("radarr") == 1
    got = store.get_command(left.id)
    assert got is not None and got.status == "error" and "restarted" in (got.error or "")
    assert store.get_command(waiting.id).status == "pending"  # type: ignore[union-attr]
    assert store.get_command(theirs.id).status == "running"  # type: ignore[union-attr]


def test_list_commands_pages_newest_first(store: Store) -> None:
    made = [store.enqueue_command("run_now", "radarr", {"i": i}, "http") for i in range(7)]
    store.enqueue_command("run_now", "sonarr", {}, "http")
    page, total = store.list_commands(instance="radarr", limit=3, offset=3)
    assert total == 7 and [c.id for c in page] == [made[3].id, made[2].id, made[1].id]
    assert store.list_commands()[1] == 8


def test_a_claim_can_be_limited_to_some_commands(store: Store) -> None:
    """The manager's in-cycle thread takes only run_now/search; the rest stay pending."""
    remove = store.enqueue_command("remove", "radarr", {"hash": "a" * 40})
    run_now = store.enqueue_command("run_now", "radarr")
    quick = ("run_now", "search")
    assert store.has_pending_command("radarr", quick)
    got = store.claim_next_command("radarr", quick)
    assert got is not None and got.id == run_now.id  # the older remove is skipped
    assert not store.has_pending_command("radarr", quick)
    assert store.claim_next_command("radarr", quick) is None
    assert store.has_pending_command("radarr")
    left = store.claim_next_command("radarr")
    assert left is not None and left.id == remove.id
