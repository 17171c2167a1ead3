"""The emulator's ``/_emulator`` test controls, in-process: what each route changes, and
that bad control input is a 400 with the reason."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.arr_emulator import ArrEmulator, make_app

KEY = "controls-key"


@pytest.fixture
async def client(aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(make_app(ArrEmulator("radarr", KEY, command_step=60)))


async def control(
    client: TestClient, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    async with client.request(method, f"/_emulator/{path}", json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def api(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    async with client.request(
        method, f"/api/v3/{path}", headers={"X-Api-Key": KEY}, **kwargs
    ) as response:
        assert response.status < 300, await response.text()
        return await response.json() if response.content_length else None


@pytest.mark.parametrize(
    ("method", "path", "body", "reason"),
    [
        ("POST", "queue", {"title": "no hash"}, "downloadId"),
        ("POST", "queue", {"downloadId": "ab", "mediaIds": [99]}, "no movie with id 99"),
        (
            "POST",
            "queue",
            {"downloadId": "ab", "trackedDownloadState": "importFailed"},
            "tracked_state",
        ),
        ("POST", "queue", {"downloadId": "ab", "colour": "red"}, "colour"),
        ("POST", "library/generate", {"count": 0}, "count"),
        ("POST", "faults", {"status": 999}, "not an HTTP status"),
        ("PUT", "qbittorrent", {"url": "ftp://x"}, "http(s) URL"),
        ("PATCH", "downloads/ab", {"trackedDownloadState": "nope"}, "tracked_state"),
        ("PUT", "settings", {"commandStep": -1}, "commandStep"),
        ("POST", "links", {"hash": "ab"}, "mediaIds"),
    ],
)
async def test_bad_control_input_is_a_400_with_the_reason(
    client: TestClient, method: str, path: str, body: Any, reason: str
) -> None:
    answer = await control(client, method, path, body, status=400)
    assert reason in answer["error"]


async def test_library_queue_and_download_overrides(client: TestClient) -> None:
    ids = (
        await control(
            client,
            "POST",
            "library",
            {"movies": [{"title": "A", "year": 2001}, {"title": "B", "hasFile": True}]},
        )
    )["movies"]
    assert ids == [1, 2]
    generated = (
        await control(client, "POST", "library/generate", {"count": 3, "monitored": False})
    )["ids"]
    assert generated == [3, 4, 5]
    missing = await api(client, "GET", "wanted/missing", params={"monitored": "false"})
    assert [r["id"] for r in missing["records"]] == generated
    [record] = (await control(client, "POST", "queue", {"downloadId": "ab" * 20, "mediaIds": [1]}))[
        "records"
    ]
    await control(
        client,
        "PATCH",
        f"downloads/{'ab' * 20}",
        {"trackedDownloadState": "importBlocked", "trackedDownloadStatus": "warning"},
    )
    [shown] = (await api(client, "GET", "queue"))["records"]
    assert (shown["id"], shown["trackedDownloadState"], shown["trackedDownloadStatus"]) == (
        record["id"],
        "importBlocked",
        "warning",
    )
    await control(client, "DELETE", f"queue/{record['id']}")
    await control(client, "DELETE", f"queue/{record['id']}", status=404)
    assert (await api(client, "GET", "queue"))["totalRecords"] == 0


async def test_faults_calls_and_commands(client: TestClient) -> None:
    fault = await control(
        client, "POST", "faults", {"path": "system/*", "count": -1, "status": 502}
    )
    assert (await control(client, "GET", "faults"))[0]["id"] == fault["id"]
    async with client.get("/api/v3/system/status", headers={"X-Api-Key": KEY}) as response:
        assert response.status == 502
    await control(client, "DELETE", "faults")
    await api(client, "GET", "system/status")
    calls = await control(client, "GET", "calls", None)
    assert [(c["endpoint"], c["status"]) for c in calls["calls"]] == [
        ("system/status", 502),
        ("system/status", 200),
    ]
    await control(client, "DELETE", "calls")
    assert (await control(client, "GET", "calls"))["count"] == 0
    command = await api(client, "POST", "command", json={"name": "RssSync"})
    assert (await api(client, "GET", f"command/{command['id']}"))[
        "status"
    ] == "queued"  # 60 s per stage
    finished = await control(client, "POST", "commands/finish")
    assert [c["status"] for c in finished] == ["completed"]
    assert (await control(client, "PUT", "settings", {"commandStep": 0}))["commandStep"] == 0


async def test_reset_restores_the_start(client: TestClient) -> None:
    await control(client, "POST", "library/generate", {"count": 2})
    await control(client, "POST", "queue", {"count": 3})
    state = await control(client, "GET", "state")
    assert len(state["queue"]) == 3 and state["library"]["items"] == 2
    await control(client, "POST", "reset", {"seed": "demo"})
    state = await control(client, "GET", "state")
    assert state["queue"] == [] and state["library"]["items"] == 5
