"""The WebUI's shared answers (``webui/cache.py``) on a real store, SQLite and PostgreSQL.

The torrent page is served from the response cache while the store is unchanged: these
tests check that a write by another process (or another connection) is seen by the very
next request, that a cached answer is byte for byte the uncached one, that the JSON written
straight from the driver's values is what the dict path wrote, and that a shared call never
answers a request with a run that started before it.

Torrent pages are also cut from whole listings (``ListingCache``): a page cut from a held
listing must be byte for byte the page the uncached path reads, for every filter, offset
and limit; a write by another process (or another connection) must show in the very next
page; many clients arriving at a changed store must share one read of the listing; and what
is held stays bounded (a few listings, none longer than the cap).
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.listing import LISTING_CHUNK
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401
from qbitrr_mqtt.webui import create_app
from qbitrr_mqtt.webui.cache import FreshCall, ListingCache, ResponseCache, change_token
from qbitrr_mqtt.webui.routes_history import _torrent_listing, _torrents_body, _torrents_from
from qbitrr_mqtt.webui.serialize import TORRENT_FIELDS, rows
from qbitrr_mqtt.webui.state import SHARED, Tuning

TOKEN = "cache-test-token-0123456789"
AUTH = {"X-API-Token": TOKEN}
CONFIG = """\
settings: {data_dir: ./data}
arr:
  radarr: {type: radarr, url: "http://127.0.0.1:7878", api_key: k-radarr}
  sonarr: {type: sonarr, url: "http://127.0.0.1:8989", api_key: k-sonarr}
"""
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def h(i: int) -> str:
    return f"{i:040x}"


def _fill(store: Store, count: int = 30) -> None:
    """Rows with the values the encoder must get right: non-ASCII and quoted names, null
    and non-null optional fields, fractions of seconds, strikes, actions, gone torrents."""
    rows_ = [
        {
            "hash": h(i),
            "name": ['Film "quoted" \\ tab\t', "Фильм 电影 🎬", "plain"][i % 3] + f" {i}",
            "state": "stalledDL" if i % 4 == 0 else "uploading",
            "health": "stalled" if i % 4 == 0 else "seeding",
            "progress": [0.0, 0.1 + 0.2, 1.0, 1 / 3][i % 4],
            "size": 2**40 + i,
            "added_on": T0 + timedelta(microseconds=123456 * (i % 2)),
            "tracker": None if i % 5 == 0 else "http://tracker.example/announce",
            "private": None if i % 3 == 0 else bool(i % 2),
        }
        for i in range(count)
    ]
    for n in range(3):
        store.upsert_torrents("radarr", rows_[n::3], at=T0 + timedelta(minutes=n, seconds=0.5 * n))
    store.upsert_torrents("sonarr", [{"hash": h(999), "name": "Show"}], at=T0)
    store.add_strike("radarr", h(4), "stalled")
    store.mark_gone("radarr", [h(7)], at=T0 + timedelta(hours=1))
    intent = store.record_intent("radarr", h(8), "x", "remove", "stalled 3 times")
    store.mark_done(intent.id)


def _dict_path(store: Store, q: dict[str, Any], instance: str | None) -> bytes:
    """What the route answered before it wrote JSON from the driver's values."""
    items, total = store.torrent_page(
        instance, q["state"], q["limit"], q["offset"], columns=TORRENT_FIELDS
    )
    body = {"torrents": rows(items, TORRENT_FIELDS), "total": total}
    return json.dumps({**body, "limit": q["limit"], "offset": q["offset"]}).encode()


def test_page_json_is_what_the_dict_path_wrote(store: Store) -> None:
    _fill(store)
    for instance in (None, "radarr", "sonarr"):
        for state in (None, "stalled", "uploading"):
            for limit, offset in ((100, 0), (5, 3), (7, 20), (3, 200), (1000, 0)):
                q = {"state": state, "limit": limit, "offset": offset}
                assert _torrents_body(store, q, instance) == _dict_path(store, q, instance), q


def _app(tmp_path: Path, store: Store, tuning: Tuning) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return create_app(load_config(path, env={}), store, None, token=TOKEN, tuning=tuning)


@pytest.fixture
async def served(aiohttp_client: Any, tmp_path: Path, store: Store) -> Any:
    tuning = Tuning(command_wait=1.0, poll_interval=0.1, heartbeat=0.5)
    return await aiohttp_client(_app(tmp_path, store, tuning))


def _write_elsewhere(url: str, name: str) -> None:
    """Add a torrent from another process, through a store of its own."""
    code = (
        "import sys; from qbitrr_mqtt.store import Store; s = Store.open(sys.argv[1]); "
        "s.upsert_torrents('radarr', [{'hash': 'f' * 40, 'name': sys.argv[2]}]); s.close()"
    )
    subprocess.run([sys.executable, "-c", code, url, name], check=True, timeout=120)


async def _page(client: Any, query: str) -> bytes:
    resp = await client.get(f"/api/v1/torrents?{query}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.read()


async def test_a_write_by_another_process_is_seen_by_the_next_request(
    served: Any, store: Store, store_url: str
) -> None:
    _fill(store)
    cache: ResponseCache = served.app[SHARED].responses
    assert cache.source is not None, "a file or server database has a change token"
    first = await _page(served, "limit=10")
    again = await _page(served, "limit=10")
    assert again == first
    if store_url.startswith("sqlite"):  # PostgreSQL's token also moves with other databases
        assert cache.hits == 1, "an unchanged store answers from the cache"
    q = {"state": None, "limit": 10, "offset": 0}
    assert first == _dict_path(store, q, None), "the cached answer is the uncached one"

    _write_elsewhere(store_url, "Written by another process")
    after = await _page(served, "limit=10")
    assert b"Written by another process" in after
    assert json.loads(after)["total"] == json.loads(first)["total"] + 1
    assert after == _dict_path(store, q, None)

    store.add_strike("radarr", "f" * 40, "stalled")  # this process, another connection
    fresh = await _page(served, "limit=10")
    assert json.loads(fresh)["torrents"][0]["strikes"] == 1
    assert fresh == _dict_path(store, q, None)


async def test_pages_and_filters_are_cached_apart(served: Any, store: Store) -> None:
    _fill(store)
    for query, instance, state, limit, offset in (
        ("limit=5", None, None, 5, 0),
        ("limit=5&offset=5", None, None, 5, 5),
        ("instance=sonarr", "sonarr", None, 100, 0),
        ("state=stalled&limit=5", None, "stalled", 5, 0),
    ):
        for _ in range(2):
            q = {"state": state, "limit": limit, "offset": offset}
            assert await _page(served, query) == _dict_path(store, q, instance), query


# SQLite only: PostgreSQL's token (the server's snapshot) moves with every database of a
# shared server, so on the test server other tests' writes make misses of would-be hits.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_concurrent_identical_misses_share_one_read(served: Any, store: Store) -> None:
    _fill(store)
    cache: ResponseCache = served.app[SHARED].responses
    bodies = await asyncio.gather(*(_page(served, "limit=20&offset=2") for _ in range(20)))
    assert len(set(bodies)) == 1
    assert cache.misses == 1 and cache.hits == 0, (cache.misses, cache.hits)


def test_the_change_token_moves_only_on_commits(store: Store, store_url: str) -> None:
    token = change_token(store)
    assert token is not None
    try:
        before = asyncio.run(token.current())
        store.torrent_page(limit=5)
        if store_url.startswith("sqlite"):  # the server's snapshot moves with any database
            assert asyncio.run(token.current()) == before, "a read changes nothing"
        other = Store.open(store_url)
        try:
            other.upsert_torrents("radarr", [{"hash": h(1), "name": "x"}])
        finally:
            other.close()
        assert asyncio.run(token.current()) != before
    finally:
        token.close()


def test_in_memory_sqlite_has_no_token() -> None:
    memory = Store.open("sqlite://")
    try:
        assert change_token(memory) is None
    finally:
        memory.close()


async def test_a_shared_call_never_serves_a_run_started_before_the_request() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def fn() -> int:
        started.append(len(started) + 1)
        run = len(started)
        await release.wait()
        return run

    call = FreshCall(fn)
    first = asyncio.ensure_future(call())
    while not started:
        await asyncio.sleep(0)
    late = [asyncio.ensure_future(call()) for _ in range(5)]  # while run 1 is under way
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [1], "the late requests wait for the next run"
    release.set()
    assert await first == 1
    assert [await f for f in late] == [2] * 5, "one second run serves every late request"
    assert call.runs == 2


# --- whole listings ------------------------------------------------------------------

INSTANCES = (None, "radarr", "sonarr", "lidarr")
STATES = (None, "stalled", "seeding", "uploading", "stalledDL", "paused")
PAGES = ((100, 0), (1, 0), (5, 3), (7, 20), (3, 28), (10, 29), (1000, 0), (3, 200), (1, 31))


def _listings(served: Any) -> ListingCache:
    return served.app[SHARED].listings


def test_a_page_of_the_listing_is_the_page_read_alone(store: Store) -> None:
    _fill(store)
    for instance in INSTANCES:
        for state in STATES:
            rows = _torrent_listing(store, instance, state, 1000)
            assert rows is not None
            for limit, offset in PAGES:
                q = {"state": state, "limit": limit, "offset": offset}
                want = _torrents_body(store, q, instance)
                assert _torrents_from(rows, limit, offset) == want, (instance, state, q)
                assert want == _dict_path(store, q, instance), (instance, state, q)


def test_the_listing_reads_what_the_pages_read(store: Store) -> None:
    _fill(store)
    for instance in INSTANCES:
        for state in STATES:
            whole = store.torrent_listing_values(instance, state, TORRENT_FIELDS)
            assert whole is not None
            paged, total = store.torrent_page_values(instance, state, 1000, 0, TORRENT_FIELDS)
            assert [tuple(r) for r in whole] == [tuple(r) for r in paged]
            assert len(whole) == total
    chunks: list[int] = []

    def hashes(rows: list[Any]) -> list[str]:
        chunks.append(len(rows))
        return [r[1] for r in rows]

    want = [r[1] for r in store.torrent_page_values(limit=1000, columns=TORRENT_FIELDS)[0]]
    assert store.torrent_listing_values(None, None, TORRENT_FIELDS, convert=hashes) == want
    assert sum(chunks) == len(want) and max(chunks) <= LISTING_CHUNK
    assert store.torrent_listing_values(max_rows=30) is not None  # 30 not gone
    assert store.torrent_listing_values(max_rows=29) is None, "longer than the cap: not read"
    with pytest.raises(ValueError, match="unknown column"):
        store.torrent_listing_values(columns=("hash", "nmae"))


async def _pages(served: Any, store: Store, query: str, instance: str | None, **q: Any) -> None:
    """Ask pages 0..5 (past ``LISTING_AFTER_PAGES``) and check each against the
    uncached path."""
    for offset in range(6):
        body = await _page(served, f"{query}&limit=100&offset={offset}")
        want = _dict_path(store, {"limit": 100, "offset": offset, **q}, instance)
        assert body == want, (query, offset)


async def test_pages_served_from_the_listing_are_the_uncached_pages(
    served: Any, store: Store
) -> None:
    _fill(store)
    listings = _listings(served)
    for instance in INSTANCES[:3]:
        for state in (None, "stalled", "uploading"):
            query = "&".join(f"{k}={v}" for k, v in (("instance", instance), ("state", state)) if v)
            await _pages(served, store, query, instance, state=state)
            for limit, offset in PAGES:
                body = await _page(served, f"{query}&limit={limit}&offset={offset}")
                q = {"state": state, "limit": limit, "offset": offset}
                assert body == _dict_path(store, q, instance), (query, q)
    assert listings.builds >= 1, "the pages in demand were cut from a listing"


async def test_one_page_does_not_read_the_listing(served: Any, store: Store) -> None:
    _fill(store)
    for _ in range(3):  # a dashboard polling its page
        await _page(served, "limit=100")
    await _page(served, "limit=100&offset=100")
    await _page(served, "limit=1000")  # one long page is still one page
    assert _listings(served).builds == 0
    assert _listings(served).held == ()


async def test_a_write_by_another_process_shows_in_the_next_page_of_a_listing(
    served: Any, store: Store, store_url: str
) -> None:
    _fill(store)
    listings = _listings(served)
    await _pages(served, store, "", None, state=None)
    assert listings.held, "the listing in demand is held"
    first = await _page(served, "limit=10")

    _write_elsewhere(store_url, "Written by another process")
    after = await _page(served, "limit=10")
    assert b"Written by another process" in after
    assert json.loads(after)["total"] == json.loads(first)["total"] + 1
    assert after == _dict_path(store, {"state": None, "limit": 10, "offset": 0}, None)

    store.add_strike("radarr", "f" * 40, "stalled")  # this process, another connection
    fresh = await _page(served, "limit=3&offset=0")
    assert json.loads(fresh)["torrents"][0]["strikes"] == 1
    assert fresh == _dict_path(store, {"state": None, "limit": 3, "offset": 0}, None)
    # Gone torrents leave the listing too.
    store.mark_gone("radarr", ["f" * 40])
    gone = await _page(served, "limit=100&offset=0")
    assert b"f" * 40 not in gone
    assert gone == _dict_path(store, {"state": None, "limit": 100, "offset": 0}, None)


# SQLite only: PostgreSQL's token (the server's snapshot) moves with every database of a
# shared server, so other tests' writes would make more reads than these requests did.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_clients_at_a_changed_store_share_one_read_of_the_listing(
    served: Any, store: Store, store_url: str
) -> None:
    _fill(store)
    listings = _listings(served)
    offsets = [random.randrange(0, 31) for _ in range(50)]
    bodies = await asyncio.gather(*(_page(served, f"limit=100&offset={o}") for o in offsets))
    assert listings.builds == 1, "pages in demand: one read of the listing"
    for offset, body in zip(offsets, bodies, strict=True):
        assert body == _dict_path(store, {"state": None, "limit": 100, "offset": offset}, None)

    _write_elsewhere(store_url, "New")
    offsets = [random.randrange(0, 32) for _ in range(50)]
    bodies = await asyncio.gather(*(_page(served, f"limit=10&offset={o}") for o in offsets))
    assert listings.builds == 2, "50 clients at the new token: one more read"
    for offset, body in zip(offsets, bodies, strict=True):
        assert body == _dict_path(store, {"state": None, "limit": 10, "offset": offset}, None)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_few_listings_are_held_and_none_too_long(served: Any, store: Store) -> None:
    _fill(store)
    state = served.app[SHARED]
    state.listings = ListingCache(state.responses, after_pages=1, max_keys=2, max_rows=10)
    # Unfiltered (30 rows), radarr (19): longer than 10, read page by page.
    for query, instance in (("", None), ("instance=radarr", "radarr")):
        for offset in (0, 5):
            body = await _page(served, f"{query}&limit=5&offset={offset}")
            assert body == _dict_path(
                store, {"state": None, "limit": 5, "offset": offset}, instance
            )
    assert state.listings.held == ()
    # sonarr (1 row) and three states of it, at most two held, the most recent.
    for wanted in ("", "&state=seeding", "&state=stalled", "&state=uploading"):
        await _page(served, f"instance=sonarr{wanted}&limit=5")
    assert state.listings.held == (
        ("torrents", "sonarr", "stalled"),
        ("torrents", "sonarr", "uploading"),
    )


class Clock:
    """The caches' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_what_nobody_asks_for_is_dropped_after_the_idle_time(
    served: Any, store: Store
) -> None:
    _fill(store)
    state = served.app[SHARED]
    clock = Clock()
    state.responses.close()
    state.responses = ResponseCache(change_token(store), idle=60, clock=clock)
    state.listings = ListingCache(state.responses, idle=60, clock=clock)
    listings, responses = state.listings, state.responses
    await _pages(served, store, "", None, state=None)
    await _pages(served, store, "instance=radarr", "radarr", state=None)
    assert len(listings.held) == 2 and listings.size > 0

    clock.now += 40
    await _page(served, "limit=100&offset=3")  # a page cut from the unfiltered listing
    await _page(served, "state=stalled&limit=5")  # a page read alone, through the cache
    clock.now += 30  # radarr's listing unused for 70 s, the unfiltered one for 30 s
    held = listings.size
    dropped = listings.sweep()
    assert listings.held == (("torrents", None, None),)
    assert 0 < dropped < held and listings.size == held - dropped
    assert responses.sweep() == 0, "a page was read through it 30 s ago: the cache stays"
    assert responses.size > 0

    # A dropped listing in demand again is read again, and its pages are still right.
    builds = listings.builds
    await _pages(served, store, "instance=radarr", "radarr", state=None)
    assert listings.builds == builds + 1

    clock.now += 61  # nobody asked for anything for a minute
    assert listings.sweep() > 0 and responses.sweep() > 0
    assert listings.held == () and listings.size == 0 and responses.size == 0
    assert await _page(served, "limit=7&offset=2") == _dict_path(
        store, {"state": None, "limit": 7, "offset": 2}, None
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_the_webui_sweeps_idle_caches_and_releases_their_memory(
    aiohttp_client: Any, tmp_path: Path, store: Store
) -> None:
    _fill(store)
    app = _app(tmp_path, store, Tuning(cache_idle=0.3, sweep_every=0.05))
    client = await aiohttp_client(app)
    state = app[SHARED]
    await _pages(client, store, "", None, state=None)
    assert state.listings.held and state.responses.size > 0
    assert store.engine.pool.checkedin() > 0, "the reads left pooled connections"

    for _ in range(200):  # the sweep runs every 0.05 s; give it 10 s at most
        if not state.listings.held and state.responses.size == 0 and state.trims:
            break
        await asyncio.sleep(0.05)
    assert state.listings.held == () and state.responses.size == 0
    assert state.trims >= 1, "the heap was trimmed after the caches were dropped"
    assert store.engine.pool.checkedin() == 0, "the idle connections were closed"
    assert await _page(client, "limit=5&offset=1") == _dict_path(
        store, {"state": None, "limit": 5, "offset": 1}, None
    )


def test_releasing_idle_connections_keeps_the_store_usable(store: Store) -> None:
    _fill(store)
    before = store.torrent_page_values(limit=1000, columns=TORRENT_FIELDS)
    assert store.engine.pool.checkedin() > 0
    store.release_idle_connections()
    assert store.engine.pool.checkedin() == 0
    assert store.torrent_page_values(limit=1000, columns=TORRENT_FIELDS) == before
    with store.engine.connect():  # a connection in use when the pool is released
        store.release_idle_connections()
    store.upsert_torrents("radarr", [{"hash": "e" * 40, "name": "after"}])
    assert store.torrent_page_values(limit=1000, columns=TORRENT_FIELDS)[1] == before[1] + 1


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_failed_release_does_not_end_the_sweep(
    aiohttp_client: Any, tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    _fill(store)
    app = _app(tmp_path, store, Tuning(cache_idle=0.1, sweep_every=0.05))
    client = await aiohttp_client(app)
    state = app[SHARED]
    calls: list[int] = []

    def release_idle_connections() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk gone")

    store.release_idle_connections = release_idle_connections  # type: ignore[method-assign]
    for _ in range(2):  # two bursts: the first release fails, the second is made
        await _pages(client, store, "", None, state=None)
        for _ in range(200):
            if state.trims or (len(calls) == 1 and not state.listings.held):
                break
            await asyncio.sleep(0.05)
    assert "could not release the WebUI's idle memory: disk gone" in caplog.text
    assert len(calls) >= 2 and state.trims >= 1
    assert not state.sweeper.done()  # type: ignore[union-attr]
