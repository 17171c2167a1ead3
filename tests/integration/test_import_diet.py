"""What each process imports (the memory budgets: every module a process loads stays in its RSS).

The supervisord event listener answers a real event under ``python -X importtime`` and
writes it to a real store through LeanStore: SQLAlchemy (~28 MB of RSS), sqlmodel and pydantic
must not be loaded.

A real ``qbitrr-mqtt manager`` runs one cycle against a real qBittorrent, an Arr emulator and
Mosquitto, under ``python -X importtime``: the modules it loaded are read from that list, and
the libraries a manager has no use for must not be among them (the WebUI's aiohttp and
prometheus-client, pyarr with httpx and the click / rich / pygments httpx brings, jsonschema
when ``qbitrr-mqtt run`` has already validated the same file). No timing: only which modules were imported.

A real ``qbitrr-mqtt bridge`` runs on LeanStore too: under ``python -X importtime`` it
publishes process health and the database size read from the store and queues a request in
the store inbox, without SQLAlchemy, sqlmodel or pydantic (its hourly maintenance and a
migration run in child processes, whose imports are their own).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.config.loader import ENV_VALIDATED
from qbitrr_mqtt.mqtt.testing import MqttProbe
from qbitrr_mqtt.mqtt.topics import Topics
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.store.testing import store_url_fixture  # noqa: F401
from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import MosquittoHandle, QbitHandle

KEY = "import-diet-key"
#: Never in a manager: the WebUI's server and metrics exporter, the Arr client library we do
#: not use and what httpx drags in (its command line: click, rich, pygments), and the ORM
#: store's SQLAlchemy, sqlmodel and pydantic (the manager runs on LeanStore).
NEVER_IN_MANAGER = {
    "sqlalchemy",
    "sqlmodel",
    "pydantic",
    "aiohttp",
    "prometheus_client",
    "pyarr",
    "httpx",
    "httpcore",
    "click",
    "rich",
    "pygments",
    "backoff",
    "yarl",
    "typer",  # supervisord's command line starts without the CLI (launch.py)
}
#: Never in the event listener nor the bridge: the ORM stack (their store is LeanStore, plain
#: DB-API).
NEVER_IN_LISTENER = {"sqlalchemy", "sqlmodel", "pydantic", "pydantic_core"}
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(\s*)(\S+)\s*$")


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def imported(stderr: str) -> set[str]:
    """Top-level package names from ``-X importtime`` lines."""
    return {
        m.group(2).split(".")[0] for line in stderr.splitlines() if (m := _IMPORT_LINE.match(line))
    }


@pytest.fixture
def arr(workdir: Path, qbit: QbitHandle) -> Iterator[EmulatorProcess]:
    with start_arr_emulator(
        workdir / "arr", "radarr", api_key=KEY, qbit_url=qbit.url, category="diet"
    ) as handle:
        yield handle


@pytest.fixture
def config_path(
    workdir: Path, qbit: QbitHandle, mosquitto: MosquittoHandle, arr: EmulatorProcess
) -> Path:
    doc = {
        "settings": {"data_dir": str(workdir / "data"), "check_interval": 10},
        "qbittorrent": {"default": {"url": qbit.url}},
        "mqtt": {
            "host": mosquitto.host,
            "port": mosquitto.port,
            "base_topic": f"diet-{uuid.uuid4().hex[:6]}",
        },
        "arr": {
            "radarr": {
                "type": "radarr",
                "url": arr.url,
                "api_key": KEY,
                "category": f"diet-{uuid.uuid4().hex[:6]}",
            }
        },
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def run_one_cycle(config_path: Path, env: dict[str, str]) -> set[str]:
    """``python -X importtime -m qbitrr_mqtt manager radarr -c ...`` until its first cycle is
    recorded, then SIGTERM; the top-level packages it imported."""
    config = load_config(config_path, env={})
    log = config_path.parent / f"manager-{uuid.uuid4().hex[:6]}.err"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "qbitrr_mqtt", "manager", "radarr"]
            + ["-c", str(config_path)],
            env={**clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:

        def cycled() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"manager exited {proc.returncode}: {log.read_text()[-3000:]}")
            store = open_store(config.database.url)
            try:
                state = store.get_instance_state("radarr")
                return state is not None and state.last_cycle_at is not None
            finally:
                store.close()

        wait_for(cycled, "the manager's first cycle", 90)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
    return imported(log.read_text())


@pytest.mark.slow
def test_a_manager_started_by_run_loads_no_webui_pyarr_httpx_sqlalchemy_or_jsonschema(
    config_path: Path,
) -> None:
    digest = load_config(config_path, env={}).validated
    modules = run_one_cycle(config_path, {ENV_VALIDATED: digest})
    assert {"qbittorrentapi", "paho", "sqlite3", "requests"} <= modules  # it did run
    assert modules & (NEVER_IN_MANAGER | {"jsonschema"}) == set()
    assert not any(m.startswith("qbitrr_mqtt.webui") for m in modules)


@pytest.mark.slow
def test_a_manager_started_alone_still_validates_with_jsonschema(config_path: Path) -> None:
    modules = run_one_cycle(config_path, {})
    assert "jsonschema" in modules
    assert modules & NEVER_IN_MANAGER == set()


def test_an_edited_file_is_validated_again_with_the_same_errors(tmp_path: Path) -> None:
    """The digest of the file ``run`` validated does not cover a file edited since: the
    manager checks it in full and prints what ``config validate`` prints."""
    path = tmp_path / "config.yaml"
    doc: dict[str, Any] = {
        "settings": {"data_dir": str(tmp_path / "data")},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
        "mqtt": {"enabled": False},
        "arr": {"radarr": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k" * 32}},
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    digest = load_config(path, env={}).validated
    doc["arr"]["radarr"]["timeout"] = "soon"
    doc["settings"]["check_interval"] = -5
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qbitrr_mqtt", *args, "-c", str(path)],
            env={**clean, ENV_VALIDATED: digest},
            capture_output=True,
            text=True,
            timeout=60,
        )

    manager, validate = cli("manager", "radarr"), cli("config", "validate")
    assert manager.returncode == validate.returncode == 2
    assert manager.stderr == validate.stderr
    assert "arr.radarr.timeout" in manager.stderr and "settings.check_interval" in manager.stderr


def test_the_digest_changes_with_any_value_or_type() -> None:
    from qbitrr_mqtt.config.loader import document_digest

    base = {"settings": {"check_interval": 10}, "arr": {"a": {"enabled": True}}}
    variants = [
        {"settings": {"check_interval": 10.0}, "arr": {"a": {"enabled": True}}},
        {"settings": {"check_interval": "10"}, "arr": {"a": {"enabled": True}}},
        {"settings": {"check_interval": 10}, "arr": {"a": {"enabled": 1}}},
        {"settings": {"check_interval": 10}, "arr": {"a": {"enabled": True, "x": None}}},
        {"settings": {"check_interval": 10}, "arr": {"b": {"enabled": True}}},
    ]
    assert document_digest(base) == document_digest(
        {"arr": {"a": {"enabled": True}}, "settings": {"check_interval": 10}}
    )
    digests = {document_digest(v) for v in variants}
    assert len(digests) == len(variants) and document_digest(base) not in digests


def supervisor_event(eventname: str, payload: str, serial: int = 1) -> bytes:
    """One event as supervisord writes it to a listener's stdin."""
    body = payload.encode()
    header = (
        f"ver:3.0 server:supervisor serial:{serial} pool:events poolserial:{serial} "
        f"eventname:{eventname} len:{len(body)}\n"
    )
    return header.encode() + body


def test_the_event_listener_records_an_event_without_sqlalchemy(
    tmp_path: Path, store_url: str
) -> None:
    """``python -m qbitrr_mqtt.bridge.events`` (as supervisord runs it) answers one event,
    writes it to the store and exits when stdin closes; SQLAlchemy was never imported."""
    path = tmp_path / "config.yaml"
    doc = {
        "settings": {"data_dir": str(tmp_path / "data")},
        "database": {"url": store_url},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
        "mqtt": {"enabled": False},
        "arr": {"radarr": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k" * 32}},
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}
    payload = "processname:manager-a groupname:manager-a from_state:STARTING pid:4242"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "qbitrr_mqtt.bridge.events", "-c", str(path)],
        input=supervisor_event("PROCESS_STATE_RUNNING", payload),
        env=clean,
        capture_output=True,
        timeout=120,
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    assert done.stdout == b"READY\nRESULT 2\nOKREADY\n"
    assert "the store did not open" not in stderr
    store = open_store(store_url)
    try:
        health = store.get_process_health("manager-a")
        events, total = store.list_process_events("manager-a")
    finally:
        store.close()
    assert health is not None and (health.state, health.pid) == ("RUNNING", 4242)
    assert total == 1 and events[0].from_state == "STARTING"
    modules = imported(stderr)
    assert {"qbitrr_mqtt", "sqlite3" if store_url.startswith("sqlite") else "psycopg"} <= modules
    assert modules & NEVER_IN_LISTENER == set()


@pytest.mark.slow
def test_the_bridge_serves_from_the_store_without_sqlalchemy(
    tmp_path: Path, store_url: str, mosquitto: MosquittoHandle
) -> None:
    """``python -m qbitrr_mqtt bridge`` (as supervisord runs it) publishes the process health
    and the database size it reads from the store, and queues a ``run_now`` request in the
    store inbox (a stand-in manager finishes it); SQLAlchemy, sqlmodel and pydantic were never
    imported."""
    base = f"diet-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "config.yaml"
    doc = {
        "settings": {"data_dir": str(tmp_path / "data")},
        "database": {"url": store_url},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "base_topic": base},
        "arr": {"radarr": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k" * 32}},
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    store = open_store(store_url)  # the ORM as the WebUI uses it: writes what the bridge reads
    store.upsert_process_health("manager-radarr", state="RUNNING", pid=4242)
    t = Topics(base=base)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}
    log = tmp_path / "bridge.err"
    done = threading.Event()

    def stand_in_manager() -> None:
        while not done.is_set():
            row = store.claim_next_command("radarr")
            if row is not None:
                store.finish_command(row.id, {"cycle": "started"})
                return
            done.wait(0.1)

    with log.open("w") as err, MqttProbe(mosquitto.host, mosquitto.port, f"{base}/#") as watch:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "qbitrr_mqtt", "bridge", "-c", str(path)],
            env=clean,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        consumer = threading.Thread(target=stand_in_manager, daemon=True)
        consumer.start()
        try:
            watch.wait_for(t.process("radarr"), lambda m: json.loads(m.payload)["pid"] == 4242)
            info = watch.wait_for(t.bridge_info, lambda m: json.loads(m.payload)["db_size"])
            start = watch.mark()
            watch.publish(t.request("run_now"), '{"instance": "radarr", "transaction": "d1"}')
            answer = watch.wait_for(t.response("run_now"), start=start, timeout=90)
        finally:
            done.set()
            consumer.join(10)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    try:
        rows, _ = store.list_commands("radarr")
    finally:
        store.close()
    stderr = log.read_text()
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "cannot open the database" not in stderr
    assert isinstance(json.loads(info.payload)["db_size"], int)
    assert json.loads(answer.payload)["data"]["result"] == {"cycle": "started"}
    assert [(r.command, r.source, r.transaction) for r in rows] == [("run_now", "mqtt", "d1")]
    modules = imported(stderr)
    assert {"qbitrr_mqtt", "paho", "sqlite3" if store_url.startswith("sqlite") else "psycopg"} <= (
        modules
    )
    assert modules & NEVER_IN_LISTENER == set()
