"""Commands over HTTP: the MQTT command set, the per-instance shortcuts, and outcomes.

``restart`` / ``start`` / ``stop`` go straight to supervisord (a manager cannot restart
itself); every other command is written to the store inbox for the instance's manager, and
the route waits briefly for the outcome: 200 with the finished command, or 202 with its id
to poll at ``GET /api/v1/commands/{id}`` when the manager has not finished yet.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ..mqtt.requests import RequestError, validate_request
from .errors import ApiError
from .routes_status import INSTANCE_PATH, known_instance
from .schemas import HASH, INSTANCE_NAME, ref
from .serialize import COMMAND_FIELDS, row
from .spec import Call, Param, Resp, Route
from .state import blocking, shared
from .supervision import supervisor_call

SUPERVISOR_COMMANDS = ("restart", "start", "stop")
FINISHED = ("done", "error")
TRANSACTION = {
    "type": ["string", "integer", "number", "boolean", "null"],
    "maxLength": 256,
    "description": "Echoed back (as text), as over MQTT.",
}


def _command(
    name: str, extra: dict[str, Any], required: tuple[str, ...] = (), description: str = ""
) -> dict[str, Any]:
    instance = dict(INSTANCE_NAME)
    if name in SUPERVISOR_COMMANDS:
        instance["description"] = "Arr instance name, or `bridge`."
    return {
        "type": "object",
        "title": name,
        "description": description,
        "properties": {
            "command": {"const": name},
            "instance": instance,
            "transaction": TRANSACTION,
            **extra,
        },
        "required": ["command", "instance", *required],
        "additionalProperties": False,
    }


MEDIA_IDS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 1, "maximum": 2**53},
    "minItems": 1,
    "maxItems": 1000,
}
SEARCH_BODY = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"media_ids": MEDIA_IDS, "transaction": TRANSACTION},
            "required": ["media_ids"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"missing": {"const": True}, "transaction": TRANSACTION},
            "required": ["missing"],
            "additionalProperties": False,
        },
    ]
}
PLAIN_BODY = {
    "type": "object",
    "properties": {"transaction": TRANSACTION},
    "additionalProperties": False,
}
COMMAND_BODY = {
    "oneOf": [
        _command("restart", {}, description="Restart the program through supervisord."),
        _command("start", {}, description="Start the program through supervisord."),
        _command("stop", {}, description="Stop the program through supervisord."),
        _command("run_now", {}, description="Start a check cycle now."),
        {
            **_command(
                "search",
                {"media_ids": MEDIA_IDS, "missing": {"const": True}},
                description="Search media ids, or everything missing.",
            ),
            "oneOf": [
                {"required": ["media_ids"], "not": {"required": ["missing"]}},
                {"required": ["missing"], "not": {"required": ["media_ids"]}},
            ],
        },
        _command(
            "dry_run",
            {"value": {"type": "boolean"}},
            ("value",),
            "Switch the manager's dry-run mode.",
        ),
        _command("recheck", {"hash": HASH}, ("hash",), "Recheck one torrent in qBittorrent."),
        _command(
            "remove",
            {"hash": HASH, "blocklist": {"type": "boolean", "default": False}},
            ("hash",),
            "Remove one torrent (and blocklist the release in the Arr).",
        ),
        _command(
            "protect",
            {"hash": HASH, "value": {"type": "boolean", "default": True}},
            ("hash",),
            "Protect one torrent from removal (or stop protecting it).",
        ),
        _command(
            "log_level",
            {"value": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]}},
            ("value",),
            "Change the manager's log level now (until it restarts).",
        ),
    ]
}


def now() -> str:
    return datetime.now(UTC).isoformat()


def _program(call: Call, instance: str) -> str:
    if instance == "bridge":
        return "bridge"
    if instance == "webui":
        raise ApiError(
            409,
            "cannot_restart_self",
            "the WebUI cannot restart or stop itself; use supervisorctl or the CLI",
        )
    return shared(call.app).config.arr[known_instance(call, instance) or instance].program


async def _run_supervisor(
    call: Call, command: str, instance: str, transaction: str | None
) -> web.Response:
    program = _program(call, instance)
    started = now()
    outcome = await supervisor_call(call.app, command, program)
    result: dict[str, Any] = {"program": program}
    if isinstance(outcome, int) and not isinstance(outcome, bool):
        result["pid"] = outcome
    record = {
        "id": uuid.uuid4().hex,
        "command": command,
        "instance": instance,
        "payload": {},
        "source": "http",
        "transaction": transaction,
        "status": "done",
        "result": result,
        "error": None,
        "created_at": started,
        "started_at": started,
        "finished_at": now(),
    }
    shared(call.app).remember(record)
    return web.json_response(record)


async def _wait(app: web.Application, command_id: str, timeout: float) -> Any:
    store = shared(app).store
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.05
    while True:
        found = await blocking(app, store.get_command, command_id)
        if (
            found is None
            or str(row(found, ("status",))["status"]) in FINISHED
            or loop.time() >= deadline
        ):
            return found
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 0.5)


def _answer(cmd: dict[str, Any]) -> web.Response:
    if cmd["status"] in FINISHED:
        return web.json_response(cmd)
    return web.json_response(cmd, status=202, headers={"Location": f"commands/{cmd['id']}"})


async def _enqueue(
    call: Call, command: str, instance: str, payload: dict[str, Any], transaction: str | None
) -> web.Response:
    known_instance(call, instance)
    state = shared(call.app)
    created = await blocking(
        call.app, state.store.enqueue_command, command, instance, payload, "http", transaction
    )
    command_id = str(row(created, ("id",))["id"])
    found = await _wait(call.app, command_id, state.tuning.command_wait)
    return _answer(row(found if found is not None else created, COMMAND_FIELDS))


async def dispatch(call: Call, body: dict[str, Any]) -> web.Response:
    """Carry out one command request (already checked against the document's schema).

    Requests go through the MQTT bridge's own validation too, so HTTP and MQTT accept exactly
    the same requests and normalise them alike (lower-case hashes, defaults, unique ids).
    Only the program names differ: over HTTP the WebUI cannot restart itself but may restart
    the bridge, over MQTT the reverse.
    """
    command, instance = body["command"], body["instance"]
    transaction = body.get("transaction")
    transaction = None if transaction is None else str(transaction)
    if command in SUPERVISOR_COMMANDS and instance in ("bridge", "webui"):
        return await _run_supervisor(call, command, instance, transaction)
    known_instance(call, instance)
    fields = {k: v for k, v in body.items() if k != "command"}
    try:
        request = validate_request(command, fields, shared(call.app).config)
    except RequestError as exc:
        raise ApiError(422, "invalid_command", str(exc)) from None
    if request.supervised:
        return await _run_supervisor(call, command, instance, transaction)
    return await _enqueue(call, command, instance, request.params, transaction)


async def post_command(call: Call) -> web.Response:
    return await dispatch(call, call.body)


async def instance_restart(call: Call) -> web.Response:
    name = known_instance(call, call.path["name"]) or ""
    return await dispatch(call, {"command": "restart", "instance": name, **(call.body or {})})


async def instance_search(call: Call) -> web.Response:
    return await dispatch(call, {"command": "search", "instance": call.path["name"], **call.body})


async def instance_run_now(call: Call) -> web.Response:
    return await dispatch(
        call, {"command": "run_now", "instance": call.path["name"], **(call.body or {})}
    )


async def get_command(call: Call) -> web.Response:
    state = shared(call.app)
    command_id = call.path["id"]
    if command_id in state.outcomes:
        return web.json_response(state.outcomes[command_id])
    found = await blocking(call.app, state.store.get_command, command_id)
    if found is None:
        raise ApiError(404, "unknown_command", f"no command {command_id!r}")
    return web.json_response(row(found, COMMAND_FIELDS))


ERROR = ref("Error")
COMMAND_ANSWERS = {
    200: Resp("Finished: `status` is `done` or `error` (with `error`).", ref("Command")),
    202: Resp("Queued or running; poll `GET /api/v1/commands/{id}`.", ref("Command")),
    404: Resp("Unknown instance.", ERROR),
}
SUPERVISOR_ANSWERS = {
    200: Resp("Done; `result.pid` is the new process id.", ref("Command")),
    404: Resp("Unknown instance, or supervisord has no such program (a disabled instance).", ERROR),
    409: Resp("The program is already running (start) or not running (stop).", ERROR),
    502: Resp("supervisord could not start the program.", ERROR),
    503: Resp("supervisord is unreachable or not configured.", ERROR),
}
COMMAND_ID = Param(
    "id",
    "path",
    {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "Command id.",
    required=True,
)

ROUTES = (
    Route(
        "POST",
        "/api/v1/instances/{name}/restart",
        instance_restart,
        "Restart a manager",
        "instances",
        "Restarts `manager-<name>` through supervisord.",
        params=(INSTANCE_PATH,),
        body=PLAIN_BODY,
        body_required=False,
        responses=SUPERVISOR_ANSWERS,
    ),
    Route(
        "POST",
        "/api/v1/instances/{name}/search",
        instance_search,
        "Search media",
        "instances",
        "Asks the manager to search the Arr for these media ids, or for everything missing.",
        params=(INSTANCE_PATH,),
        body=SEARCH_BODY,
        responses=COMMAND_ANSWERS,
    ),
    Route(
        "POST",
        "/api/v1/instances/{name}/run-now",
        instance_run_now,
        "Run a check cycle now",
        "instances",
        params=(INSTANCE_PATH,),
        body=PLAIN_BODY,
        body_required=False,
        responses=COMMAND_ANSWERS,
    ),
    Route(
        "POST",
        "/api/v1/commands",
        post_command,
        "Send a command",
        "commands",
        "Any command of the MQTT set, with the same fields as an MQTT request plus `command`.",
        body=COMMAND_BODY,
        responses={
            **COMMAND_ANSWERS,
            409: Resp(
                "Already running / not running, or the WebUI asked to restart or stop itself.",
                ERROR,
            ),
            502: SUPERVISOR_ANSWERS[502],
            503: SUPERVISOR_ANSWERS[503],
        },
    ),
    Route(
        "GET",
        "/api/v1/commands/{id}",
        get_command,
        "A command's outcome",
        "commands",
        params=(COMMAND_ID,),
        responses={200: Resp("The command.", ref("Command")), 404: Resp("No such command.", ERROR)},
    ),
)
