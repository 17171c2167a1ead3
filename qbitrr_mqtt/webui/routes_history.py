"""Tracked torrents and the history tables: downloads, searches, actions (the audit trail)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..store.listing import BOOL_COLUMNS, TIME_COLUMNS
from .routes_status import known_instance
from .schemas import HASH, INSTANCE_NAME, page_of
from .serialize import (
    ACTION_FIELDS,
    SEARCH_FIELDS,
    TORRENT_FIELDS,
    page_json,
    page_of_rows,
    row_encoders,
    row_json_encoder,
    rows,
)
from .spec import Call, Param, Resp, Route
from .state import blocking, shared

LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    "Page size (1..1000).",
)
OFFSET = Param(
    "offset",
    "query",
    {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
    "Rows to skip.",
)
INSTANCE = Param(
    "instance", "query", INSTANCE_NAME, "Only this Arr instance (404 when it is not configured)."
)
STATE = Param(
    "state",
    "query",
    {"type": "string", "pattern": "^[a-zA-Z_]{1,32}$"},
    "Only torrents in this state: our health class (downloading, stalled, seeding, queued, errored, paused, "
    "checking, metadata, missing_files, completed) or a qBittorrent state (stalledDL, uploading, ...).",
)
PAGING = (INSTANCE, LIMIT, OFFSET)
ACTION_HASH = Param("hash", "query", HASH, "Only actions on this torrent (info hash).")
ACTION_STATUS = Param(
    "status",
    "query",
    {"type": "string", "enum": ["intent", "done", "failed", "skipped"]},
    "Only actions in this status.",
)


def _page(key: str, found: Any, fields: tuple[str, ...], call: Call) -> web.Response:
    items, total = found if isinstance(found, tuple) else (found, None)
    items = list(items)
    body = {
        key: rows(items, fields),
        "total": total if total is not None else call.query["offset"] + len(items),
        "limit": call.query["limit"],
        "offset": call.query["offset"],
    }
    return web.json_response(body)


#: The torrent row's JSON template and per-field encoders (``serialize.row_encoders``).
_TORRENT_JSON = row_encoders(TORRENT_FIELDS, TIME_COLUMNS, BOOL_COLUMNS)
#: The same JSON for a whole listing at once (``serialize.row_json_encoder``).
_TORRENT_ROWS = row_json_encoder(TORRENT_FIELDS, TIME_COLUMNS, BOOL_COLUMNS)


def _torrents_body(store: Any, q: dict[str, Any], instance: str | None) -> bytes:
    """The page as JSON bytes: read (only the API's columns, in index order, values as the
    driver returns them) and encoded in the worker thread, so the event loop only sends it."""
    values, total = store.torrent_page_values(
        instance, q["state"], q["limit"], q["offset"], columns=TORRENT_FIELDS
    )
    return page_json("torrents", values, _TORRENT_JSON, total, q["limit"], q["offset"])


def _torrent_listing(
    store: Any, instance: str | None, state: str | None, max_rows: int
) -> list[bytes] | None:
    """Every row of the listing, each as the JSON object a page writes for it (None: more
    than ``max_rows``), read and encoded in the worker thread. The heap is trimmed after:
    a listing is read again at every store change, on whichever store thread is free, and
    glibc kept each thread's arena at the size of the largest listing it had built (WebUI
    RSS 81 -> 118 MB in the bench at 10,000 torrents)."""
    from ..memory import trim

    rows = store.torrent_listing_values(instance, state, TORRENT_FIELDS, max_rows, _TORRENT_ROWS)
    trim()
    return rows


def _torrents_from(rows: list[bytes], limit: int, offset: int) -> bytes:
    return page_of_rows("torrents", rows, len(rows), limit, offset)


async def torrents(call: Call) -> web.Response:
    """Served while the store is unchanged from the listing cache (a page is a slice of the
    encoded listing, on the event loop) or the response cache (``cache.py``)."""
    q = call.query
    app = call.app
    instance = known_instance(call, q["instance"])
    state = shared(app)
    body = await state.listings.page(
        ("torrents", instance, q["state"]),
        q["limit"],
        q["offset"],
        lambda: blocking(app, _torrents_body, state.store, q, instance),
        lambda most: blocking(app, _torrent_listing, state.store, instance, q["state"], most),
        _torrents_from,
    )
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def downloads(call: Call) -> web.Response:
    q = call.query
    instance = known_instance(call, q["instance"])
    store = shared(call.app).store
    found = await blocking(
        call.app, store.list_downloads, instance=instance, limit=q["limit"], offset=q["offset"]
    )
    return _page("downloads", found, TORRENT_FIELDS, call)


async def searches(call: Call) -> web.Response:
    q = call.query
    instance = known_instance(call, q["instance"])
    store = shared(call.app).store
    found = await blocking(
        call.app, store.list_searches, instance=instance, limit=q["limit"], offset=q["offset"]
    )
    return _page("searches", found, SEARCH_FIELDS, call)


async def actions(call: Call) -> web.Response:
    q = call.query
    instance = known_instance(call, q["instance"])
    store = shared(call.app).store
    found = await blocking(
        call.app,
        store.list_actions,
        instance=instance,
        hash=q["hash"],
        status=q["status"],
        limit=q["limit"],
        offset=q["offset"],
    )
    return _page("actions", found, ACTION_FIELDS, call)


def _list_route(
    path: str,
    handler: Any,
    summary: str,
    description: str,
    key: str,
    item: str,
    extra: tuple[Param, ...] = (),
) -> Route:
    return Route(
        "GET",
        path,
        handler,
        summary,
        "history",
        description,
        params=(*PAGING[:1], *extra, *PAGING[1:]),
        responses={
            200: Resp(f"A page of {key}, newest first.", page_of(key, item)),
            404: Resp("The instance is not configured.", {"$ref": "#/components/schemas/Error"}),
        },
    )


ROUTES = (
    _list_route(
        "/api/v1/torrents",
        torrents,
        "List tracked torrents",
        "Torrents the managers track, with state, strikes and last action.",
        "torrents",
        "Torrent",
        (STATE,),
    ),
    _list_route(
        "/api/v1/downloads",
        downloads,
        "Download history",
        "Torrents that finished downloading (completed, imported or seeding), newest first.",
        "downloads",
        "Torrent",
    ),
    _list_route(
        "/api/v1/searches",
        searches,
        "Search history",
        "Searches the managers asked the Arr apps for.",
        "searches",
        "Search",
    ),
    _list_route(
        "/api/v1/actions",
        actions,
        "Action history (audit trail)",
        "Every action taken or intended, with its reason and outcome.",
        "actions",
        "Action",
        (ACTION_HASH, ACTION_STATUS),
    ),
)
