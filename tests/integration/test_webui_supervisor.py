"""WebUI against a real supervisord: process list, restart (new pid), start/stop, health."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.supervisor.rpc import SupervisorClient, SupervisorError
from qbitrr_mqtt.webui import create_app
from qbitrr_mqtt.webui.state import Tuning

TOKEN = "supervisor-test-token-0123"
AUTH = {"X-API-Token": TOKEN}
PROGRAM = """
[program:{name}]
command={python} -c "import time; time.sleep(600)"
startsecs=1
autorestart=false
stopwaitsecs=5
stdout_logfile={logs}/{name}.log
redirect_stderr=true
"""


@pytest.fixture
def supervisord(tmp_path: Path):
    """A real supervisord with stand-in programs manager-radarr and bridge (sleepers)."""
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    conf = tmp_path / "supervisord.conf"
    sock = data / "supervisor.sock"
    text = f"""
[unix_http_server]
file={sock}
chmod=0700
[supervisord]
nodaemon=true
logfile={data}/logs/supervisord.log
pidfile={data}/supervisord.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""
    for name in ("manager-radarr", "bridge"):
        text += PROGRAM.format(name=name, python=sys.executable, logs=data / "logs")
    conf.write_text(text, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = SupervisorClient(sock, timeout=10)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if (
                    all(p.statename == "RUNNING" for p in client.status())
                    and len(client.status()) == 2
                ):
                    break
            except SupervisorError:
                pass
            assert time.monotonic() < deadline, "supervisord did not start its programs"
            assert proc.poll() is None, "supervisord exited"
            time.sleep(0.2)
        yield proc, client, tmp_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture
async def client(aiohttp_client, supervisord):
    _, rpc, tmp = supervisord
    path = tmp / "config.yaml"
    path.write_text(
        "settings: {data_dir: ./data}\narr:\n  radarr: {type: radarr, url: 'http://127.0.0.1:7878', api_key: k}\n",
        encoding="utf-8",
    )
    store = open_store(f"sqlite:///{tmp / 'qbitrr.db'}")
    store.upsert_process_health("manager-radarr", restart_count=3, restart_limit_reached=False)
    app = create_app(
        load_config(path, env={}), store, rpc, token=TOKEN, tuning=Tuning(command_wait=0.1)
    )
    yield await aiohttp_client(app)
    store.close()


async def processes(client) -> dict[str, dict]:
    resp = await client.get("/api/v1/processes", headers=AUTH)
    assert resp.status == 200
    return {p["name"]: p for p in (await resp.json())["processes"]}


@pytest.mark.slow
async def test_processes_and_restart_through_supervisord(client, supervisord):
    before = await processes(client)
    radarr = before["manager-radarr"]
    assert radarr["status"] == "RUNNING" and radarr["source"] == "supervisord"
    assert radarr["pid"] > 0 and radarr["uptime"] is not None
    assert radarr["restart_count"] == 3  # from the store's health row
    assert before["bridge"]["category"] == "bridge"
    health = await client.get("/api/health")
    assert health.status == 200 and (await health.json())["supervisor"]["ok"] is True

    resp = await client.post("/api/v1/instances/radarr/restart", headers=AUTH)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["status"] == "done" and body["result"]["program"] == "manager-radarr"
    assert body["result"]["pid"] != radarr["pid"]
    after = await processes(client)
    assert after["manager-radarr"]["pid"] == body["result"]["pid"]
    polled = await client.get(f"/api/v1/commands/{body['id']}", headers=AUTH)
    assert (await polled.json())["result"]["pid"] == body["result"]["pid"]

    resp = await client.post(
        "/api/v1/commands", json={"command": "start", "instance": "radarr"}, headers=AUTH
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "already_started"
    resp = await client.post(
        "/api/v1/commands", json={"command": "stop", "instance": "bridge"}, headers=AUTH
    )
    assert resp.status == 200
    assert (await processes(client))["bridge"]["status"] == "STOPPED"
    resp = await client.post(
        "/api/v1/commands", json={"command": "stop", "instance": "bridge"}, headers=AUTH
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "not_running"
    resp = await client.post(
        "/api/v1/commands", json={"command": "start", "instance": "bridge"}, headers=AUTH
    )
    assert resp.status == 200 and (await resp.json())["result"]["pid"] > 0


@pytest.mark.slow
async def test_health_degraded_when_supervisord_is_gone(client, supervisord):
    proc, _, _ = supervisord
    proc.send_signal(signal.SIGTERM)
    await asyncio.get_running_loop().run_in_executor(None, proc.wait, 30)
    resp = await client.get("/api/health")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "degraded" and body["supervisor"]["ok"] is False
    assert any(p.startswith("supervisord unreachable") for p in body["problems"])
    listed = await processes(client)  # the store's last known rows still answer
    assert listed["manager-radarr"]["source"] == "store"
    resp = await client.post("/api/v1/instances/radarr/restart", headers=AUTH)
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "supervisor_unavailable"
