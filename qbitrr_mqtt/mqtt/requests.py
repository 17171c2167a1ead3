"""Validation of ``<base>/bridge/request/<command>`` messages and the response shape.

Anything can arrive on a request topic: text that is not JSON, a megabyte, a list, a typo in a
key. Every such request gets an error response naming the problem (and echoing the
``transaction`` whenever one could be read), never an exception in the bridge. The rules are
the same as the HTTP API's ``POST /api/v1/commands`` schema; unknown keys are refused so a typo
(``media_id`` for ``media_ids``) is reported instead of silently ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .payloads import canonical_json

if TYPE_CHECKING:
    from ..config.models import Config

#: Larger request payloads are refused before parsing.
MAX_PAYLOAD = 64 * 1024
MAX_MEDIA_IDS = 1000
MAX_TRANSACTION_CHARS = 256
#: Handled by supervisord through the bridge; every other command goes to the manager's inbox.
SUPERVISOR_COMMANDS = ("restart", "start", "stop")
#: Programs other than managers that restart/start/stop may name (the bridge cannot restart
#: itself over MQTT: it would be gone before it could answer).
OTHER_PROGRAMS = ("webui",)
_HASH = re.compile(r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$")

Scalar = str | int | float | bool | None


class RequestError(ValueError):
    """A request that cannot be carried out; ``transaction`` is echoed in the response."""

    def __init__(self, message: str, transaction: Scalar = None) -> None:
        super().__init__(message)
        self.transaction = transaction


@dataclass(frozen=True, slots=True)
class Request:
    command: str
    instance: str
    params: dict[str, Any] = field(default_factory=dict)
    transaction: Scalar = None

    @property
    def supervised(self) -> bool:
        """restart/start/stop: done by supervisord, not by the manager."""
        return self.command in SUPERVISOR_COMMANDS


@dataclass(frozen=True, slots=True)
class Response:
    """``<base>/bridge/response/<command>``: ``{"status", "data", "error", "transaction"}``."""

    status: Literal["ok", "error"]
    data: Any = None
    error: str | None = None
    transaction: Scalar = None

    @classmethod
    def ok(cls, data: Any = None, transaction: Scalar = None) -> Response:
        return cls("ok", data if data is not None else {}, None, transaction)

    @classmethod
    def fail(cls, message: str, transaction: Scalar = None) -> Response:
        return cls("error", {}, message, transaction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "data": self.data,
            "error": self.error,
            "transaction": self.transaction,
        }

    def to_json(self) -> str:
        return canonical_json(self.to_dict())


# --- field checks ---------------------------------------------------------------------------
Check = Callable[[str, Any], Any]


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"'{key}' must be true or false, not {json.dumps(value)[:40]}")
    return value


def _true(key: str, value: Any) -> bool:
    if value is not True:
        raise ValueError(f"'{key}' must be true (use 'media_ids' to search given media)")
    return True


def _hash(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise ValueError(f"'{key}' must be a torrent info hash: 40 or 64 hexadecimal characters")
    return value.lower()


def _media_ids(key: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"'{key}' must be a non-empty list of media ids")
    if len(value) > MAX_MEDIA_IDS:
        raise ValueError(f"'{key}' has {len(value)} ids; at most {MAX_MEDIA_IDS} per request")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 2**53:
            raise ValueError(f"'{key}' must hold positive integers, not {json.dumps(item)[:40]}")
    return list(dict.fromkeys(value))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _level(key: str, value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ValueError(f"'{key}' must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    fields: dict[str, Check] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    #: Exactly one of these keys must be present.
    one_of: tuple[str, ...] = ()
    help: str = ""


COMMANDS: dict[str, CommandSpec] = {
    "restart": CommandSpec(help="restart the manager through supervisord"),
    "start": CommandSpec(help="start the manager through supervisord"),
    "stop": CommandSpec(help="stop the manager through supervisord"),
    "run_now": CommandSpec(help="start a check cycle now"),
    "search": CommandSpec(
        {"media_ids": _media_ids, "missing": _true},
        one_of=("media_ids", "missing"),
        help="search the given media ids, or everything missing",
    ),
    "dry_run": CommandSpec({"value": _bool}, ("value",), help="switch dry-run mode"),
    "recheck": CommandSpec({"hash": _hash}, ("hash",), help="recheck one torrent"),
    "remove": CommandSpec(
        {"hash": _hash, "blocklist": _bool},
        ("hash",),
        {"blocklist": False},
        help="remove one torrent (optionally blocklisting the release)",
    ),
    "protect": CommandSpec(
        {"hash": _hash, "value": _bool},
        ("hash",),
        {"value": True},
        help="protect one torrent from removal (value false: unprotect)",
    ),
    "log_level": CommandSpec(
        {"value": _level},
        ("value",),
        help="change the manager's log level now, until it restarts",
    ),
}


def _transaction(body: Mapping[str, Any]) -> Scalar:
    value = body.get("transaction")
    if isinstance(value, dict | list):
        return None
    if isinstance(value, str) and len(value) > MAX_TRANSACTION_CHARS:
        return value[:MAX_TRANSACTION_CHARS]
    return value


def _check_instance(command: str, value: Any, config: Config) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("'instance' is required: the name of an Arr instance")
    if command in SUPERVISOR_COMMANDS and value in OTHER_PROGRAMS:
        return value
    if command in SUPERVISOR_COMMANDS and value == "bridge":
        raise ValueError(
            "the bridge cannot restart, start or stop itself over MQTT; use supervisorctl or the HTTP API"
        )
    inst = config.arr.get(value)
    if inst is None:
        known = ", ".join(sorted(config.arr)) or "none configured"
        raise ValueError(f"unknown instance {value!r} (known: {known})")
    if not inst.enabled:
        raise ValueError(f"instance {value!r} is disabled in the config")
    return value


def validate_request(command: str, body: Any, config: Config) -> Request:
    """A checked :class:`Request` from a decoded body; RequestError says what is wrong."""
    if not isinstance(body, dict):
        raise RequestError(f"the payload must be a JSON object, not {type(body).__name__}")
    transaction = _transaction(body)
    if isinstance(body.get("transaction"), dict | list):
        raise RequestError("'transaction' must be a string, number, boolean or null")
    spec = COMMANDS.get(command)
    if spec is None:
        known = ", ".join(sorted(COMMANDS))
        raise RequestError(f"unknown command {command!r} (known: {known})", transaction)
    try:
        instance = _check_instance(command, body.get("instance"), config)
        allowed = {"instance", "transaction", *spec.fields}
        extra = sorted(set(body) - allowed)
        if extra:
            keys = ", ".join(sorted(allowed))
            raise ValueError(
                f"unexpected key(s) {', '.join(map(repr, extra))} for {command!r} (allowed: {keys})"
            )
        missing = [k for k in spec.required if k not in body]
        if missing:
            raise ValueError(f"{command!r} needs {', '.join(map(repr, missing))}")
        if spec.one_of and sum(k in body for k in spec.one_of) != 1:
            raise ValueError(
                f"{command!r} needs exactly one of {' or '.join(map(repr, spec.one_of))}"
            )
        params = dict(spec.defaults)
        for key, check in spec.fields.items():
            if key in body:
                params[key] = check(key, body[key])
    except ValueError as exc:
        raise RequestError(str(exc), transaction) from None
    return Request(command, instance, params, transaction)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_request(command: str, payload: bytes | str, config: Config) -> Request:
    """Size check, UTF-8, JSON, then :func:`validate_request`."""
    size = len(payload.encode("utf-8") if isinstance(payload, str) else payload)
    if size > MAX_PAYLOAD:
        raise RequestError(f"payload of {size} bytes is over the {MAX_PAYLOAD}-byte limit")
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes | bytearray) else payload
        body = json.loads(text, parse_constant=_no_constant) if text.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RequestError(f"the payload is not valid JSON: {exc}") from None
    if body is None:
        raise RequestError('the payload must be a JSON object such as {"instance": "radarr"}')
    return validate_request(command, body, config)
