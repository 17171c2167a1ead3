"""Test controls under ``/_emulator`` (no API key; loopback test use only).

Every route takes and returns JSON; bad input gets 400 ``{"error": "..."}``. See
``services/arr_emulator/README.md`` for the list.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from typing import Any

from aiohttp import web

from .api import EMU_KEY
from .emulator import ArrEmulator
from .http_util import json_response
from .queue import render_record
from .seeds import add_library, add_queue_from_spec

PREFIX = "/_emulator"


def _emu(request: web.Request) -> ArrEmulator:
    return request.app[EMU_KEY]


async def _body(request: web.Request) -> dict[str, Any]:
    if not await request.read():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Bad control input is a 400 with the reason, never a traceback."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except (ValueError, TypeError, KeyError) as exc:
        return json_response({"error": str(exc)}, status=400)


async def get_state(request: web.Request) -> web.Response:
    return json_response(await _emu(request).state())


async def reset(request: web.Request) -> web.Response:
    body = await _body(request)
    await _emu(request).reset(body.get("seed"))
    return json_response({"ok": True})


async def add_library_items(request: web.Request) -> web.Response:
    return json_response(add_library(_emu(request), await _body(request)))


async def generate_items(request: web.Request) -> web.Response:
    body = await _body(request)
    count = body.get("count")
    if not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    ids = _emu(request).generate_items(
        count,
        prefix=str(body.get("prefix", "Item")),
        monitored=bool(body.get("monitored", True)),
        has_file=bool(body.get("hasFile", False)),
        cutoff_unmet=bool(body.get("cutoffUnmet", False)),
    )
    return json_response({"ids": ids})


async def add_queue(request: web.Request) -> web.Response:
    """One download from the body; with ``count`` N downloads with generated hashes."""
    emu = _emu(request)
    body = await _body(request)
    count = body.pop("count", None)
    if count is None:
        records = add_queue_from_spec(emu, body)
    else:
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        prefix = str(body.pop("title", "Generated download"))
        records = []
        for n in range(count):
            digest = hashlib.sha1(f"{prefix}-{len(emu.records)}-{n}".encode()).hexdigest()
            records += add_queue_from_spec(
                emu, {**body, "downloadId": digest, "title": f"{prefix} {n + 1}"}
            )
    rendered = [render_record(emu.flavor, emu.library, r, include=set()) for r in records]
    return json_response({"records": rendered})


async def delete_queue_record(request: web.Request) -> web.Response:
    found = _emu(request).remove_queue_record(int(request.match_info["id"]))
    return json_response({"removed": found}, status=200 if found else 404)


async def clear_queue(request: web.Request) -> web.Response:
    _emu(request).clear_queue()
    return json_response({"ok": True})


async def link(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body.get("hash"), str) or not isinstance(body.get("mediaIds"), list):
        raise ValueError("hash (string) and mediaIds (list of ids) are required")
    _emu(request).link(body["hash"], [int(i) for i in body["mediaIds"]], body.get("title"))
    return json_response({"ok": True})


async def set_download(request: web.Request) -> web.Response:
    body = await _body(request)
    names = {
        "status": "status",
        "trackedDownloadStatus": "tracked_status",
        "trackedDownloadState": "tracked_state",
        "statusMessages": "status_messages",
        "errorMessage": "error_message",
    }
    unknown = set(body) - set(names)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    _emu(request).set_download(request.match_info["hash"], **{names[k]: v for k, v in body.items()})
    return json_response({"ok": True})


async def set_qbittorrent(request: web.Request) -> web.Response:
    body = await _body(request)
    url = body.get("url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise ValueError("url must be an http(s) URL or null")
    await _emu(request).set_qbittorrent(
        url,
        body.get("category"),
        username=body.get("username"),
        password=body.get("password"),
        post_import_category=body.get("postImportCategory"),
    )
    return json_response({"ok": True})


async def add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    fault = _emu(request).add_fault(
        str(body.get("path", "*")),
        status=body.get("status", 500),
        count=int(body.get("count", 1)),
        delay=float(body.get("delay", 0.0)),
        method=body.get("method"),
    )
    return json_response(asdict(fault))


async def list_faults(request: web.Request) -> web.Response:
    return json_response([asdict(f) for f in _emu(request).faults.items])


async def clear_faults(request: web.Request) -> web.Response:
    _emu(request).clear_faults()
    return json_response({"ok": True})


async def list_calls(request: web.Request) -> web.Response:
    calls = _emu(request).find_calls(request.query.get("path"), request.query.get("method"))
    return json_response({"count": len(calls), "calls": calls})


async def clear_calls(request: web.Request) -> web.Response:
    _emu(request).calls.clear()
    return json_response({"ok": True})


async def fail_commands(request: web.Request) -> web.Response:
    body = await _body(request)
    _emu(request).fail_commands(
        body.get("name"), int(body.get("count", 1)), str(body.get("message", "Injected failure"))
    )
    return json_response({"ok": True})


async def finish_commands(request: web.Request) -> web.Response:
    emu = _emu(request)
    emu.finish_commands()
    return json_response(emu.render_commands())


async def settings(request: web.Request) -> web.Response:
    body = await _body(request)
    emu = _emu(request)
    if "commandStep" in body:
        step = float(body["commandStep"])
        if step < 0:
            raise ValueError("commandStep must be >= 0")
        emu.command_step = step
    return json_response({"commandStep": emu.command_step})


def add_control_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{PREFIX}/state", get_state)
    r.add_post(f"{PREFIX}/reset", reset)
    r.add_post(f"{PREFIX}/library", add_library_items)
    r.add_post(f"{PREFIX}/library/generate", generate_items)
    r.add_post(f"{PREFIX}/queue", add_queue)
    r.add_delete(f"{PREFIX}/queue", clear_queue)
    r.add_delete(f"{PREFIX}/queue/{{id:\\d+}}", delete_queue_record)
    r.add_post(f"{PREFIX}/links", link)
    r.add_patch(f"{PREFIX}/downloads/{{hash}}", set_download)
    r.add_put(f"{PREFIX}/qbittorrent", set_qbittorrent)
    r.add_post(f"{PREFIX}/faults", add_fault)
    r.add_get(f"{PREFIX}/faults", list_faults)
    r.add_delete(f"{PREFIX}/faults", clear_faults)
    r.add_get(f"{PREFIX}/calls", list_calls)
    r.add_delete(f"{PREFIX}/calls", clear_calls)
    r.add_post(f"{PREFIX}/commands/fail", fail_commands)
    r.add_post(f"{PREFIX}/commands/finish", finish_commands)
    r.add_put(f"{PREFIX}/settings", settings)
