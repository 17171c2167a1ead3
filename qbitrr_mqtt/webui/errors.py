"""One error shape for every answer that is not a success: ``{"error": {"code", "message"}}``.

Handlers raise :class:`ApiError`; the middleware here turns it, aiohttp's own HTTP errors
(404, 405, 413) and anything unexpected into that JSON shape, so a client never has to parse
an HTML error page, and an unexpected exception is logged once and answered as a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("qbitrr.webui")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer with an error status; ``extra`` keys go next to code and message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: every failure leaves as JSON."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
        message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
        if exc.status == 413:
            message = f"request body too large (limit {request.app._client_max_size} bytes)"
        return error_response(
            exc.status, _CODES.get(exc.status, "error"), message or exc.reason, headers
        )
    except (ConnectionResetError, TimeoutError) as exc:
        # The client went away (often mid-stream); nothing useful to answer.
        log.debug("%s %s: client gone (%s)", request.method, request.path, exc)
        raise
    except DBAPIError as exc:
        log.error("store error in %s %s: %s", request.method, request.path, exc.orig)
        return error_response(503, "store_unavailable", f"the store is unavailable: {exc.orig}")
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the WebUI log")
