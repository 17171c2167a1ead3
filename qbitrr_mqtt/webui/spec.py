"""The route table: each route's method, path, parameters, body and answers, in one place.

The same :class:`Route` objects register the aiohttp handlers, validate every request
(query and path parameters, JSON bodies) and generate ``/api/openapi.json``, so the document
cannot drift from what the server does: a parameter the document does not describe is not
read, and one it describes is checked exactly as described.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from jsonschema import Draft202012Validator

from .errors import ApiError

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Param:
    """A query or path parameter; ``schema`` is JSON Schema (integer, boolean or string)."""

    name: str
    where: Literal["query", "path"]
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Resp:
    description: str
    schema: dict[str, Any] | None = None
    content_type: str = JSON
    #: The same status may also answer with a ``text/event-stream`` (SSE) body.
    event_stream: bool = False
    #: Other media types the same schema is sent as (static files: CSS next to JS).
    more_types: tuple[str, ...] = ()


@dataclass(slots=True)
class Call:
    """What a handler gets: the request plus its already validated parameters and body."""

    request: web.Request
    query: dict[str, Any]
    path: dict[str, Any]
    body: Any = None

    @property
    def app(self) -> web.Application:
        return self.request.app


RouteHandler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: RouteHandler
    summary: str
    tag: str
    description: str = ""
    auth: bool = True
    params: tuple[Param, ...] = ()
    #: JSON Schema of the JSON request body (None: the route reads no body).
    body: dict[str, Any] | None = None
    body_required: bool = True
    #: Other accepted body media types, passed to the handler as text (e.g. YAML).
    text_bodies: tuple[str, ...] = ()
    responses: Mapping[int, Resp] = field(default_factory=dict)
    #: Long-lived streams (SSE) are described but skipped by the API fuzzer.
    streaming: bool = False

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[{}]", "", self.path).replace("/api/v1/", "").replace("/api/", "")
        words = re.sub(r"[^a-zA-Z0-9]+", "_", words).strip("_") or "page"
        return f"{self.method.lower()}_{words}"


#: Validators of the parameters' schemas by ``id``, with the schema they check (which keeps
#: the id taken): building a validator cost more than the page a cached request answers.
_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


#: The keywords of a whole-number range (paging's limit and offset), checked inline.
_RANGE = frozenset({"type", "minimum", "maximum", "default"})


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    held = _VALIDATORS.get(id(schema))
    if held is None or held[0] is not schema:
        held = _VALIDATORS[id(schema)] = (schema, Draft202012Validator(schema))
    return held[1]


def _in_range(schema: dict[str, Any], value: int) -> bool:
    """True when ``schema`` is only a whole-number range that holds ``value`` (False says
    nothing: the validator decides and words the error)."""
    return schema.keys() <= _RANGE and schema.get("minimum", value) <= value <= schema.get(
        "maximum", value
    )


def _coerce(param: Param, raw: str) -> Any:
    """A query string value as the type its schema says, or ApiError 400 naming the parameter."""
    schema = param.schema
    kind = schema.get("type", "string")
    value: Any = raw
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d{1,18}", raw.strip()):
            raise ApiError(
                400, "bad_parameter", f"{param.name} must be a whole number, got {raw!r}"
            )
        value = int(raw)
        if _in_range(schema, value):
            return value
    elif kind == "boolean":
        lowered = raw.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ApiError(400, "bad_parameter", f"{param.name} must be true or false, got {raw!r}")
        value = lowered in ("true", "1")
    validator = _validator(schema)
    if not validator.is_valid(value):
        errors = list(validator.iter_errors(value))
        raise ApiError(400, "bad_parameter", f"{param.name}: {errors[0].message}")
    return value


def parse_params(route: Route, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated query and path parameters; unknown query keys are ignored, as browsers add some."""
    query: dict[str, Any] = {}
    path: dict[str, Any] = {}
    for param in route.params:
        source = request.query if param.where == "query" else request.match_info
        raw = source.get(param.name)
        if param.where == "query" and len(request.query.getall(param.name, [])) > 1:
            raise ApiError(400, "bad_parameter", f"{param.name} given more than once")
        target = query if param.where == "query" else path
        if raw is None:
            if param.required:
                raise ApiError(400, "bad_parameter", f"{param.name} is required")
            target[param.name] = param.schema.get("default")
            continue
        target[param.name] = _coerce(param, raw)
    return query, path


def problems_of(schema: dict[str, Any], value: Any) -> list[dict[str, str]]:
    """Every JSON Schema violation as ``{"path", "message"}`` (path dotted, '' for the top)."""
    found = sorted(
        Draft202012Validator(schema).iter_errors(value), key=lambda e: list(map(str, e.path))
    )
    return [
        {"path": ".".join(str(p) for p in e.absolute_path), "message": e.message} for e in found
    ]


async def read_body(route: Route, request: web.Request) -> Any:
    """The request body, parsed and checked against the route's schema.

    Malformed JSON is 400, a schema violation 422 with every problem listed, a wrong media
    type 415. Text media types (``text_bodies``) are returned as ``str`` for the handler.
    """
    if route.body is None:
        return None
    ctype = request.content_type
    has_body = request.can_read_body
    if not has_body:
        if route.body_required:
            raise ApiError(400, "missing_body", f"this route needs a JSON body ({JSON})")
        return None
    if ctype in route.text_bodies:
        raw = await request.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad_body", "the body is not UTF-8 text") from None
    if ctype != JSON:
        accepted = ", ".join((JSON, *route.text_bodies))
        raise ApiError(415, "unsupported_media_type", f"send {accepted}, not {ctype!r}")
    raw = await request.read()
    if not raw.strip() and not route.body_required:
        return None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
    problems = problems_of(route.body, value)
    if problems:
        first = problems[0]
        where = f"{first['path']}: " if first["path"] else ""
        raise ApiError(422, "invalid_body", f"{where}{first['message']}", problems=problems)
    return value


def bind(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler for a route: validate, then call the route's handler."""

    async def handler(request: web.Request) -> web.StreamResponse:
        query, path = parse_params(route, request)
        body = await read_body(route, request)
        return await route.handler(Call(request, query, path, body))

    handler.__name__ = route.operation_id
    return handler
