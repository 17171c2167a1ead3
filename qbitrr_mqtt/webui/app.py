"""The aiohttp application: one route table, its middlewares, injected dependencies.

``create_app(config, store, supervisor_rpc)`` takes everything it talks to as arguments, so
the tests run it against a real SQLite store and a real (or absent) supervisord, and
``main.run_webui`` builds the production ones from the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from ..config import Config
from ..memory import trim
from ..metrics import ApiMetrics
from . import (
    page,
    routes_commands,
    routes_config,
    routes_events,
    routes_history,
    routes_logs,
    routes_metrics,
    routes_status,
)
from .cache import FreshCall, ResponseCache, change_token
from .errors import error_middleware
from .logfiles import log_dir
from .openapi import build_openapi
from .security import (
    CORS_KEY,
    INGRESS_KEY,
    METRICS_PUBLIC_KEY,
    TOKEN_KEY,
    auth_middleware,
    cors_middleware,
    ensure_token,
    ingress_clients,
    ingress_middleware,
    on_prepare,
)
from .spec import Call, Resp, Route, bind
from .state import SHARED, Shared, Tuning, blocking

log = logging.getLogger("qbitrr.webui")

#: Request bodies larger than this are refused with 413 before they are read.
MAX_BODY = 1024 * 1024
#: Threads for store calls, log files and the config file. Each store call holds one pooled
#: connection while it runs (the engine's pool has room for these: 5 + 10 overflow on
#: SQLite, 3 + 5 on PostgreSQL, see ``store/db.py``). Store reads are short and mostly CPU
#: (the GIL), so more threads would not serve more requests; 8 keeps a few log or SSE polls
#: from making the page requests of 50 dashboards queue behind them.
STORE_THREADS = 8
#: Threads for supervisord's XML-RPC, apart from the store's: a restart waits for the
#: program's ``startsecs`` (10 s and more), which must not hold a thread the page reads need.
RPC_THREADS = 4
OPENAPI = web.AppKey("openapi", dict)


async def openapi_json(call: Call) -> web.Response:
    return web.json_response(call.app[OPENAPI])


OPENAPI_ROUTE = Route(
    "GET",
    "/api/openapi.json",
    openapi_json,
    "This document",
    "meta",
    "The OpenAPI 3.1 description of every route, generated from the server's route table.",
    auth=False,
    responses={200: Resp("OpenAPI 3.1 document.", {"type": "object"})},
)


def route_table() -> list[Route]:
    """Every route the app serves, in the order the document lists them."""
    return [
        *routes_status.ROUTES,
        *routes_history.ROUTES,
        *routes_commands.ROUTES,
        *routes_config.ROUTES,
        *routes_logs.ROUTES,
        *routes_events.ROUTES,
        *page.ROUTES,
        *routes_metrics.ROUTES,
        OPENAPI_ROUTE,
    ]


async def release_idle_memory(app: web.Application) -> None:
    """Every ``tuning.sweep_every`` seconds, drop the cached answers and listings nobody
    asked for in ``tuning.cache_idle`` seconds; when that freed something, or a burst of
    requests has just ended, close the store's idle connections (SQLite keeps a page cache
    in each) and give the heap's free memory back to the system.

    Without it a WebUI that once served 50 clients paging through 10,000 torrents kept
    their listing, their pages and the heap they grew (80 -> 105 MB) until it restarted.
    The release costs a few milliseconds, on a store thread."""

    def release() -> None:
        release_connections = getattr(state.store, "release_idle_connections", None)
        if release_connections is not None:
            release_connections()
        trim()

    state = app[SHARED]
    requests = app[routes_metrics.API_METRICS]
    seen, busy = requests.answered, False
    while True:
        await asyncio.sleep(state.tuning.sweep_every)
        freed = state.listings.sweep() + state.responses.sweep()
        answered = requests.answered
        ended = busy and answered == seen
        busy, seen = answered != seen, answered
        if freed or ended:
            try:
                await blocking(app, release)
            except Exception as exc:  # noqa: BLE001 - a failed release must not end the sweep
                log.warning("could not release the WebUI's idle memory: %s", exc)
            else:
                state.trims += 1


def create_app(
    config: Config,
    store: Any,
    supervisor_rpc: Any | None = None,
    *,
    token: str | None = None,
    tuning: Tuning | None = None,
) -> web.Application:
    """The WebUI app. ``token`` defaults to ``webui.token``, else the generated token file."""
    tuning = tuning or Tuning()
    app = web.Application(
        middlewares=[
            routes_metrics.metrics_middleware,
            error_middleware,
            ingress_middleware,
            cors_middleware,
            auth_middleware,
        ],
        client_max_size=MAX_BODY,
    )
    executor = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="webui-io")
    rpc_executor = ThreadPoolExecutor(max_workers=RPC_THREADS, thread_name_prefix="webui-rpc")
    app[SHARED] = Shared(
        config=config,
        store=store,
        rpc=supervisor_rpc,
        token=token or ensure_token(config.webui.token, config.settings.data_dir),
        log_dir=log_dir(config),
        tuning=tuning,
        executor=executor,
        rpc_executor=rpc_executor,
        responses=ResponseCache(change_token(store), idle=tuning.cache_idle),
    )
    app[SHARED].processes = FreshCall(lambda: routes_status.processes_body(app))
    app[TOKEN_KEY] = app[SHARED].token
    app[CORS_KEY] = frozenset(config.webui.cors_origins)
    app[METRICS_PUBLIC_KEY] = config.webui.metrics_public
    app[INGRESS_KEY] = ingress_clients(config.webui.ingress_proxy)
    app[routes_metrics.API_METRICS] = ApiMetrics()
    table = route_table()
    for route in table:
        app.router.add_route(route.method, route.path, bind(route))
    app[OPENAPI] = build_openapi(table)
    app.on_response_prepare.append(on_prepare)

    async def start_sweeper(app: web.Application) -> None:
        app[SHARED].sweeper = asyncio.create_task(release_idle_memory(app), name="webui-sweep")

    async def stop_streams(app: web.Application) -> None:
        app[SHARED].stopping.set()

    async def shutdown(_: web.Application) -> None:
        sweeper = app[SHARED].sweeper
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        app[SHARED].responses.close()
        executor.shutdown(wait=False, cancel_futures=True)
        rpc_executor.shutdown(wait=False, cancel_futures=True)

    app.on_startup.append(start_sweeper)
    app.on_shutdown.append(stop_streams)
    app.on_cleanup.append(shutdown)
    return app
