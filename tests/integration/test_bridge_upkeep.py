"""The bridge's upkeep threads on a real SQLite store: maintenance prunes old history on
its own schedule, and a failing round never ends the thread."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbitrr_mqtt.bridge import upkeep as upkeep_module
from qbitrr_mqtt.bridge.upkeep import Upkeep
from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.retention import last_report


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(upkeep_module, "MAINTENANCE_FIRST", 0.1)
    monkeypatch.setattr(upkeep_module, "MAINTENANCE_EVERY", 0.2)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    config = config_from_dict(
        {
            "settings": {"retention_days": 7, "data_dir": str(tmp_path)},
            "database": {"url": url},
            "arr": {},
        }
    )
    store = Store.open(url)
    yield config, store
    store.close()


def old_action(store: Store, days: int) -> int:
    at = datetime.now(UTC) - timedelta(days=days)
    row = store.record_intent("radarr", "a" * 40, "Movie", "blocklist", "stalled", at=at)
    assert row.id is not None
    store.mark_done(row.id, at=at)
    return row.id


def test_maintenance_prunes_history_past_retention(setup) -> None:  # type: ignore[no-untyped-def]
    config, store = setup
    old, recent = old_action(store, 30), old_action(store, 1)
    keeper = Upkeep(config, store, supervisor=None)
    keeper.start()
    try:
        wait_until(lambda: store.get_action(old) is None, what="the 30-day-old action pruned")
    finally:
        keeper.stop()
    assert store.get_action(recent) is not None
    assert last_report(store) is not None


def test_a_failing_round_is_retried(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    config, store = setup
    from qbitrr_mqtt.store import retention

    real = retention.run_maintenance
    calls: list[str] = []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("call")
        if len(calls) == 1:
            raise OSError("database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(retention, "run_maintenance", flaky)
    old = old_action(store, 30)
    keeper = Upkeep(config, store, supervisor=None)
    keeper.start()
    try:
        wait_until(lambda: store.get_action(old) is None, what="pruned after a failed round")
    finally:
        keeper.stop()
    assert len(calls) >= 2
