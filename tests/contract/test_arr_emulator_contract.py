"""The Arr emulator against the real OpenAPI documents (contracts/).

For Radarr v3, Sonarr v3 and Lidarr v1: every route the emulator serves is a documented
path and method; every answer of every emulated route validates against the documented
schema (errors against the README's shapes); and the requests ``ArrClient`` sends (query
parameters, path parameters, bodies) are ones the document declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from arr_contract import Contract

from qbitrr_mqtt.clients.arr import ArrClient
from qbitrr_mqtt.config.models import ArrInstance
from services.arr_emulator import ArrEmulator, make_app, start_arr_emulator
from services.arr_emulator.flavors import FLAVORS
from services.arr_emulator.queue import TRACKED_STATES

KEY = "contract-key"
KINDS = ["radarr", "sonarr", "lidarr"]


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, document-style template) of every Arr route the app serves."""
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        template = info.get("path") or info.get("formatter") or ""
        if template.startswith("/_emulator") or route.method == "HEAD":
            continue
        routes.add((route.method, re.sub(r"\{(\w+):[^}]+\}", r"{\1}", template)))
    return routes


class Checked:
    """An aiohttp test client whose every answer is validated against the document."""

    def __init__(self, client: TestClient, contract: Contract, emulator: ArrEmulator) -> None:
        self.client = client
        self.emulator = emulator
        self.contract = contract
        self.root = FLAVORS[contract.kind].api_root
        self.seen: set[tuple[str, str]] = set()

    async def call(
        self, method: str, endpoint: str, *, key: str | None = KEY, **kwargs: Any
    ) -> tuple[int, bytes]:
        path = endpoint if endpoint.startswith("/") else f"{self.root}/{endpoint}"
        headers = {"X-Api-Key": key} if key else {}
        headers.update(kwargs.pop("headers", {}))
        async with self.client.request(method, path, headers=headers, **kwargs) as response:
            body = await response.read()
        self.contract.validate_response(method, path, response.status, body)
        self.seen.add((method, self.contract.template_of(path)))
        return response.status, body

    async def json(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        import json

        status, body = await self.call(method, endpoint, **kwargs)
        assert status < 300, (status, body)
        return json.loads(body) if body else None


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def checked(kind: str, contracts: dict[str, Contract], aiohttp_client: Any) -> Checked:
    emulator = ArrEmulator(kind, KEY, seed="demo", command_step=0)
    client = await aiohttp_client(make_app(emulator))
    return Checked(client, contracts[kind], emulator)


def test_every_served_route_is_documented(kind: str, contracts: dict[str, Contract]) -> None:
    app = make_app(ArrEmulator(kind, KEY))
    routes = served_routes(app)
    assert len(routes) >= 14
    paths = contracts[kind].raw["paths"]
    missing = sorted(f"{m} {t}" for m, t in routes if m.lower() not in paths.get(t, {}))
    assert not missing, f"{kind} serves routes its document does not have: {missing}"


async def populate(checked: Checked, emu: ArrEmulator) -> dict[str, Any]:
    """Queue records in every tracked state, linked and unknown, across the library."""
    flavor = emu.flavor
    items = sorted(emu.library.items)
    states = sorted(TRACKED_STATES[flavor.kind])  # every state this kind sends
    hashes = {}
    for n, state in enumerate(states):
        download = f"{n:02d}" + "ab" * 19
        spec: dict[str, Any] = {"tracked_state": state}
        if state in {"importBlocked", "importFailed", "failed", "failedPending", "downloadFailed"}:
            spec.update(
                tracked_status="warning",
                status="completed",
                status_messages=[
                    {"title": "Release.Name.mkv", "messages": ["Not a Custom Format upgrade"]}
                ],
                output_path=f"/downloads/{flavor.kind}/release-{n}",
                error_message="qBittorrent is reporting an error",
            )
        if state == "downloading":
            spec.update(eta_seconds=90_061)
        emu.add_queue_record(download, f"Release.{n}", media_ids=[items[n % len(items)]], **spec)
        hashes[state] = download
    emu.add_queue_record("ff" * 20, "Unknown.Release")
    if flavor.kind == "sonarr":
        emu.add_queue_record("ee" * 20, "Season.Pack", media_ids=items[:3])
    return hashes


async def test_every_emulated_answer_matches_the_document(checked: Checked, kind: str) -> None:
    emu = checked.emulator
    flavor = emu.flavor
    await populate(checked, emu)
    includes = {
        "radarr": ["includeMovie"],
        "sonarr": ["includeSeries", "includeEpisode"],
        "lidarr": ["includeArtist", "includeAlbum"],
    }
    await checked.json("GET", "/ping", key=None)
    status = await checked.json("GET", "system/status")
    assert status["appName"] == flavor.app_name
    page = await checked.json(
        "GET",
        "queue",
        params={
            "page": "1",
            "pageSize": "3",
            flavor.include_unknown: "true",
            "sortKey": "timeleft",
            "sortDirection": "ascending",
        },
    )
    assert page["totalRecords"] >= 6 and len(page["records"]) == 3
    full = await checked.json(
        "GET",
        "queue",
        params={
            "pageSize": "100",
            flavor.include_unknown: "True",
            **{i: "true" for i in includes[kind]},
        },
    )
    assert {r["trackedDownloadState"] for r in full["records"]} == TRACKED_STATES[kind]
    assert all(r["downloadId"] == r["downloadId"].upper() for r in full["records"])
    known = await checked.json("GET", "queue", params={"pageSize": "100"})
    assert known["totalRecords"] == full["totalRecords"] - 1  # the unknown item is left out
    for path in ("wanted/missing", "wanted/cutoff"):
        params = {
            "page": "1",
            "pageSize": "2",
            "monitored": "true",
            "sortKey": flavor.wanted_sort,
            "sortDirection": "descending",
        }
        if kind != "radarr":
            params["includeSeries" if kind == "sonarr" else "includeArtist"] = "true"
        await checked.json("GET", path, params=params)
    await checked.json("GET", "wanted/missing", params={"monitored": "false"})
    items = await checked.json(
        "GET", flavor.item, params={flavor.parent_key: "1"} if flavor.parent_key else {}
    )
    assert items
    await checked.json("GET", f"{flavor.item}/{items[0]['id']}")
    if flavor.parent:
        parents = await checked.json("GET", flavor.parent)
        await checked.json("GET", f"{flavor.parent}/{parents[0]['id']}")
    commands = [
        {"name": flavor.search_command, flavor.items_key: [items[0]["id"]]},
        {"name": flavor.missing_command},
        {"name": flavor.cutoff_command},
        {
            "name": flavor.import_command,
            "path": "/downloads/x",
            "downloadClientId": full["records"][0]["downloadId"],
            "importMode": "Auto",
        },
        {"name": "RefreshMonitoredDownloads"},
        {"name": flavor.search_command, flavor.items_key: [99_999]},  # fails: no such item
    ]
    if flavor.parent_search_command:
        commands.append(
            {"name": flavor.parent_search_command, flavor.parent_key: items[0][flavor.parent_key]}
        )
    created = [await checked.json("POST", "command", json=c) for c in commands]
    assert all(c["status"] == "queued" for c in created)
    done = await checked.json("GET", "command")
    assert {c["status"] for c in done} == {"completed", "failed"}
    await checked.json("GET", f"command/{created[0]['id']}")
    record_ids = [r["id"] for r in full["records"]]
    await checked.call(
        "DELETE",
        f"queue/{record_ids[1]}",
        params={
            "removeFromClient": "true",
            "blocklist": "true",
            "skipRedownload": "false",
            "changeCategory": "false",
        },
    )
    await checked.call(
        "DELETE", "queue/bulk", params={"blocklist": "false"}, json={"ids": record_ids[2:4]}
    )
    blocklist = await checked.json(
        "GET",
        "blocklist",
        params={"page": "1", "pageSize": "10", "sortKey": "date", "sortDirection": "descending"},
    )
    assert blocklist["totalRecords"] == 1
    history = await checked.json(
        "GET",
        "history",
        params={"page": "1", "pageSize": "50", "downloadId": full["records"][1]["downloadId"]},
    )
    assert {h["eventType"] for h in history["records"]} == {"grabbed", "downloadFailed"}
    await checked.json("GET", "history", params={"eventType": "1"})
    app_routes = served_routes(checked.client.app)
    assert app_routes <= checked.seen, f"not exercised: {sorted(app_routes - checked.seen)}"


async def test_error_answers_have_the_real_shapes(checked: Checked, kind: str) -> None:
    flavor = FLAVORS[kind]
    status, body = await checked.call("GET", "queue", key=None)
    assert (status, body) == (401, b"")
    status, _ = await checked.call("GET", "queue", key="wrong")
    assert status == 401
    status, _ = await checked.call("GET", "queue", key=None, params={"apikey": KEY})
    assert status == 200
    status, _ = await checked.call(
        "GET", "queue", key=None, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert status == 200
    status, body = await checked.call("DELETE", "queue/424242")
    assert (status, body) == (404, b'{"message":"NotFound"}')
    for path in (f"{flavor.item}/424242", "command/424242"):
        status, _ = await checked.call("GET", path)
        assert status == 404
    status, _ = await checked.call("GET", "queue", params={flavor.include_unknown: "yes"})
    assert status == 400
    status, _ = await checked.call("POST", "command", json={"name": "NoSuchCommand"})
    assert status == 400
    emu = checked.emulator
    emu.add_fault("queue", status=500, count=2)
    assert [(await checked.call("GET", "queue"))[0] for _ in range(3)] == [500, 500, 200]
    emu.add_fault("command*", status=503, method="POST")
    status, _ = await checked.call("POST", "command", json={"name": flavor.missing_command})
    assert status == 503


# --- the requests ArrClient sends --------------------------------------------------------


@pytest.fixture
def emulator_process(kind: str, tmp_path: Path) -> Iterator[Any]:
    with start_arr_emulator(tmp_path, kind, api_key=KEY, seed="demo", command_step=0) as handle:
        yield handle


def test_arr_client_requests_match_the_document(
    kind: str, emulator_process: Any, contracts: dict[str, Contract]
) -> None:
    handle = emulator_process
    items = handle.generate(3, hasFile=False)
    records = handle.add_queue(downloadId="cd" * 20, title="Release", mediaIds=items[:1])
    handle.add_queue(downloadId="ef" * 20, title="Finished", mediaIds=items[1:2])
    client = ArrClient(
        ArrInstance(name=f"{kind}-contract", type=kind, url=handle.url, api_key=KEY, category=kind)
    )  # type: ignore[arg-type]
    try:
        client.system_status()
        assert len(client.queue()) == 2
        client.wanted(limit=5)
        client.wanted(cutoff=True, limit=5)
        command = client.search(items)
        client.get_command(command["id"])
        client.search_missing()
        client.import_scan("/downloads/finished", "ef" * 20)
        client.remove_queue_item(
            records[0]["id"], remove_from_client=False, blocklist=True, skip_redownload=True
        )
    finally:
        client.close()
    calls = handle.calls()
    assert len(calls) == 9
    contract = contracts[kind]
    for call in calls:
        assert call["status"] < 300, call
        contract.validate_request(call["method"], call["path"], call["query"], call["json"])
