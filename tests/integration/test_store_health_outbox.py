"""Process health, instance state and the MQTT outbox on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_process_events_page_and_cursor(store: Store) -> None:
    assert store.last_process_event_id() == 0
    made = [
        store.record_process_event(
            "manager-radarr", "STARTING", "RUNNING", pid=100 + i, at=T0 + timedelta(seconds=i)
        )
        for i in range(5)
    ]
    crash = store.record_process_event(
        "bridge", "RUNNING", "EXITED", pid=7, expected=False, detail="exit status 1"
    )
    page, total = store.list_process_events("manager-radarr", limit=2, offset=1)
    assert total == 5 and [e.id for e in page] == [made[3].id, made[2].id]
    assert store.list_process_events()[1] == 6
    assert store.last_process_event_id() == crash.id
    after = store.process_events_after(made[3].id)  # type: ignore[arg-type]
    assert [(e.id, e.to_state) for e in after] == [(made[4].id, "RUNNING"), (crash.id, "EXITED")]
    assert after[1].expected is False and after[1].detail == "exit status 1"
    assert after[0].at == T0 + timedelta(seconds=4)


def test_process_health_upserts_only_given_fields(store: Store) -> None:
    store.upsert_process_health("manager-radarr", state="RUNNING", pid=42, started_at=T0)
    row = store.upsert_process_health(
        "manager-radarr", restart_count=2, last_exit=1, last_restart=T0 + timedelta(minutes=1)
    )
    assert (row.state, row.pid, row.restart_count, row.last_exit) == ("RUNNING", 42, 2, "1")
    store.upsert_process_health("bridge", state="FATAL", restart_limit_reached=True)
    rows = store.list_process_health()
    assert [r.name for r in rows] == ["bridge", "manager-radarr"]
    assert rows[0].restart_limit_reached is True
    got = store.get_process_health("manager-radarr")
    assert got is not None and got.started_at == T0 and got.updated_at.tzinfo is UTC
    assert store.get_process_health("webui") is None
    with pytest.raises(ValueError, match="unknown field"):
        store.upsert_process_health("bridge", restarts=3)


def test_instance_state_keeps_counts_as_json(store: Store) -> None:
    first = store.upsert_instance_state(
        "radarr",
        qbit_connected=True,
        counts={"downloading": 3, "stalled": 1},
        queue_size=4,
        last_cycle_at=T0,
        last_cycle_duration=1.25,
    )
    assert first.heartbeat_at is not None
    store.upsert_instance_state("radarr", arr_connected=True, error=None)
    store.upsert_instance_state("lidarr", dry_run=True)
    got = store.get_instance_state("radarr")
    assert got is not None
    assert got.counts_data == {"downloading": 3, "stalled": 1}
    assert (got.qbit_connected, got.arr_connected, got.queue_size) == (True, True, 4)
    assert (got.last_cycle_at, got.last_cycle_duration) == (T0, 1.25)
    assert [s.instance for s in store.list_instance_states()] == ["lidarr", "radarr"]
    assert store.get_instance_state("sonarr") is None


def test_outbox_keeps_order_and_deletes_what_was_sent(store: Store) -> None:
    ids = [store.outbox_put("qbitrr/radarr/event", f'{{"n": {i}}}') for i in range(5)]
    ids.append(store.outbox_put("qbitrr/radarr/state", b"\xe2\x9c\x93", retain=True))
    batch = store.outbox_take(limit=3)
    assert [m.id for m in batch] == ids[:3]
    assert [m.payload for m in batch] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert store.outbox_delete([m.id for m in batch if m.id is not None]) == 3
    rest = store.outbox_take()
    assert [m.id for m in rest] == ids[3:]
    assert (rest[-1].payload, rest[-1].retain) == ("\u2713", True)
    assert store.outbox_size() == 3


def test_a_new_retained_message_replaces_the_waiting_one(store: Store) -> None:
    store.outbox_put("qbitrr/radarr/state", "old", retain=True)
    store.outbox_put("qbitrr/radarr/event", "e1")
    store.outbox_put("qbitrr/radarr/event", "e2")
    store.outbox_put("qbitrr/radarr/state", "new", retain=True)
    store.outbox_put("qbitrr/sonarr/state", "other", retain=True)
    assert [(m.topic, m.payload) for m in store.outbox_take()] == [
        ("qbitrr/radarr/event", "e1"),
        ("qbitrr/radarr/event", "e2"),
        ("qbitrr/radarr/state", "new"),
        ("qbitrr/sonarr/state", "other"),
    ]


def test_outbox_is_bounded_by_dropping_the_oldest(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.outbox_limit = 10
    ids = [store.outbox_put("t", f"m{i}") for i in range(10)]
    assert store.outbox_size() == 10
    with caplog.at_level("WARNING", logger="qbitrr.store"):
        ids += [store.outbox_put("t", f"m{i}") for i in range(10, 13)]
    kept = store.outbox_take(limit=100)
    assert [m.payload for m in kept] == [f"m{i}" for i in range(3, 13)]
    assert [m.id for m in kept] == ids[3:]
    assert "dropped the 1 oldest" in caplog.text
    # Deleting from the middle (a partial send) does not make the bound drop too much.
    store.outbox_delete([ids[5], ids[6]])
    store.outbox_put("t", "m13")
    assert [m.payload for m in store.outbox_take()] == [
        f"m{i}" for i in (3, 4, 7, 8, 9, 10, 11, 12, 13)
    ]


def test_outbox_default_bound_is_ten_thousand(store: Store) -> None:
    assert store.outbox_limit == 10_000


def test_each_program_sends_and_trims_only_its_own_messages(store: Store) -> None:
    manager, bridge = store.scoped_outbox("manager-radarr"), store.scoped_outbox("bridge")
    store.outbox_limit = 3
    manager.outbox_put("qbitrr/radarr/state", "m-old", True)
    bridge.outbox_put("qbitrr/radarr/state", "b", True)  # same topic, another owner: kept
    manager.outbox_put("qbitrr/radarr/state", "m-new", True)
    for i in range(5):  # past the bound for the manager only
        manager.outbox_put("qbitrr/radarr/event", f"e{i}", False)
    assert [m.payload for m in bridge.outbox_take(10)] == ["b"]
    assert [m.payload for m in manager.outbox_take(10)] == ["e2", "e3", "e4"]
    assert store.outbox_size("bridge") == 1 and store.outbox_size() == 4
    taken = manager.outbox_take(10)
    assert manager.outbox_delete([m.id for m in taken if m.id is not None]) == 3
    assert store.outbox_size() == 1
