"""``GET /api/v1/events``: a live SSE stream of new actions and process changes.

The store is the source (managers and the bridge write there, the WebUI never talks to them),
so the stream polls it about once a second with an id cursor per table and sends each new
row once: ``event: action`` (an Action) and ``event: process`` (a ProcessEvent). An action
first seen as an ``intent`` is sent again when it finishes (same id, new status), so a
timeline can update the row in place. Each event's
``id`` is ``<action id>:<process event id>``; a client reconnecting with ``Last-Event-ID``
resumes after it, a new client starts with what happens from now on.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from . import sse
from .serialize import ACTION_FIELDS, PROCESS_EVENT_FIELDS, rows
from .spec import Call, Resp, Route
from .state import blocking, shared

_CURSOR = re.compile(r"^(\d{1,18}):(\d{1,18})$")
BATCH = 200
#: How many unfinished actions one stream follows, and for how long.
WATCH_MAX = 100
WATCH_SECONDS = 600.0


def _cursor(request: web.Request) -> tuple[int, int] | None:
    match = _CURSOR.match(request.headers.get("Last-Event-ID", "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _poll(
    store: Any, action_id: int, process_id: int, watched: list[int]
) -> tuple[list[Any], list[Any], list[Any]]:
    """New actions, new process events, and the watched intents whose row changed since."""
    actions = list(store.actions_after(action_id, BATCH))
    processes = list(store.process_events_after(process_id, BATCH))
    updated = [
        found
        for i in watched
        if (found := store.get_action(i)) is not None and found.status != "intent"
    ]
    return actions, processes, updated


async def events(call: Call) -> web.StreamResponse:
    state = shared(call.app)
    store = state.store
    cursor = _cursor(call.request)
    if cursor is None:
        latest: tuple[int, int] = await blocking(
            call.app, lambda: (store.last_action_id(), store.last_process_event_id())
        )
        cursor = latest
    action_id, process_id = cursor
    response = await sse.open_stream(call.request)
    await sse.send(
        response, "hello", {"cursor": f"{action_id}:{process_id}"}, f"{action_id}:{process_id}"
    )
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    # Actions sent while still an intent: sent again once they finish (same id, new status).
    watched: dict[int, float] = {}
    while not sse.client_gone(call.request):
        now = loop.time()
        watched = {i: t for i, t in watched.items() if now - t < WATCH_SECONDS}
        actions, processes, updated = await blocking(
            call.app, _poll, store, action_id, process_id, list(watched)
        )
        for item in rows(actions, ACTION_FIELDS):
            action_id = max(action_id, item["id"])
            if item["status"] == "intent" and len(watched) < WATCH_MAX:
                watched[item["id"]] = now
            await sse.send(response, "action", item, f"{action_id}:{process_id}")
        for item in rows(updated, ACTION_FIELDS):
            watched.pop(item["id"], None)
            await sse.send(response, "action", item, f"{action_id}:{process_id}")
        for item in rows(processes, PROCESS_EVENT_FIELDS):
            process_id = max(process_id, item["id"])
            await sse.send(response, "process", item, f"{action_id}:{process_id}")
        if actions or processes or updated:
            last_sent = loop.time()
        elif loop.time() - last_sent >= state.tuning.heartbeat:
            await sse.heartbeat(response)
            last_sent = loop.time()
        if len(actions) < BATCH and len(processes) < BATCH:
            await asyncio.sleep(state.tuning.poll_interval)
    return response


ROUTES = (
    Route(
        "GET",
        "/api/v1/events",
        events,
        "Live events (SSE)",
        "events",
        "`text/event-stream`: `event: hello` (the starting cursor), then `event: action` (an Action) and "
        "`event: process` (a ProcessEvent) as they are recorded, and a `: ping` comment when idle. "
        "Send `Last-Event-ID` to resume after an event.",
        responses={200: Resp("The stream.", {"type": "string"}, "text/event-stream")},
        streaming=True,
    ),
)
