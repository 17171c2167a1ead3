"""The add-on's ingress mode: only Home Assistant's ingress proxy (and loopback) may connect.

A real ``qbitrr-mqtt webui`` process listens on 127.0.0.1. The whole 127.0.0.0/8 block is
local on Linux, so a client can connect *from* 127.0.0.2 or 127.0.0.3: one of them plays the
ingress proxy (``webui.ingress_proxy``), the other a stranger on the add-on network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import AUTH, TOKEN, WebUIProcess, write_config

from qbitrr_mqtt.addon import INGRESS_PROXY
from qbitrr_mqtt.webui.security import ingress_clients
from services.runners import free_port

PROXY = "127.0.0.3"
STRANGER = "127.0.0.2"
PATHS = ["/", "/api/health", "/api/openapi.json", "/api/v1/processes", "/metrics"]


@pytest.fixture(scope="module")
def ingress_webui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebUIProcess]:
    root = tmp_path_factory.mktemp("ingress")
    port = free_port()
    path = write_config(
        root, webui={"host": "127.0.0.1", "port": port, "token": TOKEN, "ingress_proxy": PROXY}
    )
    with WebUIProcess(path, port, root / "webui.log") as proc:
        yield proc


@pytest.mark.parametrize("path", PATHS)
def test_other_addresses_are_refused(ingress_webui: WebUIProcess, path: str) -> None:
    for headers in ({}, AUTH, {**AUTH, "X-Ingress-Path": "/api/hassio_ingress/x"}):
        status, _, body = ingress_webui.request("GET", path, headers=headers, source=STRANGER)
        assert status == 403, (path, headers, status, body)
        assert '"not_ingress"' in body
    status, _, _ = ingress_webui.request(
        "POST", "/api/v1/instances/radarr/run-now", headers=AUTH, source=STRANGER
    )
    assert status == 403


def test_the_proxy_gets_the_page_and_still_needs_the_token(ingress_webui: WebUIProcess) -> None:
    status, _, body = ingress_webui.request(
        "GET", "/", headers={"X-Ingress-Path": "/api/hassio_ingress/abc"}, source=PROXY
    )
    assert status == 200 and '<base href="/api/hassio_ingress/abc/">' in body
    assert ingress_webui.request("GET", "/api/v1/processes", source=PROXY)[0] == 401
    assert ingress_webui.request("GET", "/api/v1/processes", headers=AUTH, source=PROXY)[0] == 200


def test_loopback_still_reaches_health(ingress_webui: WebUIProcess) -> None:
    """The bridge's watchdog and the container health check connect from 127.0.0.1."""
    status, _, body = ingress_webui.request("GET", "/api/health", source="127.0.0.1")
    assert status in (200, 503) and '"status"' in body


def test_refusals_are_logged_without_the_token(ingress_webui: WebUIProcess) -> None:
    ingress_webui.request("GET", "/api/v1/config", headers=AUTH, source=STRANGER)
    log = ingress_webui.log.read_text(errors="replace")
    assert f"from {STRANGER}" in log and "ingress mode" in log
    assert TOKEN not in log


def test_without_ingress_any_address_may_connect(tmp_path: Path) -> None:
    """Outside the add-on (no webui.ingress_proxy) the token alone decides."""
    port = free_port()
    path = write_config(tmp_path, webui={"host": "127.0.0.1", "port": port, "token": TOKEN})
    with WebUIProcess(path, port, tmp_path / "webui.log") as proc:
        assert proc.request("GET", "/api/v1/processes", headers=AUTH, source=STRANGER)[0] == 200
        assert proc.request("GET", "/api/v1/processes", source=STRANGER)[0] == 401


def test_the_addon_sets_home_assistants_proxy() -> None:
    assert INGRESS_PROXY == "172.30.32.2"
    assert ingress_clients(INGRESS_PROXY) == {"172.30.32.2", "127.0.0.1", "::1"}
    assert ingress_clients("::ffff:172.30.32.2") == {"172.30.32.2", "127.0.0.1", "::1"}
    assert ingress_clients(None) == frozenset()
