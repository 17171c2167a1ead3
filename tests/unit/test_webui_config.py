"""WebUI: token auth, error shape, OpenAPI document, config read/replace, logs, the page."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest
import yaml

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.webui import create_app
from qbitrr_mqtt.webui.security import ensure_token

TOKEN = "test-token-0123456789"
AUTH = {"X-API-Token": TOKEN}
CONFIG_TEXT = """\
# my config: comments must survive a round trip
settings:
  data_dir: ./data
mqtt:
  password: mqtt-secret-1   # broker password
qbittorrent:
  default: {url: "http://127.0.0.1:8080", username: admin, password: qbit-secret-2}
arr:
  radarr:
    type: radarr
    url: http://127.0.0.1:7878
    api_key: radarr-key-3
  sonarr:
    type: sonarr
    url: http://127.0.0.1:8989
    api_key: sonarr-key-4
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_TEXT, encoding="utf-8")
    path.chmod(0o640)
    return path


@pytest.fixture
async def client(aiohttp_client, config_file: Path):
    config = load_config(config_file, env={})
    return await aiohttp_client(create_app(config, None, token=TOKEN))


async def test_every_api_route_needs_the_token(client):
    for method, path in [
        ("GET", "/api/v1/processes"),
        ("GET", "/api/v1/config"),
        ("PUT", "/api/v1/config"),
        ("POST", "/api/v1/commands"),
        ("GET", "/api/v1/logs/bridge"),
    ]:
        for headers in (
            {},
            {"X-API-Token": "wrong"},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            resp = await client.request(method, path, headers=headers)
            assert resp.status == 401, (method, path, headers)
            body = await resp.json()
            assert body["error"]["code"] == "unauthorized"
            assert TOKEN not in json.dumps(body)
    resp = await client.get("/api/v1/logs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200


async def test_unknown_routes_and_methods_answer_json(client):
    resp = await client.get("/api/v1/nope", headers=AUTH)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.delete("/api/v1/config", headers=AUTH)
    assert resp.status == 405 and "PUT" in resp.headers["Allow"]
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_openapi_describes_every_route(client):
    from qbitrr_mqtt.webui import route_table

    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    served = {(r.method.lower(), r.path) for r in route_table()}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for path in (
        "/api/health",
        "/api/v1/torrents",
        "/api/v1/config",
        "/api/v1/events",
        "/api/v1/commands",
    ):
        assert path in doc["paths"]
    torrents = doc["paths"]["/api/v1/torrents"]["get"]
    limit = next(p for p in torrents["parameters"] if p["name"] == "limit")
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 1000
    assert (
        "401" in torrents["responses"]
        and "401" not in doc["paths"]["/api/health"]["get"]["responses"]
    )


async def test_paging_and_params_are_validated_before_any_store_call(client):
    # The store is None here: a 4xx proves validation runs first.
    for query in (
        "limit=0",
        "limit=1001",
        "limit=abc",
        "offset=-1",
        "limit=1&limit=2",
        "state=../x",
    ):
        resp = await client.get(f"/api/v1/torrents?{query}", headers=AUTH)
        assert resp.status == 400, query
        assert (await resp.json())["error"]["code"] == "bad_parameter"
    resp = await client.get("/api/v1/torrents?instance=nope", headers=AUTH)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_instance"


async def test_config_read_redacts_secrets_and_keeps_comments(client):
    resp = await client.get("/api/v1/config", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    text = json.dumps(body)
    for secret in ("mqtt-secret-1", "qbit-secret-2", "radarr-key-3", "sonarr-key-4"):
        assert secret not in text
    assert "# my config: comments must survive" in body["yaml"]
    assert "# broker password" in body["yaml"]
    assert body["config"]["arr"]["radarr"]["api_key"] == "***"
    assert body["config"]["settings"]["check_interval"] == 60  # effective: defaults filled
    assert body["writable"] is True


async def test_config_round_trip_keeps_secrets_and_reports_restarts(client, config_file):
    shown = (await (await client.get("/api/v1/config", headers=AUTH)).json())["yaml"]
    edited = shown.replace("url: http://127.0.0.1:7878", "url: http://127.0.0.1:7979")
    resp = await client.put("/api/v1/config", json={"yaml": edited}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["saved"] is True
    assert body["changed"] == ["arr.radarr.url"]
    assert body["restart_required"] == ["manager-radarr"]
    assert body["supervisor_reload"] is False
    written = config_file.read_text(encoding="utf-8")
    assert "# broker password" in written and "7979" in written
    doc = yaml.safe_load(written)
    assert doc["arr"]["radarr"]["api_key"] == "radarr-key-3"  # *** kept the stored secret
    assert doc["mqtt"]["password"] == "mqtt-secret-1"
    assert Path(body["backup"]).read_text(encoding="utf-8") == CONFIG_TEXT
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o640


async def test_config_put_validate_only_writes_nothing(client, config_file):
    doc = yaml.safe_load(CONFIG_TEXT)
    doc["mqtt"]["host"] = "broker.lan"
    doc["mqtt"]["password"] = "***"
    resp = await client.put("/api/v1/config?validate_only=true", json={"config": doc}, headers=AUTH)
    body = await resp.json()
    assert resp.status == 200 and body["saved"] is False
    assert body["restart_required"] == ["bridge", "manager-radarr", "manager-sonarr"]
    assert config_file.read_text(encoding="utf-8") == CONFIG_TEXT
    assert not config_file.with_name("config.yaml.bak").exists()


async def test_config_put_rejects_invalid_with_paths_and_lines(client, config_file):
    bad = CONFIG_TEXT.replace("type: sonarr", "type: sonar").replace(
        "url: http://127.0.0.1:7878", "url: 42"
    )
    resp = await client.put(
        "/api/v1/config", data=bad.encode(), headers={**AUTH, "Content-Type": "application/yaml"}
    )
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_config"
    by_path = {p["path"]: p for p in error["problems"]}
    assert set(by_path) == {"arr.radarr.url", "arr.sonarr.type"}
    lines = bad.splitlines()
    assert "url: 42" in lines[by_path["arr.radarr.url"]["line"] - 1]
    assert "type: sonar" in lines[by_path["arr.sonarr.type"]["line"] - 1]
    assert by_path["arr.sonarr.type"]["expected"].startswith("one of")
    assert config_file.read_text(encoding="utf-8") == CONFIG_TEXT


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code"),
    [
        (b"{not json", "application/json", 400, "bad_json"),
        (b'{"yaml": 5}', "application/json", 422, "invalid_body"),
        (b'{"other": "x"}', "application/json", 422, "invalid_body"),
        (b"[]", "application/json", 422, "invalid_body"),
        (b"a: [", "application/yaml", 422, "invalid_config"),
        (b"- 1\n- 2\n", "application/yaml", 422, "invalid_config"),
        (b"x", "text/html", 415, "unsupported_media_type"),
        (b"\xff\xfe", "application/yaml", 400, "bad_body"),
    ],
)
async def test_config_put_bad_bodies_are_4xx(client, config_file, body, ctype, status, code):
    resp = await client.put("/api/v1/config", data=body, headers={**AUTH, "Content-Type": ctype})
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert config_file.read_text(encoding="utf-8") == CONFIG_TEXT


async def test_mask_for_a_secret_never_stored_is_a_problem(client):
    text = CONFIG_TEXT + "  lidarr:\n    type: lidarr\n    url: http://x:8686\n    api_key: '***'\n"
    resp = await client.put("/api/v1/config", json={"yaml": text}, headers=AUTH)
    assert resp.status == 422
    problems = (await resp.json())["error"]["problems"]
    assert [p["path"] for p in problems] == ["arr.lidarr.api_key"]
    assert problems[0]["line"] == len(text.splitlines())


async def test_huge_body_is_413(client, config_file):
    resp = await client.put(
        "/api/v1/config",
        data=b"a" * (2 * 1024 * 1024),
        headers={**AUTH, "Content-Type": "application/yaml"},
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "body_too_large"


async def test_logs_known_programs_only(client, config_file):
    logs = config_file.parent / "data" / "logs"
    logs.mkdir(parents=True)
    (logs / "bridge.log").write_text("".join(f"line {i}\n" for i in range(500)), encoding="utf-8")
    body = await (await client.get("/api/v1/logs", headers=AUTH)).json()
    names = [entry["process"] for entry in body["logs"]]
    assert names == ["manager-radarr", "manager-sonarr", "events", "bridge", "webui", "supervisord"]
    assert next(e for e in body["logs"] if e["process"] == "bridge")["exists"] is True
    tail = await (await client.get("/api/v1/logs/bridge?lines=3", headers=AUTH)).json()
    assert tail["lines"] == ["line 497", "line 498", "line 499"]
    empty = await (await client.get("/api/v1/logs/webui", headers=AUTH)).json()
    assert empty["lines"] == []
    for bad in ("..%2f..%2fetc%2fpasswd", "..", "nobody", "bridge.log", "%2e%2e"):
        resp = await client.get(f"/api/v1/logs/{bad}", headers=AUTH)
        assert resp.status in (400, 404), bad
        assert "root:" not in await resp.text()
    resp = await client.get("/api/v1/logs/bridge?lines=0", headers=AUTH)
    assert resp.status == 400


async def test_log_follow_streams_new_lines(client, config_file):
    logs = config_file.parent / "data" / "logs"
    logs.mkdir(parents=True)
    path = logs / "manager-radarr.log"
    path.write_text("old\n", encoding="utf-8")
    resp = await client.get("/api/v1/logs/manager-radarr?follow=true&lines=5", headers=AUTH)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    seen: list[str] = []

    async def read_until(word: str) -> None:
        while not any(word in line for line in seen):
            raw = await resp.content.readline()
            assert raw, "stream ended"
            if raw.startswith(b"data:"):
                seen.extend(json.loads(raw[5:])["lines"])

    await asyncio.wait_for(read_until("old"), 30)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("fresh line\n")
    await asyncio.wait_for(read_until("fresh line"), 30)
    resp.close()


async def test_page_relative_urls_and_ingress_base(client):
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    assert "<base" not in html
    assert 'src="/' not in html and 'href="/' not in html  # only relative URLs
    resp = await client.get("/", headers={"X-Ingress-Path": "/api/hassio_ingress/abc123"})
    assert '<base href="/api/hassio_ingress/abc123/">' in await resp.text()
    resp = await client.get("/", headers={"X-Ingress-Path": '/x"><script>'})
    assert "<base" not in await resp.text()
    js = await client.get("/static/app.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    assert (await client.get("/static/..%2fapp.py")).status in (400, 404)
    assert (await client.get("/static/nope.js")).status == 404


async def test_ingress_header_only_from_the_configured_proxy(aiohttp_client, config_file):
    doc = yaml.safe_load(CONFIG_TEXT)
    doc["webui"] = {"ingress_proxy": "172.30.32.2"}
    config_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    client = await aiohttp_client(create_app(load_config(config_file, env={}), None, token=TOKEN))
    resp = await client.get("/", headers={"X-Ingress-Path": "/api/hassio_ingress/abc"})
    assert "<base" not in await resp.text()  # the test client is 127.0.0.1, not the proxy


async def test_cors_closed_by_default_open_for_listed_origins(client, aiohttp_client, config_file):
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    resp = await client.options("/api/v1/processes", headers=preflight)
    assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get("/api/v1/logs", headers={**AUTH, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    doc = yaml.safe_load(CONFIG_TEXT)
    doc["webui"] = {"cors_origins": ["https://ha.example"]}
    config_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    other = await aiohttp_client(create_app(load_config(config_file, env={}), None, token=TOKEN))
    resp = await other.options(
        "/api/v1/processes", headers={**preflight, "Origin": "https://ha.example"}
    )
    assert (
        resp.status == 204 and resp.headers["Access-Control-Allow-Origin"] == "https://ha.example"
    )
    resp = await other.get("/api/v1/logs", headers={**AUTH, "Origin": "https://ha.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://ha.example"


def test_generated_token_is_kept_private_and_reused(tmp_path, caplog):
    caplog.set_level("INFO")
    first = ensure_token(None, tmp_path)
    path = tmp_path / "webui_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and path.read_text().strip() == first
    assert sum(first in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    assert ensure_token(None, tmp_path) == first
    assert not any(first in r.getMessage() for r in caplog.records)  # printed once only
    assert ensure_token("configured-token", tmp_path) == "configured-token"


def test_app_has_no_unvalidated_query_reads():
    """Every handler reads parameters through the route table (what the document says)."""
    import inspect

    from qbitrr_mqtt.webui import route_table

    for route in route_table():
        source = inspect.getsource(route.handler)
        assert "request.query" not in source and "match_info" not in source, route.path
