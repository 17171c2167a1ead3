"""``GET /`` and its static files: the page works at the root and behind Home Assistant ingress.

The page uses only relative URLs. Behind ingress, Home Assistant serves it under
``/api/hassio_ingress/<token>/`` and says so in ``X-Ingress-Path``; the server then adds a
``<base href>`` so those relative URLs resolve under that prefix. The header is trusted only
from ``webui.ingress_proxy`` when that is set, and only in a plain path shape (it ends up in
HTML).
"""

from __future__ import annotations

import html
import re
from functools import cache
from importlib import resources
from pathlib import Path

from aiohttp import web

from .errors import ApiError
from .spec import Call, Param, Resp, Route
from .state import shared

STATIC = Path(str(resources.files("qbitrr_mqtt.webui").joinpath("static")))
_INGRESS_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".html": "text/html",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'"
)


@cache
def _template() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


def static_files() -> set[str]:
    return {p.name for p in STATIC.iterdir() if p.suffix in _TYPES and p.name != "index.html"}


def ingress_base(request: web.Request) -> str | None:
    """The ingress prefix to serve under, or None when the header is absent or not trusted."""
    path = request.headers.get("X-Ingress-Path", "").rstrip("/")
    if not path or not _INGRESS_PATH.match(path):
        return None
    proxy = shared(request.app).config.webui.ingress_proxy
    if proxy and request.remote != proxy:
        return None
    return path


async def index(call: Call) -> web.Response:
    base = ingress_base(call.request)
    tag = f'<base href="{html.escape(base, quote=True)}/">' if base else ""
    body = _template().replace("<!--BASE-->", tag)
    return web.Response(
        text=body,
        content_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


async def static(call: Call) -> web.StreamResponse:
    name = call.path["file"]
    if name not in static_files():
        raise ApiError(404, "not_found", f"no static file {name!r}")
    path = STATIC / name
    return web.FileResponse(
        path, headers={"Content-Type": _TYPES[path.suffix], "Cache-Control": "no-cache"}
    )


FILE = Param(
    "file",
    "path",
    {"type": "string", "pattern": r"^[a-z0-9-]{1,40}\.(js|css|svg)$"},
    "A file of the page.",
    required=True,
)

ROUTES = (
    Route(
        "GET",
        "/",
        index,
        "The WebUI page",
        "page",
        "HTML; relative URLs only. Behind Home Assistant ingress the `X-Ingress-Path` prefix becomes the page's base.",
        auth=False,
        responses={200: Resp("The page.", {"type": "string"}, "text/html")},
    ),
    Route(
        "GET",
        "/static/{file}",
        static,
        "A file of the page",
        "page",
        "The page's ES modules, style sheet and icon.",
        auth=False,
        params=(FILE,),
        responses={
            200: Resp(
                "The file.",
                {"type": "string"},
                "text/javascript",
                more_types=("text/css", "image/svg+xml"),
            ),
            404: Resp("No such file.", {"$ref": "#/components/schemas/Error"}),
        },
    ),
)
