"""Who may call the HTTP API: tokens, CORS and body limits, on the real app and store.

Routes come from the app's own route table and its OpenAPI document, so a route added later
is covered without touching this file. Each request is otherwise well-formed (valid body,
known instance), so the token is the only thing that can make it fail.
"""

from __future__ import annotations

import ast
import hmac
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH, TOKEN, webui_app, write_config

from qbitrr_mqtt import webui
from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.webui import route_table, security
from qbitrr_mqtt.webui.app import MAX_BODY

SAMPLE_PATH = {"name": "radarr", "id": "0" * 32, "process": "bridge"}
SAMPLE_BODY = {
    "/api/v1/instances/{name}/search": {"missing": True},
    "/api/v1/commands": {"command": "run_now", "instance": "radarr"},
    "/api/v1/config": {"yaml": "settings: {dry_run: true}\n"},
}
FOREIGN = "https://evil.example"


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH[m.group(1)], path)


def protected_routes() -> list[tuple[str, str]]:
    """(method, path template) of every /api/v1 route the server registers."""
    return sorted(
        (r.method, r.path) for r in route_table() if r.path.startswith(security.PROTECTED_PREFIX)
    )


async def call(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    body = SAMPLE_BODY.get(path) if method in ("POST", "PUT") else None
    return await client.request(method, fill(path), json=body, headers=headers)


async def test_route_table_and_document_agree(client: Any) -> None:
    """The routes checked below are exactly what the document and the router serve."""
    doc = await (await client.get("/api/openapi.json")).json()
    documented = sorted(
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        if path.startswith(security.PROTECTED_PREFIX)
        for method in ops
    )
    registered = sorted(
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith(security.PROTECTED_PREFIX)
        and r.method != "HEAD"
    )
    assert protected_routes() == documented == registered
    assert len(documented) >= 15
    for method, path in documented:
        op = doc["paths"][path][method.lower()]
        assert "401" in op["responses"], (method, path)


WRONG = [
    pytest.param({}, id="none"),
    pytest.param({"X-API-Token": "nope"}, id="wrong"),
    pytest.param({"X-API-Token": TOKEN[:-1]}, id="prefix"),
    pytest.param({"X-API-Token": TOKEN + "x"}, id="longer"),
    pytest.param({"X-API-Token": TOKEN.upper()}, id="case"),
    pytest.param({"Authorization": f"Basic {TOKEN}"}, id="basic-scheme"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-empty"),
    pytest.param({"Authorization": f"Bearer {TOKEN[:8]}"}, id="bearer-short"),
    pytest.param({"X-API-Token": "tök-ünïcode-☃"}, id="unicode"),
    pytest.param({"Cookie": f"token={TOKEN}"}, id="cookie"),
]


@pytest.mark.parametrize("headers", WRONG)
async def test_every_api_route_refuses_missing_and_wrong_tokens(
    client: Any, headers: dict[str, str]
) -> None:
    for method, path in protected_routes():
        resp = await call(client, method, path, headers)
        assert resp.status == 401, (method, path, resp.status, await resp.text())
        body = await resp.json()
        assert body["error"]["code"] == "unauthorized"
        assert TOKEN not in await resp.text()
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_in_the_query_string_is_not_accepted(client: Any) -> None:
    for method, path in protected_routes():
        resp = await client.request(method, fill(path) + f"?token={TOKEN}&api_key={TOKEN}")
        assert resp.status == 401, (method, path)


async def test_the_right_token_opens_every_route(client: Any) -> None:
    """Positive control: the same requests with the token are not refused for auth."""
    for headers in (AUTH, {"Authorization": f"Bearer {TOKEN}"}):
        for method, path in protected_routes():
            if path in ("/api/v1/events",) or path.endswith("{process}"):
                continue  # streams / files: checked elsewhere
            resp = await call(client, method, path, headers)
            assert resp.status not in (401, 403, 500), (method, path, await resp.text())


async def test_metrics_needs_the_token_unless_public(client: Any) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=AUTH)).status == 200


async def test_token_is_compared_with_compare_digest(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check of a presented token goes through hmac.compare_digest (constant time)."""
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    assert (await client.get("/api/v1/processes", headers={"X-API-Token": "wrong"})).status == 401
    assert (await client.get("/api/v1/processes", headers=AUTH)).status == 200
    assert seen == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def _token_equality(tree: ast.AST) -> list[int]:
    """Lines where something named like a token is compared with == / !=."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
        ):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if any("token" in n.lower() or "secret" in n.lower() for n in names):
                lines.append(node.lineno)
    return lines


def test_no_token_is_compared_with_equality_anywhere_in_the_webui() -> None:
    package = Path(inspect.getfile(webui)).parent
    offenders = {
        str(p.name): lines
        for p in package.glob("*.py")
        if (lines := _token_equality(ast.parse(p.read_text(encoding="utf-8"))))
    }
    assert offenders == {}


async def test_cors_is_closed_by_default(client: Any) -> None:
    for path, headers in (("/api/health", {}), ("/api/v1/processes", AUTH), ("/", {})):
        resp = await client.get(path, headers={"Origin": FOREIGN, **headers})
        assert resp.status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers, path
        assert "Access-Control-Allow-Credentials" not in resp.headers, path
    for method, path in protected_routes():
        pre = await client.options(
            fill(path),
            headers={
                "Origin": FOREIGN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "X-API-Token",
            },
        )
        assert pre.status == 403, (method, path)
        assert "Access-Control-Allow-Origin" not in pre.headers


async def test_cors_opens_only_for_the_configured_origin(
    aiohttp_client: Any, tmp_path: Path, store: Any
) -> None:
    """Positive control: the same checks do pass for an origin the config names."""
    path = write_config(tmp_path / "cors", webui={"token": TOKEN, "cors_origins": [FOREIGN]})
    client = await aiohttp_client(webui_app(load_config(path, env={}), store))
    pre = await client.options(
        "/api/v1/processes",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "GET"},
    )
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == FOREIGN
    other = await client.options(
        "/api/v1/processes",
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "GET"},
    )
    assert other.status == 403
    resp = await client.get("/api/v1/processes", headers={"Origin": FOREIGN, **AUTH})
    assert resp.headers["Access-Control-Allow-Origin"] == FOREIGN


def _body_routes() -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in route_table() if r.body is not None]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_bodies_are_refused_with_413(client: Any, chunked: bool) -> None:
    big = b'{"yaml": "' + b"a" * (MAX_BODY + 10) + b'"}'
    routes = _body_routes()
    assert routes, "no route takes a body?"
    for method, path in routes:

        async def gen(data: bytes = big) -> Any:
            for i in range(0, len(data), 65536):
                yield data[i : i + 65536]

        resp = await client.request(
            method,
            fill(path),
            data=gen() if chunked else big,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert resp.status == 413, (method, path, resp.status)
        body = await resp.json()
        assert body["error"]["code"] == "body_too_large"
    # the server is fine afterwards
    assert (await client.get("/api/v1/processes", headers=AUTH)).status == 200
