"""``GET /metrics``: Prometheus text format, and the request counting behind it.

The numbers come from the store (see ``qbitrr_mqtt.metrics``) plus this process's own
request counters, which :func:`metrics_middleware` keeps: one count per answer, labelled
with the route *template* (``/api/v1/instances/{name}/restart``), never the raw path, so a
scanner cannot blow up the number of series. The token is required unless
``webui.metrics_public`` is true (``security.needs_token``).
"""

from __future__ import annotations

from aiohttp import web

from ..metrics import CONTENT_TYPE, ApiMetrics, render
from .errors import Handler
from .spec import Call, Resp, Route
from .state import blocking, shared

API_METRICS = web.AppKey("api_metrics", ApiMetrics)
UNMATCHED = "unmatched"


def route_label(request: web.Request) -> str:
    """The route template that matched, or ``unmatched`` (404s, probes)."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None or info.http_exception is not None:
        return UNMATCHED
    return str(resource.canonical)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: count every answer, errors included, after the other middlewares."""
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[API_METRICS].request(route_label(request), request.method, status)


async def metrics(call: Call) -> web.Response:
    body = await blocking(call.app, render, shared(call.app).store, call.app[API_METRICS])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


ROUTES = (
    Route(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics",
        "metrics",
        "Cycles, cycle durations, actions by type and result, strikes, torrents by state, MQTT "
        "messages and reconnects, process restarts, API requests, database size, in the "
        "Prometheus text format (version 0.0.4). Needs the token unless `webui.metrics_public` is true.",
        responses={200: Resp("The metrics.", {"type": "string"}, content_type="text/plain")},
    ),
)
