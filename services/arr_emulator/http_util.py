"""Request parsing and response shapes shared by the API handlers.

Errors take the real servers' shapes (contracts/README.md): 401 with an empty body; 404
``{"message": "NotFound"}`` for an unknown queue id; RFC 7807 problem documents for an
unknown resource id and for unparsable query values; ``{"message", "description"}`` for 500.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

TRUE = {"true", "True"}
FALSE = {"false", "False"}


class BadRequest(Exception):
    """A query or body value the real server's model binding would refuse."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json")


def problem(status: int, title: str, **extra: Any) -> web.Response:
    sections = {400: "15.5.1", 404: "15.5.5", 405: "15.5.6"}
    body = {
        "type": f"https://tools.ietf.org/html/rfc9110#section-{sections.get(status, '15.6.1')}",
        "title": title,
        "status": status,
        **extra,
        "traceId": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00",
    }
    return web.Response(text=dumps(body), status=status, content_type="application/problem+json")


def not_found_problem() -> web.Response:
    return problem(404, "Not Found")


def bad_request(exc: BadRequest) -> web.Response:
    return problem(
        400, "One or more validation errors occurred.", errors={exc.field: [exc.message]}
    )


def server_error(message: str, description: str = "") -> web.Response:
    return json_response({"message": message, "description": description or message}, status=500)


def qbool(request: web.Request, name: str, default: bool) -> bool:
    """A query boolean; ``true``/``True``/``false``/``False`` as the real servers accept."""
    raw = _query_value(request, name)
    if raw is None or raw == "":
        return default
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise BadRequest(name, f"The value '{raw}' is not valid.")


def qint(
    request: web.Request, name: str, default: int | None, *, minimum: int | None = None
) -> int | None:
    raw = _query_value(request, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(name, f"The value '{raw}' is not valid.") from None
    if minimum is not None and value < minimum:
        raise BadRequest(name, f"The value '{raw}' must be at least {minimum}.")
    return value


def qstr(request: web.Request, name: str) -> str | None:
    raw = _query_value(request, name)
    return raw or None


def qints(request: web.Request, name: str) -> list[int]:
    """An int array: repeated keys (``ids=1&ids=2``) or comma separated."""
    values: list[int] = []
    for key, raw in request.query.items():
        if key.lower() != name.lower():
            continue
        for part in raw.split(","):
            if part.strip():
                try:
                    values.append(int(part))
                except ValueError:
                    raise BadRequest(name, f"The value '{part}' is not valid.") from None
    return values


def _query_value(request: web.Request, name: str) -> str | None:
    """Query keys are case-insensitive on the real servers (ASP.NET model binding)."""
    for key, value in request.query.items():
        if key.lower() == name.lower():
            return value
    return None


def paged(
    request: web.Request, records: list[Any], *, default_sort: str | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """(paging envelope without records, the page's slice) for ``records`` already sorted."""
    page = qint(request, "page", 1, minimum=1) or 1
    page_size = qint(request, "pageSize", 10, minimum=0)
    assert page_size is not None
    sort_key = qstr(request, "sortKey") or default_sort
    direction = qstr(request, "sortDirection") or "default"
    if direction not in {"default", "ascending", "descending"}:
        raise BadRequest("sortDirection", f"The value '{direction}' is not valid.")
    envelope: dict[str, Any] = {
        "page": page,
        "pageSize": page_size,
        "sortDirection": direction,
        "totalRecords": len(records),
    }
    if sort_key:
        envelope["sortKey"] = sort_key
    start = (page - 1) * page_size
    return envelope, records[start : start + page_size]
