"""Health, processes and instances: what runs and how each Arr instance is doing."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from .. import __version__
from .errors import ApiError
from .schemas import INSTANCE_NAME, obj, ref
from .serialize import INSTANCE_STATE_FIELDS, row, value_of
from .spec import Call, Param, Resp, Route
from .state import blocking, shared
from .supervision import SupervisorUnavailable, merge, supervisor_status

log = logging.getLogger("qbitrr.webui")
HEALTH_TIMEOUT = 10.0


async def _check_store(app: web.Application) -> tuple[str | None, int | None]:
    """(error, database size in bytes): the store answers a read, and how big it is."""
    from ..store.retention import db_size

    store = shared(app).store
    if store is None:
        return "no store configured", None
    try:
        await asyncio.wait_for(blocking(app, store.list_instance_states), HEALTH_TIMEOUT)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300], None
    try:
        size: int | None = await asyncio.wait_for(blocking(app, db_size, store), HEALTH_TIMEOUT)
    except Exception:  # noqa: BLE001 - the size is informative; the store itself answered
        size = None
    return None, size


async def _check_supervisor(app: web.Application) -> tuple[bool | None, str | None]:
    if shared(app).rpc is None:
        return None, "not configured (the WebUI runs without supervisord)"
    try:
        await asyncio.wait_for(supervisor_status(app), HEALTH_TIMEOUT)
    except (SupervisorUnavailable, TimeoutError) as exc:
        return False, str(exc) or "timed out"
    return True, None


async def health(call: Call) -> web.Response:
    ((store_error, size), (sv_ok, sv_error)) = await asyncio.gather(
        _check_store(call.app), _check_supervisor(call.app)
    )
    problems = []
    if store_error:
        problems.append(f"store unusable: {store_error}")
    if sv_ok is False:
        problems.append(f"supervisord unreachable: {sv_error}")
    body = {
        "status": "degraded" if problems else "ok",
        "version": __version__,
        "problems": problems,
        "store": {"ok": store_error is None, "error": store_error, "db_size": size},
        "supervisor": {"ok": sv_ok, "error": sv_error},
    }
    return web.json_response(body, status=503 if problems else 200)


async def _live(app: web.Application) -> list[Any] | None:
    try:
        return await supervisor_status(app)
    except SupervisorUnavailable as exc:
        log.debug("processes from the store only: %s", exc)
        return None


async def processes_body(app: web.Application) -> bytes:
    """The encoded process list: supervisord's programs and the store's health rows, asked
    at the same time (on their own thread pools)."""
    live, health_rows = await asyncio.gather(
        _live(app), blocking(app, shared(app).store.list_process_health)
    )
    return json.dumps({"processes": merge(live, list(health_rows))}).encode()


async def processes(call: Call) -> web.Response:
    """One build of the body serves every request that arrived before it started
    (``cache.FreshCall``): 50 dashboards cost one supervisord round trip, not 50."""
    build = shared(call.app).processes
    body = await (build() if build is not None else processes_body(call.app))
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def instance_row(inst: Any, st: Any) -> dict[str, Any]:
    base = {
        "name": inst.name,
        "type": inst.type,
        "category": inst.category,
        "client": inst.client,
        "enabled": inst.enabled,
        "program": inst.program,
    }
    values = (
        row(st, INSTANCE_STATE_FIELDS) if st is not None else dict.fromkeys(INSTANCE_STATE_FIELDS)
    )
    counts = values.get("counts")
    values["counts"] = (
        {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {}
    )
    return {**base, **values}


async def instances(call: Call) -> web.Response:
    state = shared(call.app)
    states = {
        value_of(s, "instance"): s
        for s in await blocking(call.app, state.store.list_instance_states)
    }
    rows = [instance_row(inst, states.get(name)) for name, inst in state.config.arr.items()]
    return web.json_response({"instances": rows})


def known_instance(call: Call, name: str | None) -> str | None:
    """``name`` when it is a configured instance (or None); ApiError 404 naming the known ones."""
    if name is None:
        return None
    arr = shared(call.app).config.arr
    if name not in arr:
        known = ", ".join(sorted(arr)) or "none configured"
        raise ApiError(404, "unknown_instance", f"unknown instance {name!r} (known: {known})")
    return name


INSTANCE_PATH = Param("name", "path", INSTANCE_NAME, "Arr instance name.", required=True)

ROUTES = (
    Route(
        "GET",
        "/api/health",
        health,
        "Health",
        "health",
        "`ok` (200) when the store answers and supervisord is reachable (or not configured); `degraded` (503) "
        "otherwise, with `problems` saying which.",
        auth=False,
        responses={
            200: Resp("Healthy.", ref("Health")),
            503: Resp("Degraded: see `problems`.", ref("Health")),
        },
    ),
    Route(
        "GET",
        "/api/v1/processes",
        processes,
        "List the processes",
        "processes",
        "supervisord's programs merged with the restart history the bridge keeps. Without supervisord, the last known state from the store (`source: store`).",
        responses={
            200: Resp(
                "The processes.", obj({"processes": {"type": "array", "items": ref("Process")}})
            )
        },
    ),
    Route(
        "GET",
        "/api/v1/instances",
        instances,
        "List the Arr instances",
        "instances",
        "Every configured instance with its connection state and torrent counts by state (from its manager's last cycle).",
        responses={
            200: Resp(
                "The instances.", obj({"instances": {"type": "array", "items": ref("Instance")}})
            )
        },
    ),
)
