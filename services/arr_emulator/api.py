"""The Arr API routes of the emulator (Radarr v3, Sonarr v3, Lidarr v1).

Every route here exists in the real OpenAPI document of its kind (a contract test checks
that); the middleware records each call, applies injected faults and checks the API key
(``X-Api-Key`` header, ``apikey`` query or ``Authorization: Bearer``; ``/ping`` is open).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from .commands import render_command, validate_command_body
from .emulator import HISTORY_EVENTS, ArrEmulator
from .http_util import (
    BadRequest,
    bad_request,
    json_response,
    not_found_problem,
    paged,
    problem,
    qbool,
    qint,
    qints,
    qstr,
    server_error,
)
from .library import iso, now, render_item, render_parent, sort_items
from .qbit import QbitError
from .queue import QueueRecord, render_record

EMU_KEY = web.AppKey("arr_emulator", ArrEmulator)
STARTED_KEY = web.AppKey("arr_emulator_started", datetime)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def emulator(request: web.Request) -> ArrEmulator:
    return request.app[EMU_KEY]


def authorized(request: web.Request, api_key: str) -> bool:
    auth = request.headers.get("Authorization", "")
    offered = {
        request.headers.get("X-Api-Key"),
        next((v for k, v in request.query.items() if k.lower() == "apikey"), None),
        auth[7:] if auth.lower().startswith("bearer ") else None,
    }
    return api_key in offered


@web.middleware
async def arr_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the call, apply faults, check the key, map errors to the real shapes."""
    emu = emulator(request)
    if request.path.startswith("/_emulator"):
        return await handler(request)
    emu.advance()
    body = await request.read()
    root = emu.flavor.api_root + "/"
    endpoint = (
        request.path[len(root) :] if request.path.startswith(root) else request.path.lstrip("/")
    )
    call: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "endpoint": endpoint,
        "query": {
            k: request.query.getall(k) if len(request.query.getall(k)) > 1 else v
            for k, v in request.query.items()
        },
        "json": _json_or_text(body),
        "authorized": authorized(request, emu.api_key),
        "at": time.time(),
    }
    emu.calls.record(call)
    response = await _respond(request, handler, emu, endpoint, call["authorized"])
    call["status"] = response.status
    return response


async def _respond(
    request: web.Request, handler: Handler, emu: ArrEmulator, endpoint: str, ok_key: bool
) -> web.StreamResponse:
    fault = emu.faults.take(request.method, endpoint, request.path)
    if fault is not None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status is not None:
            return _fault_response(fault.status)
    if not ok_key and request.path not in {"/ping"}:
        return web.Response(status=401)
    try:
        return await handler(request)
    except BadRequest as exc:
        return bad_request(exc)
    except web.HTTPNotFound:
        return web.Response(status=404)
    except web.HTTPMethodNotAllowed as exc:
        return web.Response(status=405, headers={"Allow": ", ".join(sorted(exc.allowed_methods))})
    except web.HTTPException as exc:
        return web.Response(status=exc.status, text=exc.text or "")
    except QbitError as exc:
        return server_error(str(exc), f"DownloadClientException: {exc}")
    except Exception as exc:  # the real servers answer any failure with 500 {message, description}
        return server_error(str(exc) or type(exc).__name__, repr(exc))


def _fault_response(status: int) -> web.Response:
    if status == 401:
        return web.Response(status=401)
    if status >= 500:
        response = server_error("Injected fault", f"The Arr emulator was told to answer {status}")
        response.set_status(status)
        return response
    return problem(status, "Injected fault")


def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    import json

    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


# --- handlers ------------------------------------------------------------------------------


async def ping(request: web.Request) -> web.Response:
    return json_response({"status": "OK"})


async def system_status(request: web.Request) -> web.Response:
    emu = emulator(request)
    started = request.app.get(STARTED_KEY) or now()
    return json_response(
        {
            "appName": emu.flavor.app_name,
            "instanceName": emu.flavor.app_name,
            "version": emu.flavor.version,
            "buildTime": "2025-10-01T00:00:00Z",
            "isDebug": False,
            "isProduction": True,
            "isAdmin": False,
            "isUserInteractive": False,
            "startupPath": f"/app/{emu.kind}/bin",
            "appData": "/config",
            "osName": "debian",
            "osVersion": "12",
            "isNetCore": True,
            "isLinux": True,
            "isOsx": False,
            "isWindows": False,
            "isDocker": False,
            "mode": "console",
            "branch": "main",
            "databaseType": "sqLite",
            "databaseVersion": "3.46.1",
            "authentication": "forms",
            "migrationVersion": 241,
            "urlBase": "",
            "runtimeVersion": "8.0.12",
            "runtimeName": ".NET",
            "startTime": iso(started),
            "packageUpdateMechanism": "builtIn",
        }
    )


_QUEUE_INCLUDES = {
    "radarr": ("includeMovie",),
    "sonarr": ("includeSeries", "includeEpisode"),
    "lidarr": ("includeArtist", "includeAlbum"),
}


async def get_queue(request: web.Request) -> web.Response:
    emu = emulator(request)
    include_unknown = qbool(request, emu.flavor.include_unknown, False)
    include = {name for name in _QUEUE_INCLUDES[emu.kind] if qbool(request, name, False)}
    paging_on = (qint(request, "page", 1, minimum=1) or 1) > 1
    records = await emu.queue_records(next_page=paging_on)
    if not include_unknown:
        records = [r for r in records if r.item_id is not None and emu.library.item(r.item_id)]
    records = _sort_queue(
        records, qstr(request, "sortKey"), qstr(request, "sortDirection") == "descending"
    )
    envelope, page = paged(request, records, default_sort="timeleft")
    envelope["records"] = [render_record(emu.flavor, emu.library, r, include=include) for r in page]
    return json_response(envelope)


def _sort_queue(records: list[QueueRecord], key: str | None, descending: bool) -> list[QueueRecord]:
    field = (key or "").rsplit(".", 1)[-1].lower()
    if field == "title":
        ordered = sorted(records, key=lambda r: (r.title.lower(), r.id))
    elif field == "added":
        ordered = sorted(records, key=lambda r: (r.added, r.id))
    elif field in {"progress", "sizeleft"}:
        ordered = sorted(records, key=lambda r: (r.sizeleft, r.id))
    else:
        ordered = sorted(records, key=lambda r: r.id)
    return list(reversed(ordered)) if descending else ordered


def _delete_flags(request: web.Request) -> dict[str, bool]:
    return {
        "remove_from_client": qbool(request, "removeFromClient", True),
        "blocklist": qbool(request, "blocklist", False),
        "skip_redownload": qbool(request, "skipRedownload", False),
        "change_category": qbool(request, "changeCategory", False),
    }


async def delete_queue(request: web.Request) -> web.Response:
    emu = emulator(request)
    queue_id = int(request.match_info["id"])
    flags = _delete_flags(request)
    record = next((r for r in await emu.queue_records(known=True) if r.id == queue_id), None)
    if record is None:
        return json_response({"message": "NotFound"}, status=404)
    await emu.remove_download(record, **flags)
    return web.Response(status=200)


async def delete_queue_bulk(request: web.Request) -> web.Response:
    emu = emulator(request)
    flags = _delete_flags(request)
    body = await _json_body(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise BadRequest("ids", "ids must be a list of integers")
    by_id = {r.id: r for r in await emu.queue_records(known=True)}
    done: set[str] = set()
    for queue_id in ids:
        record = by_id.get(queue_id)
        if record is not None and record.download_id not in done:
            done.add(record.download_id)
            await emu.remove_download(record, **flags)
    return web.Response(status=200)


async def _json_body(request: web.Request) -> Any:
    if not await request.read():
        raise BadRequest("body", "A non-empty request body is required.")
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("body", "The request body is not valid JSON.") from None


async def post_command(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await _json_body(request)
    try:
        name, extra = validate_command_body(body, emu.flavor.known_commands())
    except ValueError as exc:
        raise BadRequest("name" if "name" in str(exc) else "body", str(exc)) from None
    command = emu.start_command(name, extra)
    response = json_response(render_command(command, emu.kind), status=201)
    response.headers["Location"] = f"{emu.flavor.api_root}/command/{command.id}"
    return response


async def get_commands(request: web.Request) -> web.Response:
    return json_response(emulator(request).render_commands())


async def get_command(request: web.Request) -> web.Response:
    emu = emulator(request)
    command = emu.commands.get(int(request.match_info["id"]))
    if command is None:
        return not_found_problem()
    return json_response(render_command(command, emu.kind))


async def wanted_missing(request: web.Request) -> web.Response:
    return _wanted(request, cutoff=False)


async def wanted_cutoff(request: web.Request) -> web.Response:
    return _wanted(request, cutoff=True)


def _wanted(request: web.Request, *, cutoff: bool) -> web.Response:
    emu = emulator(request)
    monitored = qbool(request, "monitored", True)
    with_parent = qbool(
        request, "includeSeries" if emu.kind == "sonarr" else "includeArtist", False
    )
    items = emu.library.cutoff_unmet(monitored) if cutoff else emu.library.missing(monitored)
    items = sort_items(
        items, qstr(request, "sortKey"), qstr(request, "sortDirection") == "descending"
    )
    envelope, page = paged(request, items, default_sort=emu.flavor.wanted_sort)
    envelope["records"] = [render_item(emu.library, i, with_parent=with_parent) for i in page]
    return json_response(envelope)


async def list_items(request: web.Request) -> web.Response:
    """GET movie / episode / album, with the filters the real routes take."""
    emu = emulator(request)
    items = sorted(emu.library.items.values(), key=lambda i: i.id)
    ids = qints(request, emu.flavor.items_key)
    parent_id = qint(request, emu.flavor.parent_key, None) if emu.flavor.parent_key else None
    if emu.kind == "sonarr" and parent_id is None and not ids:
        raise BadRequest("seriesId", "seriesId or episodeIds must be provided")
    if ids:
        items = [i for i in items if i.id in ids]
    if parent_id is not None:
        items = [i for i in items if i.parent_id == parent_id]
    if emu.kind == "sonarr" and (season := qint(request, "seasonNumber", None)) is not None:
        items = [i for i in items if i.season == season]
    with_parent = emu.kind == "lidarr" or qbool(request, "includeSeries", False)
    return json_response([render_item(emu.library, i, with_parent=with_parent) for i in items])


async def get_item(request: web.Request) -> web.Response:
    emu = emulator(request)
    item = emu.library.item(int(request.match_info["id"]))
    if item is None:
        return not_found_problem()
    return json_response(render_item(emu.library, item, with_parent=emu.kind == "lidarr"))


async def list_parents(request: web.Request) -> web.Response:
    emu = emulator(request)
    parents = sorted(emu.library.parents.values(), key=lambda p: p.id)
    return json_response([render_parent(emu.library, p) for p in parents])


async def get_parent(request: web.Request) -> web.Response:
    emu = emulator(request)
    parent = emu.library.parents.get(int(request.match_info["id"]))
    if parent is None:
        return not_found_problem()
    return json_response(render_parent(emu.library, parent))


async def get_blocklist(request: web.Request) -> web.Response:
    emu = emulator(request)
    entries = sorted(
        emu.blocklist, key=lambda e: e["id"], reverse=qstr(request, "sortDirection") != "ascending"
    )
    envelope, page = paged(request, entries, default_sort="date")
    envelope["records"] = page
    return json_response(envelope)


async def get_history(request: web.Request) -> web.Response:
    emu = emulator(request)
    entries = list(emu.history)
    events = HISTORY_EVENTS[emu.kind]
    wanted_events = {events[i] for i in qints(request, "eventType") if 0 <= i < len(events)}
    if wanted_events:
        entries = [e for e in entries if e["eventType"] in wanted_events]
    if download_id := qstr(request, "downloadId"):
        entries = [e for e in entries if e["downloadId"].upper() == download_id.upper()]
    key, value = _history_filter(request, emu)
    if value:
        entries = [e for e in entries if e.get(key) in value]
    entries.sort(key=lambda e: e["id"], reverse=qstr(request, "sortDirection") != "ascending")
    envelope, page = paged(request, entries, default_sort="date")
    envelope["records"] = page
    return json_response(envelope)


def _history_filter(request: web.Request, emu: ArrEmulator) -> tuple[str, set[int]]:
    if emu.kind == "radarr":
        return "movieId", set(qints(request, "movieIds"))
    if emu.kind == "sonarr":
        return "seriesId", set(qints(request, "seriesIds"))
    return "artistId", set(qints(request, "artistIds"))


def add_api_routes(app: web.Application, emu: ArrEmulator) -> None:
    """The routes of ``emu``'s kind, under its API root."""
    root = emu.flavor.api_root
    r = app.router
    r.add_get("/ping", ping)
    r.add_get(f"{root}/system/status", system_status)
    r.add_get(f"{root}/queue", get_queue)
    r.add_delete(f"{root}/queue/bulk", delete_queue_bulk)
    r.add_delete(f"{root}/queue/{{id:\\d+}}", delete_queue)
    r.add_post(f"{root}/command", post_command)
    r.add_get(f"{root}/command", get_commands)
    r.add_get(f"{root}/command/{{id:\\d+}}", get_command)
    r.add_get(f"{root}/wanted/missing", wanted_missing)
    r.add_get(f"{root}/wanted/cutoff", wanted_cutoff)
    r.add_get(f"{root}/blocklist", get_blocklist)
    r.add_get(f"{root}/history", get_history)
    r.add_get(f"{root}/{emu.flavor.item}", list_items)
    r.add_get(f"{root}/{emu.flavor.item}/{{id:\\d+}}", get_item)
    if emu.flavor.parent:
        r.add_get(f"{root}/{emu.flavor.parent}", list_parents)
        r.add_get(f"{root}/{emu.flavor.parent}/{{id:\\d+}}", get_parent)
