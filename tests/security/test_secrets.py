"""No secret in any log line or API answer.

The config holds a distinctive value for every kind of secret (WebUI token, MQTT and
qBittorrent passwords, Arr API keys, the database password). Real processes run on it at
DEBUG level: the WebUI (every GET route, config reads and rejected writes, wrong tokens),
the bridge (connected to a real Mosquitto, answering requests) and a manager (whose
qBittorrent and Arr are unreachable, so its errors name their URLs). Then every log and
every answer is searched for every secret.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH, SECRETS, WebUIProcess, leaked, write_config
from typer.testing import CliRunner

from qbitrr_mqtt.cli import app
from qbitrr_mqtt.mqtt.testing import MqttProbe
from qbitrr_mqtt.mqtt.topics import Topics
from qbitrr_mqtt.store.testing import postgres_unavailable, temp_postgres_database
from qbitrr_mqtt.webui import route_table
from services.runners import free_port

pytestmark = pytest.mark.slow

PRESENTED = "WRONG-PRESENTED-TOKEN-31c9e0"
BASE = "secrettest"


@pytest.fixture(scope="module")
def db_url() -> Iterator[str]:
    """A real PostgreSQL database, its URL carrying a password (trust auth ignores it)."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with temp_postgres_database() as url:
        yield url.replace("postgres@", f"postgres:{SECRETS['db_password']}@", 1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, mosquitto: Any, db_url: str) -> Any:
    root = tmp_path_factory.mktemp("secrets")
    port = free_port()
    assert SECRETS["db_password"] in db_url
    path = write_config(
        root,
        settings={"data_dir": str(root / "data"), "dry_run": True, "log_level": "DEBUG"},
        mqtt={
            "enabled": True,
            "host": mosquitto.host,
            "port": mosquitto.port,
            "username": "bob",
            "password": SECRETS["mqtt_password"],
            "base_topic": BASE,
            "client_id": BASE,
        },
        webui={"host": "127.0.0.1", "port": port, "token": SECRETS["token"]},
        database={"url": db_url},
    )
    return root, path, port


def run_for(args: list[str], log: Path, until: Any, timeout: float = 60) -> None:
    """Run ``qbitrr-mqtt ARGS`` until ``until(log_text)`` holds, then SIGTERM it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qbitrr_mqtt", *args], stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + timeout
            while not until(log.read_text(errors="replace")):
                assert proc.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_webui_answers_and_log(setup: Any) -> None:
    root, path, port = setup
    answers: list[str] = []
    with WebUIProcess(path, port, root / "webui.log") as web:
        for route in route_table():
            if route.method != "GET" or "{" in route.path or route.path == "/api/v1/events":
                continue
            status, headers, body = web.request("GET", route.path, headers=AUTH)
            assert status != 500, (route.path, body)
            answers.append(json.dumps(headers) + body)
        for process in ("webui", "bridge", "supervisord"):
            answers.append(web.request("GET", f"/api/v1/logs/{process}", headers=AUTH)[2])
        config = json.loads(web.request("GET", "/api/v1/config", headers=AUTH)[2])
        assert "***" in config["yaml"] and config["config"]["webui"]["token"] == "***"
        # A rejected write echoes problems, never the values (short token, wrong types).
        bad = (
            config["yaml"]
            .replace('token: "***"', 'token: "short"')
            .replace("dry_run: true", "dry_run: maybe")
        )
        for body in ({"yaml": bad}, {"config": {"mqtt": {"password": 7}}}):
            status, _, text = web.request(
                "PUT", "/api/v1/config?validate_only=true", body=body, headers=AUTH
            )
            assert status == 422, text
            answers.append(text)
        # A write that keeps every secret as *** succeeds and shows none of them.
        status, _, text = web.request(
            "PUT", "/api/v1/config?validate_only=true", body={"yaml": config["yaml"]}, headers=AUTH
        )
        assert status == 200, text
        answers.append(text)
        for headers in ({"X-API-Token": PRESENTED}, {"Authorization": f"Bearer {PRESENTED}"}):
            answers.append(web.request("GET", "/api/v1/config", headers=headers)[2])
        answers.append(
            web.request(
                "POST",
                "/api/v1/commands",
                body={"command": "search", "instance": "radarr", "media_ids": "x"},
                headers=AUTH,
            )[2]
        )
    log = web.log.read_text(errors="replace")
    assert "WebUI listening" in log
    assert leaked("\n".join(answers)) == []
    assert leaked(log) == [] and PRESENTED not in log


def test_bridge_log(setup: Any, mosquitto: Any) -> None:
    root, path, _ = setup
    t = Topics(base=BASE)
    log = root / "bridge.log"

    def answered(text: str) -> bool:
        if "MQTT" not in text and "online" not in text:
            return False
        with MqttProbe(mosquitto.host, mosquitto.port, t.response("restart")) as probe:
            probe.publish(t.request("restart"), json.dumps({"instance": "nope"}))
            try:
                probe.wait_for(t.response("restart"), timeout=5)
            except TimeoutError:
                return False
        return True

    run_for(["bridge", "-c", str(path)], log, answered)
    assert leaked(log.read_text(errors="replace")) == []


def test_manager_log(setup: Any) -> None:
    """qBittorrent and the Arr are unreachable: the errors name them, not their secrets."""
    root, path, _ = setup
    log = root / "manager.log"
    run_for(
        ["manager", "radarr", "-c", str(path)],
        log,
        lambda text: "127.0.0.1:9" in text or "unreachable" in text.lower(),
        timeout=120,
    )
    text = log.read_text(errors="replace")
    assert text.strip()
    assert leaked(text) == []


def test_config_show_and_validate(setup: Any) -> None:
    _, path, _ = setup
    runner = CliRunner()
    shown = runner.invoke(app, ["config", "show", "-c", str(path)], env={})
    assert shown.exit_code == 0, shown.output
    assert "***" in shown.stdout and leaked(shown.output) == []
    valid = runner.invoke(app, ["config", "validate", "-c", str(path)], env={})
    assert valid.exit_code == 0 and leaked(valid.output) == []
