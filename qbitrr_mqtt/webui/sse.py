"""Server-sent events: the stream headers, one event, a heartbeat comment.

Streams send a comment at least every ``Tuning.heartbeat`` seconds so that proxies (and Home
Assistant ingress) keep idle connections open and a dead client is noticed by the write.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx-style proxies: do not buffer the stream
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 3000\n\n")
    return response


async def send(
    response: web.StreamResponse, event: str, data: Any, event_id: str | None = None
) -> None:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    payload = json.dumps(data, separators=(",", ":"), default=str)
    lines.append(f"data: {payload}")  # json.dumps never emits a raw newline
    await response.write(("\n".join(lines) + "\n\n").encode("utf-8"))


async def heartbeat(response: web.StreamResponse) -> None:
    await response.write(b": ping\n\n")


def client_gone(request: web.Request) -> bool:
    """The client left, or the app is shutting down: either way the stream should end."""
    from .state import shared

    transport = request.transport
    return transport is None or transport.is_closing() or shared(request.app).stopping.is_set()
