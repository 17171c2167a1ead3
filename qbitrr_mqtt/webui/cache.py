"""Answers the WebUI computes once for many requests: shared calls and a response cache.

Every open dashboard polls the same few routes, so 50 dashboards ask the same questions 50
times a second. Two tools let those requests share work without ever answering with data
older than the request:

- :class:`FreshCall` shares one run of a function among the requests that arrived *before
  it started* (a request that comes while a run is under way waits for the next run, which
  starts as soon as the current one ends). ``GET /api/v1/processes`` asks supervisord
  through it: one XML-RPC round trip (parsing its XML was most of the route's cost) serves
  every dashboard that asked meanwhile, and an answer never predates its request, so a
  client that restarted a program and then asks sees the new pid.
- :class:`ResponseCache` keeps the encoded body of a GET under its parameters and the
  store's change token (:class:`ChangeToken`) read *before* the body was read; it serves the
  body again only while the token has not changed since. On SQLite the token is
  ``PRAGMA data_version`` on a connection of its own, which changes whenever any other
  connection (of any process, this one's pool included) commits; on PostgreSQL it is the
  text of ``pg_current_snapshot()``, which changes whenever any transaction that had or got
  a transaction id ends (every write has one), so an equal snapshot means nothing was
  committed in between. Either is coarse (any commit anywhere in the store drops every
  entry) but exact: a cached answer is never older than the store it would be read from.
  An in-memory SQLite store (tests) or a token read that fails means no caching.
- :class:`ListingCache` keeps, under the same token, whole torrent listings (per filter,
  not per page) as each row's encoded JSON, so clients paging at random offsets through
  10,000 torrents cost a slice and a join each instead of a query, a count and the
  encoding of their page. It reads a listing only once its pages are in demand, one read
  for every request waiting, and holds a few listings of bounded length.

Neither keeps what nobody asks for: :meth:`ResponseCache.sweep` and :meth:`ListingCache.sweep`
drop what has not been asked for in :data:`CACHE_IDLE` seconds (the WebUI sweeps every
:data:`SWEEP_EVERY` seconds and then gives the freed heap back to the system), so the ~10 MB
a burst of paging clients left behind does not stay with the process all day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("qbitrr.webui")

#: Bytes of encoded bodies the response cache holds at most (a page of 100 torrents is
#: ~70 KB): enough for the pages a few dashboards show, small next to the process.
CACHE_BYTES = 4 * 1024 * 1024
#: How long the SQLite token read waits for a lock (WAL readers almost never wait); a read
#: that fails only turns the cache off for that request.
SQLITE_TOKEN_TIMEOUT = 0.05
#: Seconds after which what no request has asked for is dropped: a dashboard polls every few
#: seconds, so what it shows stays; what a burst of clients left is gone half a minute later.
CACHE_IDLE = 30.0
#: How often the WebUI looks for idle entries (and, after dropping some, trims the heap).
SWEEP_EVERY = 10.0


class FreshCall[T]:
    """``await call()`` runs ``fn`` or joins a run that has not started yet; never one that
    started before the caller asked (see the module docstring)."""

    def __init__(self, fn: Callable[[], Awaitable[T]]) -> None:
        self._fn = fn
        self._next: asyncio.Future[T] | None = None
        self._running = False
        self.runs = 0

    async def __call__(self) -> T:
        future = self._next
        if future is None:
            future = self._next = asyncio.get_running_loop().create_future()
            if not self._running:
                self._start()
        return await asyncio.shield(future)

    def _start(self) -> None:
        future, self._next = self._next, None
        assert future is not None
        self._running = True
        self.runs += 1
        task = asyncio.ensure_future(self._fn())
        task.add_done_callback(lambda done: self._finished(future, done))

    def _finished(self, future: asyncio.Future[T], task: asyncio.Future[T]) -> None:
        self._running = False
        if task.cancelled():
            future.cancel()
        elif task.exception() is not None:
            future.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            future.set_result(task.result())
        if self._next is not None:  # requests that came during this run
            self._start()


class ChangeToken:
    """A value that differs whenever another connection has committed to the store since
    the last read; None: unknown (do not cache)."""

    async def current(self) -> Hashable | None:
        raise NotImplementedError

    def close(self) -> None:
        """Close the token's own connection."""


class SqliteToken(ChangeToken):
    """``PRAGMA data_version`` on a connection of its own, read on the event loop (a WAL
    read of the shared-memory index, microseconds; a thread hop would cost more and would
    queue behind the page reads the cache is there to save)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def read(self) -> int | None:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(
                        self._path,
                        timeout=SQLITE_TOKEN_TIMEOUT,
                        isolation_level=None,
                        check_same_thread=False,
                    )
                # fetchall: the statement runs to its end, so no read transaction stays open.
                return int(self._conn.execute("PRAGMA data_version").fetchall()[0][0])
            except sqlite3.Error as exc:
                log.debug("no change token from %s: %s", self._path, exc)
                self.close()
                return None

    async def current(self) -> Hashable | None:
        return self.read()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


class PostgresToken(ChangeToken):
    """``pg_current_snapshot()`` on a connection of its own (autocommit, outside the
    engine's pool so it takes no page read's connection), read on a thread of its own; the
    requests waiting at the same moment share one read (:class:`FreshCall`)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._conn: Any = None
        self._lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webui-token")
        self._shared: FreshCall[Hashable | None] = FreshCall(self._read_off_loop)

    def read(self) -> str | None:
        with self._lock:
            try:
                if self._conn is None:
                    dialect = self._engine.dialect
                    cargs, cparams = dialect.create_connect_args(self._engine.url)
                    self._conn = dialect.connect(*cargs, **cparams)
                    self._conn.autocommit = True
                with self._conn.cursor() as cursor:
                    cursor.execute("SELECT pg_current_snapshot()::text")
                    return str(cursor.fetchone()[0])
            except Exception as exc:  # noqa: BLE001 - any failure only turns the cache off
                log.debug("no change token from PostgreSQL: %s", exc)
                self._drop()
                return None

    async def _read_off_loop(self) -> Hashable | None:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.read)

    async def current(self) -> Hashable | None:
        return await self._shared()

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # already broken
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._drop()
        self._thread.shutdown(wait=False, cancel_futures=True)


def change_token(store: Any) -> ChangeToken | None:
    """The change token of ``store``'s database, or None where none is available (no
    store, an in-memory or URI-named SQLite database, another backend)."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return None
    url = engine.url
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database
        if not database or database == ":memory:" or url.query.get("uri"):
            return None
        return SqliteToken(database)
    if backend == "postgresql":
        return PostgresToken(engine)
    return None


class ResponseCache:
    """Encoded bodies by key, valid while the store's change token is the one they were
    read under (see the module docstring). Identical requests that miss at the same time
    share one computation."""

    def __init__(
        self,
        source: ChangeToken | None,
        max_bytes: int = CACHE_BYTES,
        *,
        idle: float = CACHE_IDLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.idle = idle
        self._clock = clock
        #: When a body was last asked for (any key).
        self._used = clock()
        self._seen: Hashable | None = None
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}
        self._size = 0
        self.hits = 0
        self.misses = 0

    async def mark(self) -> Hashable | None:
        """The store's change token now (None: unknown, do not cache)."""
        return await self.source.current() if self.source is not None else None

    async def get(self, key: Hashable, make: Callable[[], Awaitable[bytes]]) -> bytes:
        """The body for ``key``: cached if the store has not changed since it was read,
        else ``make()``'s (shared with identical requests waiting now)."""
        return await self.get_at(await self.mark(), key, make)

    async def get_at(
        self, mark: Hashable | None, key: Hashable, make: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """:meth:`get` with the change token the caller has just read."""
        self._used = self._clock()
        if mark is None:
            self.misses += 1
            return await make()
        if mark != self._seen:  # something was committed: every entry is stale
            self._entries.clear()
            self._pending = {}
            self._size = 0
            self._seen = mark
        body = self._entries.get(key)
        if body is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return body
        pending = self._pending.get(key)
        if pending is None:
            self.misses += 1
            pending = asyncio.ensure_future(make())
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._made(key, mark, done))
        return await asyncio.shield(pending)

    def _made(self, key: Hashable, mark: Hashable, done: asyncio.Future[bytes]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if mark != self._seen or done.cancelled() or done.exception() is not None:
            return  # read under a token that is no longer current, or failed: not kept
        body = done.result()
        if len(body) > self.max_bytes // 4:
            return  # one huge page would push out everything else
        self._entries[key] = body
        self._size += len(body)
        while self._size > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self._size -= len(old)

    @property
    def size(self) -> int:
        """Bytes of the bodies held."""
        return self._size

    def sweep(self) -> int:
        """Drop every body when none has been asked for in ``idle`` seconds (the pages
        dashboards poll are asked every few seconds, so they stay); the bytes dropped."""
        if not self._entries or self._clock() - self._used < self.idle:
            return 0
        freed = self._size
        self._entries.clear()
        self._size = 0
        return freed

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


#: Distinct pages of a listing asked under one change token before it is read whole: a
#: page read costs ~3 ms, reading and encoding 10,000 rows ~85 ms, so a dashboard polling
#: its page (or a user paging through a few) never pays for the whole listing, and clients
#: paging through many pages pay a few page reads before they share one read.
LISTING_AFTER_PAGES = 5
#: Listings held at once (least recently used dropped), and their bytes at most: a listing
#: of 10,000 torrents is ~7 MB.
LISTING_KEYS = 4
LISTING_BYTES = 32 * 1024 * 1024
#: Longer listings are not read whole (their pages are read one by one).
LISTING_ROWS = 20_000
#: Listing keys whose demand is tracked at once (the filters come from the request).
_TRACKED = 64


class _Held:
    """A listing held: its rows' JSON, their bytes, and when a page was last cut from it."""

    __slots__ = ("rows", "size", "used")

    def __init__(self, rows: list[bytes], size: int, used: float) -> None:
        self.rows = rows
        self.size = size
        self.used = used


class ListingCache:
    """Whole listings, encoded row by row, valid under one change token of ``responses``
    (see the module docstring): a page is then a slice of the rows, joined, with no query,
    encoding or thread hop. A listing is keyed by what selects and orders its rows (filters
    and sort), not by offset and limit.

    A listing is read only when it pays: once its distinct pages asked under the current
    token reach :data:`LISTING_AFTER_PAGES`, or at once when it was in that demand
    under the previous token (clients paging at random through a changing store). Requests
    that arrive while it is read wait for that one read; requests before that read their page
    through ``responses`` (a repeated page is a cached body there).

    A listing no page has been cut from in ``idle`` seconds is dropped by :meth:`sweep`."""

    def __init__(
        self,
        responses: ResponseCache,
        *,
        after_pages: int = LISTING_AFTER_PAGES,
        max_keys: int = LISTING_KEYS,
        max_bytes: int = LISTING_BYTES,
        max_rows: int = LISTING_ROWS,
        idle: float = CACHE_IDLE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.responses = responses
        self.after_pages = after_pages
        self.max_keys = max_keys
        self.max_bytes = max_bytes
        self.max_rows = max_rows
        self.idle = idle
        self._clock = clock
        self._seen: Hashable | None = None
        #: Listings by key, least recently used first.
        self._built: OrderedDict[Hashable, _Held] = OrderedDict()
        self._size = 0
        self._building: dict[Hashable, asyncio.Future[list[bytes] | None]] = {}
        #: Listings too long to hold under this token.
        self._refused: set[Hashable] = set()
        #: Per key, the distinct (limit, offset) pages asked under this token, until they
        #: are ``after_pages``; then the key is in ``_hot``.
        self._asked: OrderedDict[Hashable, set[tuple[int, int]]] = OrderedDict()
        self._hot: set[Hashable] = set()
        self._was_hot: set[Hashable] = set()
        self.builds = 0

    @property
    def held(self) -> tuple[Hashable, ...]:
        """The keys of the listings held, least recently used first."""
        return tuple(self._built)

    async def page(
        self,
        key: Hashable,
        limit: int,
        offset: int,
        read_page: Callable[[], Awaitable[bytes]],
        read_all: Callable[[int], Awaitable[list[bytes] | None]],
        render: Callable[[list[bytes], int, int], bytes],
    ) -> bytes:
        """The page ``limit``/``offset`` of listing ``key``: ``render(rows, limit, offset)``
        of the held listing, else ``read_page()`` through the response cache.
        ``read_all(max_rows)`` reads the listing and encodes each row's JSON (None: more
        than ``max_rows`` rows)."""
        mark = await self.responses.mark()
        if mark is None:
            return await self.responses.get_at(mark, (key, limit, offset), read_page)
        if mark != self._seen:
            self._new_token(mark)
        built = self._built.get(key)
        if built is not None:
            self._built.move_to_end(key)
            built.used = self._clock()
            self._count(key, limit, offset)
            return render(built.rows, limit, offset)
        building = self._building.get(key)
        if building is None and self._count(key, limit, offset) and key not in self._refused:
            building = self._build(key, mark, read_all)
        if building is not None:
            found = await asyncio.shield(building)
            if found is not None:
                return render(found, limit, offset)
        return await self.responses.get_at(mark, (key, limit, offset), read_page)

    def _new_token(self, mark: Hashable) -> None:
        """Something was committed: every listing is stale; the keys in demand under the
        old token are read at once under the new one."""
        self._seen = mark
        self._built.clear()
        self._size = 0
        self._building = {}
        self._refused = set()
        self._was_hot, self._hot = self._hot, set()
        self._asked = OrderedDict()

    def _count(self, key: Hashable, limit: int, offset: int) -> bool:
        """Note a page asked; True when listing ``key`` is worth reading whole."""
        if key in self._hot:
            return True
        pages = self._asked.get(key)
        if pages is None:
            pages = self._asked[key] = set()
            if len(self._asked) > _TRACKED:
                self._asked.popitem(last=False)
        if (limit, offset) not in pages:
            pages.add((limit, offset))
            if len(pages) >= self.after_pages:
                self._hot.add(key)
                del self._asked[key]
                return True
        return key in self._was_hot

    def _build(
        self,
        key: Hashable,
        mark: Hashable,
        read_all: Callable[[int], Awaitable[list[bytes] | None]],
    ) -> asyncio.Future[list[bytes] | None]:
        self.builds += 1
        building = asyncio.ensure_future(read_all(self.max_rows))
        self._building[key] = building
        building.add_done_callback(lambda done: self._made(key, mark, done))
        return building

    def _made(
        self, key: Hashable, mark: Hashable, done: asyncio.Future[list[bytes] | None]
    ) -> None:
        if self._building.get(key) is done:
            del self._building[key]
        if mark != self._seen or done.cancelled() or done.exception() is not None:
            return  # read under a token that is no longer current, or failed: not kept
        rows = done.result()
        size = 0 if rows is None else sum(map(len, rows))
        if rows is None or size > self.max_bytes:
            self._refused.add(key)
            return
        self._built[key] = _Held(rows, size, self._clock())
        self._size += size
        while len(self._built) > self.max_keys or self._size > self.max_bytes:
            _, dropped = self._built.popitem(last=False)
            self._size -= dropped.size

    @property
    def size(self) -> int:
        """Bytes of the listings held."""
        return self._size

    def sweep(self) -> int:
        """Drop the listings no page has been cut from in ``idle`` seconds; the bytes
        dropped. A listing dropped is read again when its pages are in demand again."""
        since = self._clock() - self.idle
        idle = [key for key, held in self._built.items() if held.used <= since]
        freed = 0
        for key in idle:
            freed += self._built.pop(key).size
        self._size -= freed
        return freed
