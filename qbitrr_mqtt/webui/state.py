"""What the handlers share: the config, the store, the supervisord client and a few knobs.

Everything reaches the handlers through typed ``AppKey`` entries set by ``create_app``, so a
test builds an app with a real SQLite store and with or without a real supervisord.
Store and XML-RPC calls are blocking; :func:`blocking` runs store (and file) calls on a
small thread pool so the event loop (SSE streams, other requests) never waits on the
database, and :func:`blocking_rpc` runs supervisord calls on a pool of their own, so a
restart that waits for a program's ``startsecs`` never holds a thread a page read needs.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ..config import Config
from .cache import CACHE_IDLE, SWEEP_EVERY, FreshCall, ListingCache, ResponseCache


@dataclass(slots=True)
class Tuning:
    """Timings a test may shorten; the defaults suit a real deployment."""

    #: How long a command route waits for the manager's outcome before answering 202.
    command_wait: float = 5.0
    #: How often SSE streams look for new rows / log lines.
    poll_interval: float = 1.0
    #: Seconds between SSE heartbeat comments (keeps proxies from closing idle streams).
    heartbeat: float = 15.0
    #: Cached answers and listings nobody asked for in this many seconds are dropped.
    cache_idle: float = CACHE_IDLE
    #: How often the WebUI looks for them (and gives freed memory back to the system).
    sweep_every: float = SWEEP_EVERY


@dataclass(slots=True)
class Shared:
    config: Config
    store: Any
    rpc: Any | None
    token: str
    log_dir: Path
    tuning: Tuning
    executor: ThreadPoolExecutor
    #: supervisord XML-RPC calls; None: they share ``executor``.
    rpc_executor: ThreadPoolExecutor | None = None
    config_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Set when the app shuts down, so SSE streams end instead of holding the exit up.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    #: Outcomes of supervisord commands (they never enter the store inbox), newest last.
    outcomes: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    #: Encoded GET answers valid while the store is unchanged (``cache.py``).
    responses: ResponseCache = field(default_factory=lambda: ResponseCache(None))
    #: Whole torrent listings, encoded, valid while the store is unchanged (``cache.py``).
    listings: ListingCache = field(init=False)
    #: The ``/api/v1/processes`` body, one build shared by the requests waiting for it.
    processes: FreshCall[bytes] | None = None
    #: The idle sweep (``app.release_idle_memory``) while the app runs.
    sweeper: asyncio.Task[None] | None = None
    #: Times the idle sweep gave the heap's free memory back to the system.
    trims: int = 0

    def __post_init__(self) -> None:
        self.listings = ListingCache(self.responses, idle=self.tuning.cache_idle)

    def remember(self, command: dict[str, Any], keep: int = 500) -> None:
        self.outcomes[command["id"]] = command
        while len(self.outcomes) > keep:
            self.outcomes.popitem(last=False)


SHARED = web.AppKey("shared", Shared)


def shared(app: web.Application) -> Shared:
    return app[SHARED]


async def blocking[T](app: web.Application, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store or XML-RPC call off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(app[SHARED].executor, functools.partial(fn, *args, **kwargs))


async def blocking_rpc[T](
    app: web.Application, fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T:
    """Run a blocking supervisord call off the event loop, on the XML-RPC threads."""
    state = app[SHARED]
    loop = asyncio.get_running_loop()
    executor = state.rpc_executor or state.executor
    return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
