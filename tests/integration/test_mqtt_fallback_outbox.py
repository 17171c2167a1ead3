"""The MQTT outbox when the store cannot take a message: a real SQLite store whose page limit
stands in for a full disk (the same SQLITE_FULL error), on LeanStore and Store alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.mqtt.outbox import FallbackOutbox, as_item
from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.testing import sqlite_url


def fill_up(store: Any) -> None:
    """Cap the database at its current size: the next page it needs is refused."""
    for _ in range(100):  # grow a little first, so the cap leaves no free page
        store.outbox_put("warm/up", "x" * 4000, False, owner="other")
    pages = store.outbox_size()  # any read: make sure the writes are there
    assert pages > 0
    set_max_pages(store, None)


def set_max_pages(store: Any, pages: int | None) -> None:
    if isinstance(store, LeanStore):
        with store.db.read() as tx:
            count = tx.scalar("PRAGMA page_count") if pages is None else pages
            tx.execute(f"PRAGMA max_page_count = {count}")
    else:
        with store.session() as s:
            conn = s.connection()
            count = conn.exec_driver_sql("PRAGMA page_count").scalar() if pages is None else pages
            conn.exec_driver_sql(f"PRAGMA max_page_count = {count}")
            s.commit()


@pytest.fixture(params=["lean", "orm"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = sqlite_url(tmp_path)
    Store.open(url).close()
    opened = LeanStore.open(url) if request.param == "lean" else Store.open(url)
    yield opened
    opened.close()


def test_a_full_store_keeps_messages_in_memory_and_in_order(store: Any) -> None:
    outbox = FallbackOutbox(store.scoped_outbox("bridge"), limit=100)
    outbox.outbox_put("t/1", "stored before the disk filled", True)
    fill_up(store)
    big = "y" * 20_000  # needs new pages: refused
    outbox.outbox_put("t/2", big, True)  # no exception
    outbox.outbox_put("t/3", "small, but queued behind t/2", True)
    assert len(outbox.memory) == 2

    # Space comes back: messages still queue in memory until it is drained (order).
    set_max_pages(store, 1_000_000)
    outbox.outbox_put("t/4", "after the space came back", True)
    assert len(outbox.memory) == 3

    sent = []
    while batch := [as_item(r) for r in outbox.outbox_take(10)]:
        sent += [(i.topic, i.payload[:5]) for i in batch]
        assert outbox.outbox_delete([i.id for i in batch]) == len(batch)
    assert [t for t, _ in sent] == ["t/1", "t/2", "t/3", "t/4"]
    assert len(outbox.memory) == 0

    # Memory drained: the store takes messages again (they survive a restart there).
    outbox.outbox_put("t/5", "stored again", True)
    assert len(outbox.memory) == 0
    assert [as_item(r).topic for r in store.scoped_outbox("bridge").outbox_take(10)] == ["t/5"]


def test_messages_the_store_trims_count_as_dropped_for_their_owner(store: Any) -> None:
    """The connection reports ``outbox_dropped`` from the outbox it sends from: messages the
    store trimmed past its limit must count there (they were lost as surely as memory's)."""
    store.outbox_limit = 3
    bridge = FallbackOutbox(store.scoped_outbox("bridge"), limit=100)
    other = FallbackOutbox(store.scoped_outbox("manager-radarr"), limit=100)
    for n in range(5):
        bridge.outbox_put(f"t/{n}", "x", False)
    other.outbox_put("t/other", "x", False)
    assert bridge.dropped == 2
    assert other.dropped == 0
    assert [i.topic for i in bridge.outbox_take(10)] == ["t/2", "t/3", "t/4"]
