"""The WebUI's view of supervisord: the program list merged with the store's process health.

supervisord knows what runs now (state, pid, start time); the store keeps what the bridge
learned over time (restart counts, last exit, restart limit given up). The API shows both in
one row per program; when supervisord cannot be reached the store's rows still answer,
marked ``"source": "store"``.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ..supervisor.rpc import SupervisorError, SupervisorUnreachable
from .errors import ApiError
from .serialize import iso, value_of
from .state import blocking_rpc, shared

#: How a refused supervisord call is answered: (status, error code).
_REFUSALS = {
    "unknown_program": (404, "unknown_program"),
    "not_running": (409, "not_running"),
    "already_started": (409, "already_started"),
    "shutting_down": (503, "supervisor_unavailable"),
    "unreachable": (503, "supervisor_unavailable"),
}


class SupervisorUnavailable(Exception):
    """supervisord is not configured for this app or did not answer."""


def category(name: str) -> str:
    if name.startswith("manager-"):
        return "manager"
    return name if name in ("bridge", "webui", "events") else "other"


def _get(info: Any, *names: str) -> Any:
    for name in names:
        try:
            value = value_of(info, name)
        except AttributeError:
            continue
        if value is not None:
            return value
    return None


async def supervisor_status(app: web.Application) -> list[Any]:
    rpc = shared(app).rpc
    if rpc is None:
        raise SupervisorUnavailable("supervisord is not configured for this WebUI")
    try:
        return list(await blocking_rpc(app, rpc.status))
    except SupervisorError as exc:
        raise SupervisorUnavailable(str(exc)) from exc


async def supervisor_call(app: web.Application, method: str, program: str) -> Any:
    """restart / start / stop one program. Errors become answers: 503 when supervisord is
    unreachable, 404 for an unknown program, 409 for "already started" / "not running", 502
    when it could not spawn the program."""
    rpc = shared(app).rpc
    if rpc is None:
        raise ApiError(
            503, "supervisor_unavailable", "supervisord is not configured for this WebUI"
        )
    try:
        return await blocking_rpc(app, getattr(_patient(app, rpc, program), method), program)
    except SupervisorUnreachable as exc:
        raise ApiError(503, "supervisor_unavailable", str(exc)) from exc
    except SupervisorError as exc:
        status, code = _REFUSALS.get(exc.kind, (502, "supervisor_error"))
        raise ApiError(status, code, str(exc)) from exc


def _patient(app: web.Application, rpc: Any, program: str) -> Any:
    """A client that waits as long as supervisord may take to stop and start ``program``:
    ``startProcess`` answers only after ``startsecs``, so the 10 s status timeout would turn
    every restart of a manager with ``startsecs`` >= 10 into a 503 although it succeeded."""
    config = shared(app).config
    limits = (
        next((i.supervisor for i in config.arr.values() if i.program == program), None)
        if config is not None
        else None
    )
    startsecs = limits.startsecs if limits is not None else 10
    stopwait = limits.stopwaitsecs if limits is not None else 30
    timeout = float(getattr(rpc, "timeout", 10.0)) + startsecs + stopwait
    socket_path = getattr(rpc, "socket_path", None)
    return type(rpc)(socket_path, timeout) if socket_path is not None else rpc


def _uptime(info: Any, state: str) -> float | None:
    if state != "RUNNING":
        return None
    start = _get(info, "start", "started_at")
    now = _get(info, "now") or time.time()
    if isinstance(start, int | float) and start > 0:
        return float(max(0, now - start))
    return None


def merge(live: list[Any] | None, health: list[Any]) -> list[dict[str, Any]]:
    """One API row per program from supervisord's list (may be None) and the health rows."""
    by_name = {value_of(h, "name"): h for h in health}
    names = [_get(i, "name") for i in live] if live is not None else list(by_name)
    infos = {_get(i, "name"): i for i in live or []}
    out = []
    for name in names:
        info, h = infos.get(name), by_name.get(name)
        state = str(
            _get(info, "statename", "state") if info is not None else _get(h, "state") or "UNKNOWN"
        )
        last_restart = _get(h, "last_restart") if h is not None else None
        out.append(
            {
                "name": name,
                "category": category(name),
                "instance": name.removeprefix("manager-") if name.startswith("manager-") else None,
                "status": state,
                "pid": (_get(info, "pid") or None) if info is not None else _get(h, "pid"),
                "uptime": _uptime(info, state) if info is not None else None,
                "restart_count": int(_get(h, "restart_count") or 0) if h is not None else 0,
                "last_restart": iso(last_restart) if last_restart is not None else None,
                "last_exit": None
                if h is None or _get(h, "last_exit") is None
                else str(_get(h, "last_exit")),
                "restart_limit_reached": bool(_get(h, "restart_limit_reached"))
                if h is not None
                else False,
                "description": _get(info, "description") if info is not None else None,
                "source": "supervisord" if live is not None else "store",
            }
        )
    return out
