"""The bridge's upkeep threads on a real store (SQLite and PostgreSQL), given the LeanStore
the bridge runs on: maintenance runs in a real child process (``python -m qbitrr_mqtt.store
maintain``) on its own schedule and prunes old history, its report is logged, and a failing
round (the child's error line logged) never ends the thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.bridge import upkeep as upkeep_module
from qbitrr_mqtt.bridge.upkeep import MaintenanceFailed, Upkeep, maintain_in_child
from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.store import SCHEMA_VERSION, Store
from qbitrr_mqtt.store.common import VERSION_KEY
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.retention import last_report
from qbitrr_mqtt.store.testing import store_url_fixture  # noqa: F401


def wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


@pytest.fixture
def setup(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The config, the ORM store (to set up and look) and the LeanStore the bridge gives
    its upkeep, all on one fresh database."""
    monkeypatch.setattr(upkeep_module, "MAINTENANCE_FIRST", 0.1)
    monkeypatch.setattr(upkeep_module, "MAINTENANCE_EVERY", 0.2)
    config = config_from_dict(
        {
            "settings": {"retention_days": 7, "data_dir": str(tmp_path)},
            "database": {"url": store_url},
            "arr": {},
        }
    )
    store = Store.open(store_url)
    lean = LeanStore.open(store_url)
    yield config, store, lean
    lean.close()
    store.close()


def old_action(store: Store, days: int) -> int:
    at = datetime.now(UTC) - timedelta(days=days)
    row = store.record_intent("radarr", "a" * 40, "Movie", "blocklist", "stalled", at=at)
    assert row.id is not None
    store.mark_done(row.id, at=at)
    return row.id


def messages(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(start)]


def test_maintenance_prunes_history_past_retention(
    setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qbitrr.bridge")
    config, store, lean = setup
    old, recent = old_action(store, 30), old_action(store, 1)
    keeper = Upkeep(config, lean, supervisor=None)
    keeper.start()
    try:
        wait_until(lambda: store.get_action(old) is None, what="the 30-day-old action pruned")
        wait_until(lambda: messages(caplog, "store maintenance: {"), what="the report logged")
    finally:
        keeper.stop()
    assert store.get_action(recent) is not None
    saved = last_report(store)
    assert saved is not None and saved["pruned"]["actions"]["rows"] == 1
    assert "'total_pruned': " in messages(caplog, "store maintenance: {")[0]


def test_a_failing_round_is_logged_and_retried(
    setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A database the child refuses (a schema newer than this code): the round fails with
    the child's own error line in the log; once the database is usable again, a later round
    prunes."""
    config, store, lean = setup
    old = old_action(store, 30)
    store.put_meta(VERSION_KEY, str(SCHEMA_VERSION + 1))
    keeper = Upkeep(config, lean, supervisor=None)
    keeper.start()
    try:
        failed = "store maintenance failed; retrying in an hour: SchemaTooNew: "
        wait_until(lambda: messages(caplog, failed), what="the failed round logged")
        assert store.get_action(old) is not None
        store.put_meta(VERSION_KEY, str(SCHEMA_VERSION))
        wait_until(lambda: store.get_action(old) is None, what="pruned after a failed round")
    finally:
        keeper.stop()
    assert keeper.threads and all(not t.is_alive() for t in keeper.threads)


def test_a_round_is_cut_short_on_stop_or_timeout(setup: Any) -> None:
    """The child is killed when the bridge stops or the round outlives its timeout; nothing
    is reported as done."""
    config, store, _ = setup
    stop = threading.Event()
    stop.set()
    with pytest.raises(MaintenanceFailed, match="stopping"):
        maintain_in_child(config.database.url, 7, stop)
    with pytest.raises(MaintenanceFailed, match="longer than 0 s"):
        maintain_in_child(config.database.url, 7, timeout=0)
    assert last_report(store) is None
