"""JSON Schemas of what the API sends and accepts (OpenAPI 3.1 = JSON Schema 2020-12).

Named schemas are published under ``components.schemas`` and referenced with ``ref()``;
tests validate real answers against them, so a field the serializers change shows up here.
"""

from __future__ import annotations

from typing import Any

S = dict[str, Any]

STR: S = {"type": "string"}
INT: S = {"type": "integer"}
NUM: S = {"type": "number"}
BOOL: S = {"type": "boolean"}
TIME: S = {"type": "string", "format": "date-time"}
INSTANCE_NAME: S = {"type": "string", "pattern": "^[a-z0-9-]+$", "maxLength": 64}
HASH: S = {"type": "string", "pattern": "^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$"}


def null(schema: S) -> S:
    """The schema, or null."""
    kinds = schema.get("type")
    if isinstance(kinds, str):
        return {**schema, "type": [kinds, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(props: dict[str, S], required: list[str] | None = None, extra: bool = False) -> S:
    """An object whose listed properties are all required unless ``required`` says otherwise."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


def ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(key: str, item: str) -> S:
    return obj(
        {key: {"type": "array", "items": ref(item)}, "total": INT, "limit": INT, "offset": INT}
    )


ERROR = obj(
    {
        "error": obj(
            {
                "code": STR,
                "message": STR,
                "problems": {
                    "type": "array",
                    "items": obj(
                        {"path": STR, "message": STR, "expected": STR, "line": null(INT)},
                        ["path", "message"],
                    ),
                },
            },
            ["code", "message"],
            extra=True,
        )
    }
)

TORRENT = obj(
    {
        "instance": STR,
        "hash": STR,
        "name": null(STR),
        "category": null(STR),
        "state": null(STR),
        "health": null(STR),
        "progress": null(NUM),
        "size": null(INT),
        "downloaded": null(INT),
        "added_on": null(TIME),
        "first_seen": null(TIME),
        "last_seen": null(TIME),
        "last_activity": null(TIME),
        "strikes": INT,
        "strike_reason": null(STR),
        "last_strike_at": null(TIME),
        "protected": BOOL,
        "private": null(BOOL),
        "tracker": null(STR),
        "media_id": null(INT),
        "imported": BOOL,
        "last_action": null(STR),
        "last_action_at": null(TIME),
        "gone_at": null(TIME),
    }
)

ACTION = obj(
    {
        "id": INT,
        "instance": STR,
        "hash": null(STR),
        "name": null(STR),
        "action": STR,
        "reason": null(STR),
        "media_id": null(INT),
        "status": STR,
        "error": null(STR),
        "dry_run": BOOL,
        "created_at": null(TIME),
        "finished_at": null(TIME),
    }
)

SEARCH = obj(
    {
        "id": INT,
        "instance": STR,
        "media_id": null(INT),
        "kind": STR,
        "arr_command_id": null(INT),
        "status": null(STR),
        "created_at": null(TIME),
        "finished_at": null(TIME),
    }
)

COMMAND = obj(
    {
        "id": STR,
        "command": STR,
        "instance": null(STR),
        "payload": {"type": "object"},
        "source": STR,
        "transaction": null(STR),
        "status": {"enum": ["pending", "running", "done", "error"]},
        "result": {},
        "error": null(STR),
        "created_at": null(TIME),
        "started_at": null(TIME),
        "finished_at": null(TIME),
    }
)

PROCESS = obj(
    {
        "name": STR,
        "category": {"enum": ["manager", "bridge", "webui", "events", "other"]},
        "instance": null(STR),
        "status": STR,
        "pid": null(INT),
        "uptime": null(NUM),
        "restart_count": INT,
        "last_restart": null(TIME),
        "last_exit": null(STR),
        "restart_limit_reached": BOOL,
        "description": null(STR),
        "source": {"enum": ["supervisord", "store"]},
    }
)

PROCESS_EVENT = obj(
    {
        "id": INT,
        "name": STR,
        "from_state": null(STR),
        "to_state": STR,
        "pid": null(INT),
        "expected": null(BOOL),
        "detail": null(STR),
        "at": null(TIME),
    }
)

INSTANCE = obj(
    {
        "name": STR,
        "type": {"enum": ["radarr", "sonarr", "lidarr"]},
        "category": STR,
        "client": STR,
        "enabled": BOOL,
        "program": STR,
        "qbit_connected": null(BOOL),
        "arr_connected": null(BOOL),
        "counts": {"type": "object", "additionalProperties": INT},
        "queue_size": null(INT),
        "dry_run": null(BOOL),
        "last_cycle_at": null(TIME),
        "last_cycle_duration": null(NUM),
        "heartbeat_at": null(TIME),
        "error": null(STR),
    }
)

LOG_FILE = obj({"process": STR, "file": STR, "exists": BOOL, "size": INT, "modified": null(TIME)})

HEALTH = obj(
    {
        "status": {"enum": ["ok", "degraded"]},
        "version": STR,
        "problems": {"type": "array", "items": STR},
        "store": obj({"ok": BOOL, "error": null(STR), "db_size": null(INT)}),
        "supervisor": obj({"ok": null(BOOL), "error": null(STR)}),
    }
)

PROBLEM = obj({"path": STR, "message": STR, "expected": STR, "line": null(INT)})

CONFIG_READ = obj(
    {
        "path": null(STR),
        "writable": BOOL,
        "yaml": STR,
        "config": {
            "type": "object",
            "description": "the effective config (file + environment + defaults), secrets as ***",
        },
    }
)

CONFIG_SAVED = obj(
    {
        "saved": BOOL,
        "path": STR,
        "backup": null(STR),
        "changed": {"type": "array", "items": STR},
        "restart_required": {"type": "array", "items": STR},
        "supervisor_reload": BOOL,
    }
)

COMPONENTS: dict[str, S] = {
    "Error": ERROR,
    "Torrent": TORRENT,
    "Action": ACTION,
    "Search": SEARCH,
    "Command": COMMAND,
    "Process": PROCESS,
    "ProcessEvent": PROCESS_EVENT,
    "Instance": INSTANCE,
    "LogFile": LOG_FILE,
    "Health": HEALTH,
    "Problem": PROBLEM,
    "ConfigRead": CONFIG_READ,
    "ConfigSaved": CONFIG_SAVED,
}
