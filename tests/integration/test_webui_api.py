"""WebUI API against a real SQLite store: rows written through the store, read over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.webui import create_app
from qbitrr_mqtt.webui.state import Tuning

TOKEN = "api-test-token-0123456789"
AUTH = {"X-API-Token": TOKEN}
H1 = "a" * 40
H2 = "b" * 40
CONFIG = """\
settings: {data_dir: ./data}
arr:
  radarr: {type: radarr, url: "http://127.0.0.1:7878", api_key: k-radarr}
  sonarr: {type: sonarr, url: "http://127.0.0.1:8989", api_key: k-sonarr}
"""


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'qbitrr.db'}")
    yield s
    s.close()


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path, store):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    tuning = Tuning(command_wait=1.0, poll_interval=0.1, heartbeat=0.5)
    app = create_app(load_config(path, env={}), store, None, token=TOKEN, tuning=tuning)
    return await aiohttp_client(app)


async def get(client, path: str, status: int = 200) -> Any:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def conforms(client, body: Any, component: str) -> None:
    """``body`` validates against the named schema of the served OpenAPI document."""
    doc = await (await client.get("/api/openapi.json")).json()
    schema = {**doc["components"]["schemas"][component], "components": doc["components"]}
    OAS31Validator(schema).validate(body)


async def test_torrents_paging_filters_and_shape(client, store):
    store.upsert_torrents(
        "radarr",
        [
            {
                "hash": H1,
                "name": "Movie A",
                "state": "stalledDL",
                "health": "stalled",
                "size": 5 * 2**40,
            }
        ],
    )
    store.upsert_torrents(
        "radarr",
        [
            {
                "hash": H2,
                "name": "Movie B",
                "state": "uploading",
                "health": "seeding",
                "progress": 1.0,
            }
        ],
    )
    store.upsert_torrents("sonarr", [{"hash": "c" * 40, "name": "Show", "health": "downloading"}])
    store.add_strike("radarr", H1, "stalled")
    body = await get(client, "/api/v1/torrents?instance=radarr")
    assert body["total"] == 2 and {t["hash"] for t in body["torrents"]} == {H1, H2}
    movie = next(t for t in body["torrents"] if t["hash"] == H1)
    assert (
        movie["strikes"] == 1 and movie["strike_reason"] == "stalled" and movie["size"] == 5 * 2**40
    )
    assert movie["first_seen"].endswith("+00:00")
    for item in body["torrents"]:
        await conforms(client, item, "Torrent")
    stalled = await get(client, "/api/v1/torrents?state=stalled")
    assert [t["hash"] for t in stalled["torrents"]] == [H1]
    qbit_state = await get(client, "/api/v1/torrents?state=uploading")
    assert [t["hash"] for t in qbit_state["torrents"]] == [H2]
    page = await get(client, "/api/v1/torrents?limit=1&offset=1")
    assert (
        page["total"] == 3
        and len(page["torrents"]) == 1
        and page["limit"] == 1
        and page["offset"] == 1
    )
    downloads = await get(client, "/api/v1/downloads")
    assert [t["hash"] for t in downloads["downloads"]] == [H2]
    await get(client, "/api/v1/torrents?instance=lidarr", 404)


async def test_actions_and_searches_history(client, store):
    first = store.record_intent("radarr", H1, "Movie A", "remove", "stalled 3 times")
    store.mark_done(first.id)
    store.record_intent("sonarr", None, None, "re_search", "after removal", media_id=7)
    store.record_search("radarr", 42, "missing")
    body = await get(client, "/api/v1/actions")
    assert [a["action"] for a in body["actions"]] == ["re_search", "remove"]  # newest first
    for item in body["actions"]:
        await conforms(client, item, "Action")
    only = await get(client, f"/api/v1/actions?instance=radarr&hash={H1}&status=done")
    assert [a["id"] for a in only["actions"]] == [first.id]
    assert (await get(client, "/api/v1/actions?status=failed"))["total"] == 0
    await get(client, "/api/v1/actions?status=nonsense", 400)
    await get(client, "/api/v1/actions?hash=xyz", 400)
    searches = await get(client, "/api/v1/searches?instance=radarr")
    assert (
        searches["searches"][0]["media_id"] == 42 and searches["searches"][0]["kind"] == "missing"
    )
    await conforms(client, searches["searches"][0], "Search")


async def test_instances_join_config_and_state(client, store):
    store.upsert_instance_state(
        "radarr",
        qbit_connected=True,
        arr_connected=False,
        counts={"stalled": 2, "downloading": 5},
        queue_size=7,
        error="radarr: 401 Unauthorized",
    )
    body = await get(client, "/api/v1/instances")
    by_name = {i["name"]: i for i in body["instances"]}
    assert list(by_name) == ["radarr", "sonarr"]
    radarr = by_name["radarr"]
    assert radarr["counts"] == {"stalled": 2, "downloading": 5}
    assert radarr["qbit_connected"] is True and radarr["arr_connected"] is False
    assert radarr["program"] == "manager-radarr" and radarr["error"].startswith("radarr:")
    assert by_name["sonarr"]["counts"] == {} and by_name["sonarr"]["qbit_connected"] is None
    for item in body["instances"]:
        await conforms(client, item, "Instance")


async def test_processes_from_the_store_without_supervisord(client, store):
    store.upsert_process_health(
        "manager-radarr",
        state="FATAL",
        pid=None,
        restart_count=5,
        restart_limit_reached=True,
        last_exit="exit status 1",
    )
    store.upsert_process_health("bridge", state="RUNNING", pid=4242, restart_count=0)
    body = await get(client, "/api/v1/processes")
    by_name = {p["name"]: p for p in body["processes"]}
    assert by_name["manager-radarr"]["restart_limit_reached"] is True
    assert (
        by_name["manager-radarr"]["category"] == "manager"
        and by_name["manager-radarr"]["instance"] == "radarr"
    )
    assert by_name["bridge"]["pid"] == 4242 and by_name["bridge"]["source"] == "store"
    for item in body["processes"]:
        await conforms(client, item, "Process")
    health = await client.get("/api/health")
    assert health.status == 200  # no supervisord configured is not a fault of this app
    answer = await health.json()
    assert answer["supervisor"]["ok"] is None
    # The database's size is part of health (a file on SQLite, pg_database_size on PostgreSQL).
    assert isinstance(answer["store"]["db_size"], int) and answer["store"]["db_size"] > 0


def finish_soon(store, instance: str, result: Any, error: str | None = None) -> threading.Thread:
    """Play the manager: claim the next command of ``instance`` and finish it."""

    def run() -> None:
        for _ in range(400):
            claimed = store.claim_next_command(instance)
            if claimed is not None:
                store.finish_command(claimed.id, result=result, error=error)
                return
            threading.Event().wait(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def test_command_waits_for_the_managers_outcome(client, store):
    thread = finish_soon(store, "radarr", {"searched": [1, 2]})
    resp = await client.post(
        "/api/v1/instances/radarr/search",
        json={"media_ids": [1, 2], "transaction": "t-1"},
        headers=AUTH,
    )
    thread.join(10)
    body = await resp.json()
    if resp.status == 202:  # the machine was slower than command_wait: poll the outcome
        for _ in range(100):
            body = await get(client, f"/api/v1/commands/{body['id']}")
            if body["status"] == "done":
                break
            await asyncio.sleep(0.1)
    assert body["status"] == "done" and body["result"] == {"searched": [1, 2]}
    assert body["command"] == "search" and body["payload"] == {"media_ids": [1, 2]}
    assert body["source"] == "http" and body["transaction"] == "t-1"
    await conforms(client, body, "Command")
    assert (await get(client, f"/api/v1/commands/{body['id']}"))["status"] == "done"


async def test_command_without_a_manager_is_queued_202(client, store):
    resp = await client.post(
        "/api/v1/commands",
        json={"command": "remove", "instance": "sonarr", "hash": H1.upper(), "blocklist": True},
        headers=AUTH,
    )
    assert resp.status == 202
    body = await resp.json()
    assert body["status"] == "pending" and resp.headers["Location"] == f"commands/{body['id']}"
    stored = store.get_command(body["id"])
    assert stored.command == "remove" and stored.instance == "sonarr"
    assert json.loads(stored.payload) == {"hash": H1, "blocklist": True}
    error_thread = finish_soon(store, "sonarr", None, error="torrent not found")
    error_thread.join(10)
    assert (await get(client, f"/api/v1/commands/{body['id']}"))["error"] == "torrent not found"


async def test_run_now_and_dry_run_and_protect(client, store):
    for body in (
        {"command": "run_now", "instance": "radarr"},
        {"command": "dry_run", "instance": "radarr", "value": True},
        {"command": "protect", "instance": "radarr", "hash": H1, "value": True},
        {"command": "recheck", "instance": "radarr", "hash": H1},
        {"command": "search", "instance": "radarr", "missing": True},
    ):
        resp = await client.post("/api/v1/commands", json=body, headers=AUTH)
        assert resp.status == 202, (body, await resp.text())
    resp = await client.post("/api/v1/instances/sonarr/run-now", headers=AUTH)
    assert resp.status == 202
    commands, total = store.list_commands(status="pending")
    assert total == 6
    assert sorted(c.command for c in commands) == [
        "dry_run",
        "protect",
        "recheck",
        "run_now",
        "run_now",
        "search",
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/commands", {"command": "explode", "instance": "radarr"}, 422, "invalid_body"),
        (
            "/api/v1/commands",
            {"command": "search", "instance": "radarr", "media_ids": ["1"]},
            422,
            "invalid_body",
        ),
        (
            "/api/v1/commands",
            {"command": "search", "instance": "radarr", "media_ids": [1], "missing": True},
            422,
            "invalid_body",
        ),
        ("/api/v1/commands", {"command": "search", "instance": "radarr"}, 422, "invalid_body"),
        (
            "/api/v1/commands",
            {"command": "dry_run", "instance": "radarr", "value": "yes"},
            422,
            "invalid_body",
        ),
        ("/api/v1/commands", {"command": "remove", "instance": "radarr"}, 422, "invalid_body"),
        (
            "/api/v1/commands",
            {"command": "remove", "instance": "radarr", "hash": "zz"},
            422,
            "invalid_body",
        ),
        ("/api/v1/commands", {"command": "run_now", "instance": "nope"}, 404, "unknown_instance"),
        ("/api/v1/commands", {"command": "run_now", "instance": "Bad Name"}, 422, "invalid_body"),
        ("/api/v1/commands", [1, 2], 422, "invalid_body"),
        ("/api/v1/commands", None, 400, "missing_body"),
        ("/api/v1/instances/nope/search", {"missing": True}, 404, "unknown_instance"),
        ("/api/v1/instances/radarr/search", {"media_ids": []}, 422, "invalid_body"),
        ("/api/v1/instances/radarr/search", {"missing": False}, 422, "invalid_body"),
        ("/api/v1/instances/radarr/run-now", {"surprise": 1}, 422, "invalid_body"),
        ("/api/v1/instances/radarr/restart", None, 503, "supervisor_unavailable"),
        ("/api/v1/instances/nope/restart", None, 404, "unknown_instance"),
        (
            "/api/v1/commands",
            {"command": "restart", "instance": "webui"},
            409,
            "cannot_restart_self",
        ),
    ],
)
async def test_bad_commands_are_4xx_or_explained(client, store, path, body, status, code):
    kwargs = {"json": body} if body is not None else {}
    resp = await client.post(path, headers=AUTH, **kwargs)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert store.list_commands()[1] == 0  # nothing was queued


async def test_command_lookup_404_and_bad_id(client):
    await get(client, "/api/v1/commands/" + "0" * 32, 404)
    await get(client, "/api/v1/commands/..%2f..%2fetc", 400)


async def read_events(resp, wanted: int, timeout: float = 30) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    name = None

    async def collect() -> None:
        nonlocal name
        while len(events) < wanted:
            raw = (await resp.content.readline()).decode()
            assert raw, "the stream ended"
            if raw.startswith("event:"):
                name = raw[6:].strip()
            elif raw.startswith("data:"):
                events.append((name, json.loads(raw[5:])))

    await asyncio.wait_for(collect(), timeout)
    return events


async def test_events_stream_actions_and_process_changes(client, store):
    old = store.record_intent("radarr", H1, "Old", "remove", "before the stream")
    resp = await client.get("/api/v1/events", headers=AUTH)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    (hello,) = await read_events(resp, 1)
    assert hello[0] == "hello" and hello[1]["cursor"].startswith(f"{old.id}:")
    action = store.record_intent("radarr", H2, "New", "remove", "stalled")
    store.record_process_event("manager-radarr", "RUNNING", "EXITED", pid=99, expected=False)
    got = await read_events(resp, 2)
    assert ("action", "New", "intent") in [(n, d.get("name"), d.get("status")) for n, d in got]
    assert any(n == "process" and d["to_state"] == "EXITED" for n, d in got)
    store.mark_done(action.id)
    (update,) = await read_events(resp, 1)
    assert update[0] == "action" and update[1]["id"] == action.id and update[1]["status"] == "done"
    resp.close()


async def test_events_resume_after_last_event_id(client, store):
    first = store.record_intent("radarr", H1, "One", "remove", "r")
    second = store.record_intent("radarr", H2, "Two", "remove", "r")
    resp = await client.get("/api/v1/events", headers={**AUTH, "Last-Event-ID": f"{first.id}:0"})
    got = await read_events(resp, 2)
    assert got[0][0] == "hello" and got[1][1]["id"] == second.id
    resp.close()


async def test_health_degraded_when_the_store_is_unusable(aiohttp_client, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    db = tmp_path / "broken.db"
    broken = open_store(f"sqlite:///{db}")
    broken.engine.dispose()
    for name in ("broken.db", "broken.db-wal", "broken.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    client = await aiohttp_client(create_app(load_config(path, env={}), broken, None, token=TOKEN))
    resp = await client.get("/api/health")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "degraded" and body["store"]["ok"] is False
    assert body["problems"][0].startswith("store unusable")
    resp = await client.get("/api/v1/torrents", headers=AUTH)
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "store_unavailable"
    broken.close()


async def test_http_and_mqtt_validate_commands_alike(aiohttp_client, tmp_path, store):
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG + "  lidarr: {type: lidarr, url: 'http://x:8686', api_key: k, enabled: false}\n",
        encoding="utf-8",
    )
    app = create_app(
        load_config(path, env={}), store, None, token=TOKEN, tuning=Tuning(command_wait=0.05)
    )
    client = await aiohttp_client(app)
    resp = await client.post(
        "/api/v1/commands", json={"command": "run_now", "instance": "lidarr"}, headers=AUTH
    )
    assert resp.status == 422
    assert "disabled" in (await resp.json())["error"]["message"]
    resp = await client.post(
        "/api/v1/commands",
        json={"command": "protect", "instance": "radarr", "hash": H1, "transaction": 17},
        headers=AUTH,
    )
    assert resp.status == 202
    body = await resp.json()
    assert body["payload"] == {"hash": H1, "value": True} and body["transaction"] == "17"
    resp = await client.post(
        "/api/v1/instances/radarr/search", json={"media_ids": [3, 3, 4]}, headers=AUTH
    )
    assert (await resp.json())["payload"] == {"media_ids": [3, 4]}
