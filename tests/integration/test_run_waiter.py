"""``qbitrr-mqtt run`` once supervisord is up: the process becomes ``supervisor/waiter.py``.

Real supervisord (the venv's) and the real ``events`` listener; the managers, bridge and WebUI
are a stand-in script. The run process keeps its pid and stays supervisord's parent, each
stop signal reaches supervisord (SIGHUP and SIGQUIT as SIGTERM: a closed terminal stops the
stack, it does not reload it), every program is gone afterwards and the exit code is
supervisord's. The programs get the digest of the file ``run`` validated.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from bridge_stack import alive, wait_for

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.config.loader import ENV_VALIDATED
from qbitrr_mqtt.supervisor.rpc import SupervisorClient, SupervisorError
from qbitrr_mqtt.supervisor.run import paths

pytestmark = pytest.mark.slow

STAND_IN = textwrap.dedent(
    """
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        time.sleep(0.5)
    """
)
RUNNER = textwrap.dedent(
    """
    import json, sys
    from qbitrr_mqtt.config import load_config
    from qbitrr_mqtt.supervisor.run import run_stack
    config = load_config(sys.argv[1])
    sys.exit(run_stack(config, overrides=json.loads(sys.argv[2]), exec_waiter=True))
    """
)


@pytest.fixture
def root() -> Iterator[Path]:
    # A short directory under /tmp: unix socket paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="qrw-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def start(root: Path) -> tuple[subprocess.Popen[bytes], SupervisorClient, str]:
    doc = {
        "settings": {"data_dir": str(root / "data")},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
        "mqtt": {"enabled": False},
        "arr": {
            "a": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k" * 32},
        },
    }
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    script = root / "stand_in.py"
    script.write_text(STAND_IN)
    overrides = {n: f"{sys.executable} {script}" for n in ("bridge", "webui", "manager-a")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}
    run = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(config_path), json.dumps(overrides)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    digest = load_config(config_path, env=env).validated
    return run, SupervisorClient(paths(root / "data").socket, timeout=20), digest


def running(client: SupervisorClient) -> dict[str, int] | None:
    try:
        infos = {n: client.info(n) for n in ("manager-a", "bridge", "webui", "events")}
    except SupervisorError:
        return None
    if all(i.statename == "RUNNING" for i in infos.values()):
        return {n: i.pid for n, i in infos.items()}
    return None


def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize(
    "sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT], ids=lambda s: s.name
)
def test_run_becomes_the_waiter_and_forwards_stop_signals(root: Path, sig: signal.Signals) -> None:
    run, client, digest = start(root)
    pids: dict[str, int] = {}
    supervisord = 0
    try:
        pids = wait_for(lambda: running(client), "every program RUNNING", 90)
        supervisord = client.pid()
        assert ppid(supervisord) == run.pid  # still our child, same pid
        wait_for(lambda: b"waiter.py" in Path(f"/proc/{run.pid}/cmdline").read_bytes(), "exec")
        cmdline = Path(f"/proc/{run.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        assert cmdline[1:3] == [b"-I", b"-S"] and cmdline[-1] == f"--pid={supervisord}".encode()
        environ = Path(f"/proc/{pids['manager-a']}/environ").read_bytes().split(b"\0")
        assert f"{ENV_VALIDATED}={digest}".encode() in environ

        run.send_signal(sig)
        assert run.wait(120) == 0
        assert not alive(supervisord)
        assert [n for n, p in pids.items() if alive(p)] == []
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in [supervisord, *pids.values()]:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_waiter_exits_with_supervisords_status(root: Path) -> None:
    run, client, _ = start(root)
    pids: dict[str, int] = {}
    try:
        pids = wait_for(lambda: running(client), "every program RUNNING", 90)
        wait_for(lambda: b"waiter.py" in Path(f"/proc/{run.pid}/cmdline").read_bytes(), "exec")
        os.kill(client.pid(), signal.SIGKILL)
        # As before the exec: Popen's -9, through sys.exit, is the status 256 - 9.
        assert run.wait(60) == 256 - signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
