"""``GET /api/openapi.json``: an OpenAPI 3.1 document generated from the route table.

Generated, never hand-written: every parameter, body and answer here is the one the route
table validates and the handlers send. Answers every route shares (401 for the token, 400 for
bad parameters, 413/415/422 for bodies) are added from the route's own shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import __version__
from .schemas import COMPONENTS, ref
from .spec import JSON, Resp, Route

TAGS = [
    ("health", "Liveness for load balancers and the add-on watchdog (no token)."),
    ("processes", "supervisord programs: managers, bridge, WebUI."),
    ("instances", "The configured Arr instances and their commands."),
    ("history", "Tracked torrents and the audit trail: actions, searches, downloads."),
    ("commands", "The MQTT command set over HTTP, and each command's outcome."),
    ("config", "Read and replace the config file."),
    ("logs", "Program logs."),
    ("events", "Live stream (SSE) of actions and process changes."),
    ("page", "The WebUI page."),
    ("metrics", "Prometheus metrics (token unless webui.metrics_public)."),
    ("meta", "This document."),
]


def _content(resp: Resp) -> dict[str, Any] | None:
    if resp.schema is None:
        return None
    content = {t: {"schema": resp.schema} for t in (resp.content_type, *resp.more_types)}
    if resp.event_stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return content


def _responses(route: Route) -> dict[str, Any]:
    answers: dict[int, Resp] = {}
    error = ref("Error")
    if route.params or route.body is not None:
        answers[400] = Resp("A parameter or the body is malformed.", error)
    if route.auth:
        answers[401] = Resp("Missing or wrong API token.", error)
    if route.body is not None:
        answers[413] = Resp("The body is larger than the limit (1 MiB).", error)
        answers[415] = Resp("The body's media type is not accepted.", error)
        answers[422] = Resp("The body does not match its schema.", error)
    if route.auth:
        answers[503] = Resp(
            "A dependency is unavailable: the store, or supervisord where the route needs it.",
            error,
        )
    answers.update(route.responses)
    out: dict[str, Any] = {}
    for status in sorted(answers):
        resp = answers[status]
        entry: dict[str, Any] = {"description": resp.description}
        content = _content(resp)
        if content:
            entry["content"] = content
        out[str(status)] = entry
    return out


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": _responses(route),
    }
    if route.description:
        op["description"] = route.description
    if route.params:
        op["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required or p.where == "path",
                "description": p.description,
                "schema": p.schema,
            }
            for p in route.params
        ]
    if route.body is not None:
        content: dict[str, Any] = {JSON: {"schema": route.body}}
        for media in route.text_bodies:
            content[media] = {"schema": {"type": "string"}}
        op["requestBody"] = {"required": route.body_required, "content": content}
    op["security"] = [{"apiToken": []}, {"bearer": []}] if route.auth else []
    return op


def build_openapi(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "qbitrr-mqtt",
            "version": __version__,
            "description": 'Torrent-queue health manager for qBittorrent and the Arr apps. Every `/api/v1/*` route needs the API token (`X-API-Token` or `Authorization: Bearer`). Errors are `{"error": {"code", "message"}}`.',
        },
        "tags": [{"name": n, "description": d} for n, d in TAGS],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "apiToken": {"type": "apiKey", "in": "header", "name": "X-API-Token"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
