"""The service runners: real Mosquitto and qbittorrent-nox, restartable on the same ports."""

from __future__ import annotations

import socket
import ssl
import threading
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from qbitrr_mqtt.clients.qbit import QbitClient
from services import torrents as T
from services.runners import (
    ServiceError,
    port_open,
    start_mosquitto,
    start_qbittorrent,
)


def mqtt_connect(
    port: int, *, user: str | None = None, password: str | None = None, cafile: Path | None = None
) -> str:
    """Connect once and return the broker's CONNACK reason as text ('Success' when accepted)."""
    result: dict[str, str] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if user:
        client.username_pw_set(user, password)
    if cafile:
        client.tls_set(ca_certs=str(cafile), cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(_c, _u, _f, reason, _p) -> None:
        result["reason"] = str(reason)
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        assert done.wait(30), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result["reason"]


def test_mosquitto_restarts_on_the_same_port(workdir):
    with start_mosquitto(workdir) as broker:
        port, pid = broker.port, broker.pid
        assert broker.host == "127.0.0.1" and mqtt_connect(port) == "Success"
        broker.restart()
        assert broker.port == port and broker.pid != pid
        assert mqtt_connect(port) == "Success"
        broker.stop()
        assert not port_open("127.0.0.1", port)
    assert "persistence false" in (workdir / "mosquitto.conf").read_text()


def test_mosquitto_users_and_tls(workdir):
    with start_mosquitto(workdir, users={"ha": "s3cret"}, tls=True) as broker:
        assert broker.cafile is not None
        assert (
            mqtt_connect(broker.port, user="ha", password="s3cret", cafile=broker.cafile)
            == "Success"
        )
        assert (
            mqtt_connect(broker.port, user="ha", password="nope", cafile=broker.cafile) != "Success"
        )


def test_port_in_use_is_a_clear_error(workdir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServiceError, match=f"port {port} .* already in use"):
            start_mosquitto(workdir, port=port)


def test_failed_start_shows_the_log_tail(workdir):
    broker = start_mosquitto(workdir, tls=True)
    broker.stop()
    (workdir / "broker.key").write_text("not a key\n")
    with pytest.raises(ServiceError, match="exited with code") as err:
        broker.start()
    assert "mosquitto.log" in str(err.value) and "mosquitto version" in str(err.value)


def test_bad_user_name_is_a_clear_error(workdir):
    with pytest.raises(ServiceError, match="refused user 'bad:name'"):
        start_mosquitto(workdir, users={"bad:name": "x"})


def test_qbittorrent_restarts_on_the_same_port_and_keeps_torrents(workdir):
    with start_qbittorrent(workdir) as q:
        port, bt_port = q.port, q.bt_port
        added = T.add_seeding(q, "kept", 30_000)
        q.restart()
        assert (q.port, q.bt_port) == (port, bt_port)
        assert urllib.request.urlopen(f"{q.url}/api/v2/app/version").read().startswith(b"v4")
        T.wait_state(T.api(q), added.hash, T.SEEDING_STATES)
        assert q.save_path.is_dir() and q.save_path.is_relative_to(workdir)
    assert not port_open("127.0.0.1", port)


def test_qbittorrent_settings_written(workdir):
    with start_qbittorrent(workdir) as q, QbitClient(q.url) as c:
        assert c.version().startswith("v")
        prefs = T.api(q).app_preferences()
        assert prefs["listen_port"] == q.bt_port
        assert (prefs["dht"], prefs["pex"], prefs["lsd"]) == (False, False, False)
        assert prefs["bypass_local_auth"] is True and prefs["anonymous_mode"] is False
        assert prefs["web_ui_csrf_protection_enabled"] is False
        assert Path(prefs["save_path"]) == q.save_path


def test_missing_files_and_metadata_states(workdir):
    with start_qbittorrent(workdir) as q:
        missing = T.add_in_state("missingFiles", q, "gone", {"a.bin": 40_000, "b.bin": 1000})
        meta = T.add_in_state("metaDL", q, "unknown")
        states = {t["hash"]: t["state"] for t in T.api(q).torrents_info()}
        assert states == {missing.hash: "missingFiles", meta.hash: "metaDL"}
        with pytest.raises(ValueError, match="unknown state"):
            T.add_in_state("exploded", q, "x")


def test_services_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """A SIGKILLed test run or demo must not leave its broker behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys, time; from pathlib import Path; "
        "from services.runners import start_mosquitto; "
        f"h = start_mosquitto(Path({str(tmp_path)!r})); print(h.pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # running
    parent.send_signal(signal.SIGKILL)
    parent.wait(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)  # not our child: init adopts and reaps it
    raise AssertionError(f"mosquitto (pid {child}) outlived the process that started it")
