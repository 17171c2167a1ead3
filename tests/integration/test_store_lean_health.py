"""LeanStore's process health, instance state and ``meta`` against Store's, on SQLite and
PostgreSQL: the event listener and the managers write with LeanStore, the WebUI, the bridge
and ``/metrics`` read with Store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from qbitrr_mqtt.bridge.health import HealthTracker, StoreSink
from qbitrr_mqtt.metrics import SNAPSHOT_PREFIX, ProcessMetrics, StoreCollector
from qbitrr_mqtt.store import SCHEMA_VERSION, Meta, NaiveDatetimeError, Store
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.lean.tables import INSTANCE_STATE, PROCESS_EVENT, PROCESS_HEALTH
from qbitrr_mqtt.store.testing import store_pair_fixture, store_url_fixture  # noqa: F401

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def as_dict(row: Any, names: tuple[str, ...], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {n: getattr(row, n) for n in names if n not in skip}


def health(row: Any) -> dict[str, Any]:
    return as_dict(row, PROCESS_HEALTH.names, ("name",))


def state(row: Any) -> dict[str, Any]:
    return as_dict(row, INSTANCE_STATE.names, ("instance",))


def test_process_events_written_by_lean_read_by_store(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    first = lean.record_process_event("manager-a", None, "STARTING", at=T0)
    second = lean.record_process_event(
        "manager-a", "STARTING", "RUNNING", pid=42, expected=True, detail="up", at=T0
    )
    third = store.record_process_event("manager-a", "RUNNING", "EXITED", expected=False)
    assert first.id < second.id < third.id  # one id sequence for both writers
    events, total = store.list_process_events("manager-a")
    assert total == 3
    by_id = {e.id: as_dict(e, PROCESS_EVENT.names) for e in events}
    assert by_id[second.id] == as_dict(second, PROCESS_EVENT.names)
    assert by_id[second.id]["expected"] is True and by_id[first.id]["expected"] is None
    with pytest.raises(NaiveDatetimeError):
        lean.record_process_event("manager-a", None, "STARTING", at=datetime(2025, 1, 1))
    assert store.list_process_events()[1] == 3


def run_health(store: Store | LeanStore, name: str) -> list[Any]:
    out: list[Any] = [health(store.upsert_process_health(name, updated_at=T0))]
    out.append(
        health(
            store.upsert_process_health(
                name, state="RUNNING", pid=7, started_at=T0, updated_at=T0 + timedelta(seconds=1)
            )
        )
    )
    out.append(
        health(
            store.upsert_process_health(
                name,
                state="BACKOFF",
                pid=None,
                last_exit=ValueError("exit 1"),  # stored as text
                restart_count=3,
                restart_limit_reached=True,
                last_restart=T0 + timedelta(seconds=2),
                updated_at=T0 + timedelta(seconds=2),
            )
        )
    )
    got = store.get_process_health(name)
    out.append(health(got) if got is not None else None)
    out.append(store.get_process_health("nobody"))
    return out


def test_process_health_upserts_agree(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    orm, thin = run_health(store, "orm"), run_health(lean, "lean")
    assert orm == thin
    assert thin[0]["state"] == "UNKNOWN" and thin[1]["pid"] == 7 and thin[2]["pid"] is None
    assert thin[3]["last_exit"] == "exit 1" and thin[3]["started_at"] == T0  # kept
    # Each reads what the other wrote, and both list in name order.
    assert [health(r) for r in store.list_process_health()] == [
        health(r) for r in lean.list_process_health()
    ]
    assert [r.name for r in lean.list_process_health()] == ["lean", "orm"]
    with pytest.raises(ValueError, match="unknown field"):
        lean.upsert_process_health("lean", sate="RUNNING")
    with pytest.raises(NaiveDatetimeError):
        lean.upsert_process_health("lean", started_at=datetime(2025, 1, 1))
    assert health(store.get_process_health("lean")) == thin[3]


def test_updated_at_and_heartbeat_default_to_now(store_pair: tuple[Store, LeanStore]) -> None:
    _, lean = store_pair
    before = datetime.now(UTC)
    row = lean.upsert_process_health("p", state="RUNNING")
    beat = lean.upsert_instance_state("radarr", queue_size=3)
    assert row.updated_at >= before and beat.heartbeat_at is not None
    assert beat.heartbeat_at >= before and beat.heartbeat_at.tzinfo is UTC


def run_state(store: Store | LeanStore, instance: str) -> list[Any]:
    out: list[Any] = [state(store.upsert_instance_state(instance, heartbeat_at=T0))]
    out.append(
        state(
            store.upsert_instance_state(
                instance,
                qbit_connected=True,
                counts={"stalled": 2, "downloading": 5},
                queue_size=7,
                last_cycle_at=T0,
                last_cycle_duration=1.25,
                heartbeat_at=T0,
            )
        )
    )
    out.append(
        state(store.upsert_instance_state(instance, dry_run=True, counts={}, heartbeat_at=T0))
    )
    out.append(state(store.upsert_instance_state(instance, counts='{"x":1}', heartbeat_at=T0)))
    got = store.get_instance_state(instance)
    out.append(state(got) if got is not None else None)
    out.append(got.counts_data if got is not None else None)
    return out


def test_instance_state_upserts_agree(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    orm, thin = run_state(store, "orm"), run_state(lean, "lean")
    assert orm == thin
    assert thin[1]["counts"] == '{"downloading":5,"stalled":2}' and thin[2]["counts"] == "{}"
    assert thin[4]["queue_size"] == 7 and thin[4]["dry_run"] is True and thin[5] == {"x": 1}
    assert [state(r) for r in store.list_instance_states()] == [
        state(r) for r in lean.list_instance_states()
    ]
    assert [r.instance for r in lean.list_instance_states()] == ["lean", "orm"]
    assert lean.get_instance_state("nobody") is None
    with pytest.raises(ValueError, match="unknown field"):
        lean.upsert_instance_state("lean", heartbeat="now")


def test_put_meta_inserts_then_replaces_on_both(store_pair: tuple[Store, LeanStore]) -> None:
    store, lean = store_pair
    lean.put_meta("metrics:a", "1")
    store.put_meta("metrics:b", "2")
    lean.put_meta("metrics:b", "3")
    store.put_meta("metrics:a", "4")
    assert meta(store) == {
        "metrics:a": "4",
        "metrics:b": "3",
        "schema_version": str(SCHEMA_VERSION),
    }


def test_metrics_saved_through_lean_are_scraped_by_the_webui(
    store_pair: tuple[Store, LeanStore],
) -> None:
    store, lean = store_pair
    metrics = ProcessMetrics("manager-radarr", "radarr")
    metrics.cycle(0.3)
    metrics.strike("stalled")
    metrics.save(lean)
    metrics.cycle(0.7)
    metrics.save(lean)  # replaced, not added
    families = {m.name: m for m in StoreCollector(store)._snapshots()}
    [cycles] = families["qbitrr_cycles"].samples
    assert cycles.value == 2.0 and cycles.labels == {"instance": "radarr"}
    assert [k for k in meta(store) if k.startswith(SNAPSHOT_PREFIX)] == ["metrics:manager-radarr"]


def meta(store: Store) -> dict[str, str]:
    """The ``meta`` table read through Store."""
    with store.session(write=False) as s:
        return {m.key: m.value for m in s.exec(select(Meta))}


def test_the_listener_sink_writes_lean_rows_store_reads(
    store_pair: tuple[Store, LeanStore],
) -> None:
    store, lean = store_pair
    tracker = HealthTracker([StoreSink(lean)])
    tracker.on_event(
        "manager-a", from_state="STOPPED", to_state="STARTING", pid=None, expected=None, at=T0
    )
    tracker.on_event(
        "manager-a",
        from_state="STARTING",
        to_state="RUNNING",
        pid=5,
        expected=None,
        at=T0 + timedelta(seconds=1),
    )
    tracker.set_limit("manager-a", True, T0 + timedelta(seconds=2), "restart limit reached")
    [row] = store.list_process_health()
    assert (row.name, row.state, row.pid, row.restart_limit_reached) == (
        "manager-a",
        "RUNNING",
        5,
        True,
    )
    assert row.last_exit == "restart limit reached" and row.started_at == T0 + timedelta(seconds=1)
    events, total = store.list_process_events("manager-a")
    assert total == 3 and events[0].detail == "restart limit reached"
