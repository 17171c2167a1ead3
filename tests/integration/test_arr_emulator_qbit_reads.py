"""What the emulator asks qBittorrent, seen through a recording proxy in front of the real
qbittorrent-nox: a queue read asks for the emulator's category only (``torrents/info``, as
the real Arr does), a large category is followed with ``sync/maindata`` changes, and a
DELETE of a queue record reads nothing first (the real Arr removes what it tracks)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.arr_emulator import ArrEmulator, make_app
from services.arr_emulator.qbit import QbitClient, QbitLink
from services.runners import QbitHandle
from services.torrents import add_stalled, api, info, wait_for

KEY = "reads-key"
Seen = list[tuple[str, str, dict[str, str]]]
#: Answer headers the proxy passes on (the session cookie keeps qBittorrent's sync state).
PASSED = {"content-type", "set-cookie"}


def recording_proxy(target: str, seen: Seen) -> web.Application:
    """Forwards every request to ``target`` and notes (method, path, query) of each."""

    async def forward(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.query)))
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                target.rstrip("/") + request.path_qs,
                data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
            ) as answer,
        ):
            body = await answer.read()
            kept = [(k, v) for k, v in answer.headers.items() if k.lower() in PASSED]
            return web.Response(status=answer.status, body=body, headers=CIMultiDict(kept))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def reads(seen: Seen) -> list[tuple[str, str, dict[str, str]]]:
    return [s for s in seen if s[1] != "/api/v2/auth/login"]


async def test_the_queue_asks_for_its_category_and_a_delete_reads_nothing(
    qbit: QbitHandle, aiohttp_client: Any, aiohttp_server: Any
) -> None:
    category, other = f"reads-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    mine = add_stalled(qbit, f"Mine.{category}", 4096, category=category)
    add_stalled(qbit, f"Not.Mine.{other}", 4096, category=other)
    seen: Seen = []
    proxy = await aiohttp_server(recording_proxy(qbit.url, seen))
    client = await aiohttp_client(make_app(ArrEmulator("radarr", KEY)))
    headers = {"X-Api-Key": KEY}
    async with client.put(
        "/_emulator/qbittorrent", json={"url": str(proxy.make_url("/")), "category": category}
    ) as r:
        assert r.status == 200, await r.text()

    async with client.get(
        "/api/v3/queue", params={"includeUnknownMovieItems": "true"}, headers=headers
    ) as r:
        records = (await r.json())["records"]
    assert [r["downloadId"] for r in records] == [mine.hash.upper()]
    assert reads(seen) == [("GET", "/api/v2/torrents/info", {"category": category})]

    seen.clear()
    async with client.delete(
        f"/api/v3/queue/{records[0]['id']}",
        params={"removeFromClient": "true", "blocklist": "true"},
        headers=headers,
    ) as r:
        assert r.status == 200, await r.text()
    assert [(m, p) for m, p, _ in reads(seen)] == [("POST", "/api/v2/torrents/delete")]
    wait_for(lambda: info(api(qbit), mine.hash) is None, "the torrent to leave qBittorrent")


async def test_a_large_category_is_followed_with_maindata_changes(
    qbit: QbitHandle, aiohttp_server: Any
) -> None:
    category = f"large-{uuid.uuid4().hex[:8]}"
    for n in range(3):
        add_stalled(qbit, f"Large.{n}.{category}", 4096, category=category)
    seen: Seen = []
    proxy = await aiohttp_server(recording_proxy(qbit.url, seen))
    client = QbitClient(QbitLink(str(proxy.make_url("/")), category), info_limit=2)
    try:
        first = await client.torrents()
        second = await client.torrents()
        third = await client.torrents()
    finally:
        await client.close()
    assert len(first) == len(second) == len(third) == 3
    assert third[0] is second[0], "an unchanged torrent keeps its dict"
    asked = [(p, q) for _, p, q in reads(seen)]
    assert asked[0] == ("/api/v2/torrents/info", {"category": category})
    assert asked[1] == ("/api/v2/sync/maindata", {"rid": "0"}), "more than 2: follow changes"
    assert asked[2][0] == "/api/v2/sync/maindata" and asked[2][1]["rid"] != "0"
