"""Who may call the API: the token check, CORS and the generated token file.

The token is compared with ``hmac.compare_digest`` and never logged. CORS is closed unless
``webui.cors_origins`` names an origin: the page is served by the same app, so only other
sites' scripts would need it. Pre-flight requests are answered here, before the token check,
because browsers send them without credentials.

In Home Assistant ingress mode (``webui.ingress_proxy`` set, as the add-on does) only the
ingress proxy may connect at all, plus this host's own loopback address, from which the
bridge's watchdog and the container's health check ask ``/api/health``. Everyone else gets
403 before any route runs, the token check included.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
from pathlib import Path

from aiohttp import web

from .errors import Handler, error_response

log = logging.getLogger("qbitrr.webui")

TOKEN_FILE = "webui_token"
PROTECTED_PREFIX = "/api/v1/"
_ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Token, Last-Event-ID"
_ALLOWED_METHODS = "GET, POST, PUT, OPTIONS"

TOKEN_KEY = web.AppKey("token", str)
CORS_KEY = web.AppKey("cors_origins", frozenset)
METRICS_PUBLIC_KEY = web.AppKey("metrics_public", bool)
INGRESS_KEY = web.AppKey("ingress_clients", frozenset)
#: The addresses the container's own processes connect from.
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def ensure_token(configured: str | None, data_dir: Path) -> str:
    """The API token: the configured one, else ``<data_dir>/webui_token``, made on first start.

    A generated token is printed to the log exactly once, when it is created, so the user
    can copy it; after that only its file is named.
    """
    if configured:
        return configured
    path = Path(data_dir) / TOKEN_FILE
    try:
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
        log.warning("%s holds no usable token; writing a new one", path)
        path.unlink()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    log.warning(
        "webui.token is not set: generated an API token and saved it in %s (mode 0600). "
        "Token (shown only this once): %s",
        path,
        token,
    )
    return token


def presented_token(request: web.Request) -> str | None:
    """The token a request carries, from ``X-API-Token`` or ``Authorization: Bearer``."""
    token = request.headers.get("X-API-Token")
    if token:
        return token.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_ok(expected: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def needs_token(request: web.Request) -> bool:
    if request.path.startswith(PROTECTED_PREFIX):
        return True
    return request.path == "/metrics" and not request.app[METRICS_PUBLIC_KEY]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if needs_token(request) and not token_ok(request.app[TOKEN_KEY], presented_token(request)):
        given = presented_token(request) is not None
        return error_response(
            401,
            "unauthorized",
            "wrong API token"
            if given
            else "send the API token as X-API-Token or Authorization: Bearer",
            headers={"WWW-Authenticate": 'Bearer realm="qbitrr-mqtt"'},
        )
    return await handler(request)


def _address(text: str | None) -> str | None:
    """A client address in canonical form (an IPv4-mapped IPv6 address as plain IPv4)."""
    try:
        ip = ipaddress.ip_address((text or "").split("%")[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def ingress_clients(proxy: str | None) -> frozenset[str]:
    """The addresses allowed to connect: empty (everyone) unless ``proxy`` is set."""
    if not proxy:
        return frozenset()
    return frozenset({_address(proxy) or proxy, *LOOPBACK})


@web.middleware
async def ingress_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """In ingress mode, refuse every client but the ingress proxy and loopback."""
    allowed = request.app[INGRESS_KEY]
    if allowed and _address(request.remote) not in allowed:
        log.warning(
            "refused %s %s from %s: in ingress mode only %s may connect",
            request.method,
            request.path,
            request.remote,
            ", ".join(sorted(allowed - LOOPBACK)),
        )
        return error_response(
            403,
            "not_ingress",
            "this WebUI only answers Home Assistant's ingress proxy (webui.ingress_proxy)",
        )
    return await handler(request)


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    allowed = request.app[CORS_KEY]
    if origin and (origin in allowed or "*" in allowed):
        return origin
    return None


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer pre-flights for allowed origins; refuse the others."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        origin = _allowed_origin(request)
        if origin is None:
            return error_response(
                403, "cors_forbidden", "this origin may not call the API (webui.cors_origins)"
            )
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": _ALLOWED_METHODS,
                "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )
    return await handler(request)


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Headers every answer gets, streams included (set before their first byte)."""
    origin = _allowed_origin(request)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
