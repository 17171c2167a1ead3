"""``/api/v1/logs``: the list of program logs, a tail, and a live tail over SSE."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from . import sse
from .errors import ApiError
from .logfiles import Follower, inside, log_file, programs, tail_lines
from .schemas import STR, obj, ref
from .spec import Call, Param, Resp, Route
from .state import blocking, shared

log = logging.getLogger("qbitrr.webui")

PROCESS = Param(
    "process",
    "path",
    {"type": "string", "pattern": "^[a-z0-9-]{1,80}$"},
    "Program name: manager-<instance>, bridge, webui or supervisord (see GET /api/v1/logs).",
    required=True,
)
LINES = Param(
    "lines",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 5000, "default": 200},
    "How many of the last lines to return.",
)
FOLLOW = Param(
    "follow",
    "query",
    {"type": "boolean", "default": False},
    'true: answer with an SSE stream (`event: lines`, data `{"lines": [...]}`) that sends the tail, then every new line.',
)


def _program(call: Call) -> str:
    name = call.path["process"]
    known = programs(shared(call.app).config)
    if name not in known:
        raise ApiError(404, "unknown_process", f"no log for {name!r}; known: {', '.join(known)}")
    return name


def _checked_path(call: Call, name: str) -> Path:
    """The program's log file; 403 when a symlink there leads out of the logs directory."""
    state = shared(call.app)
    path = log_file(state.log_dir, name)
    if not inside(state.log_dir, path):
        log.warning("refused to serve %s: it is a link that leads out of %s", path, state.log_dir)
        raise ApiError(
            403, "forbidden_path", f"{path.name} leads out of the logs directory; not served"
        )
    return path


async def list_logs(call: Call) -> web.Response:
    state = shared(call.app)

    def describe() -> list[dict[str, object]]:
        out = []
        for name in programs(state.config):
            path = log_file(state.log_dir, name)
            try:
                if not inside(state.log_dir, path):
                    raise FileNotFoundError(path)  # not ours to describe
                st = path.stat()
                size, modified = st.st_size, datetime.fromtimestamp(st.st_mtime, UTC).isoformat()
            except FileNotFoundError:
                size, modified = 0, None
            out.append(
                {
                    "process": name,
                    "file": path.name,
                    "exists": modified is not None,
                    "size": size,
                    "modified": modified,
                }
            )
        return out

    return web.json_response({"logs": await blocking(call.app, describe)})


async def read_log(call: Call) -> web.StreamResponse:
    state = shared(call.app)
    name = _program(call)
    path = await blocking(call.app, _checked_path, call, name)
    count = call.query["lines"]
    try:
        lines, end = await blocking(call.app, tail_lines, path, count)
    except FileNotFoundError:
        lines, end = [], 0
    if not call.query["follow"]:
        return web.json_response({"process": name, "file": path.name, "lines": lines})
    response = await sse.open_stream(call.request)
    await sse.send(response, "lines", {"lines": lines})
    follower = Follower(path, end, root=state.log_dir)
    tuning = state.tuning
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    while not sse.client_gone(call.request):
        new = await blocking(call.app, follower.poll)
        if new:
            await sse.send(response, "lines", {"lines": new})
            last_sent = loop.time()
        elif loop.time() - last_sent >= tuning.heartbeat:
            await sse.heartbeat(response)
            last_sent = loop.time()
        await asyncio.sleep(tuning.poll_interval)
    return response


LOG_LINES = obj({"process": STR, "file": STR, "lines": {"type": "array", "items": STR}})

ROUTES = (
    Route(
        "GET",
        "/api/v1/logs",
        list_logs,
        "List the program logs",
        "logs",
        "One entry per program (managers, bridge, webui, supervisord) whether or not its file exists yet.",
        responses={
            200: Resp("The log files.", obj({"logs": {"type": "array", "items": ref("LogFile")}}))
        },
    ),
    Route(
        "GET",
        "/api/v1/logs/{process}",
        read_log,
        "Tail a program's log",
        "logs",
        "The last `lines` lines as JSON, or with `follow=true` a live SSE stream.",
        params=(PROCESS, LINES, FOLLOW),
        responses={
            200: Resp(
                "The last lines (JSON), or with follow=true an event stream.",
                LOG_LINES,
                event_stream=True,
            ),
            403: Resp("The log file is a link leading out of the logs directory.", ref("Error")),
            404: Resp("No such program.", ref("Error")),
        },
        streaming=True,
    ),
)
