"""The data directory's disk fills up under the real stack, then space comes back.

The data directory is a small tmpfs (``mount -t tmpfs -o size=...``; the test needs root,
as it has in the project's CI container). It holds the SQLite database, the program logs
and supervisord's socket, so a full disk hits all of them at once.

While full: no program crashes or restarts, the manager reports a clear error on MQTT
(the broker needs no disk here), so does a manager restarted while the disk is full, and
the database stays intact (integrity check). When the
space is freed the manager says so in its log, its error clears, and strikes count on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_stack import MqttWatch, make_fault_stack, wait_for

from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle

pytestmark = pytest.mark.slow

SIZE = "24m"


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A tmpfs of SIZE mounted on ``path`` (lazily unmounted afterwards)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Write zeros to ``path`` until the disk refuses (ENOSPC)."""
    chunk = b"\0" * (64 * 1024)
    with path.open("wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    return path


def test_disk_full_reports_a_clear_error_keeps_the_database_and_recovers(
    own_qbit: QbitHandle, mosquitto: MosquittoHandle, radarr: EmulatorProcess, category: str
) -> None:
    with make_fault_stack(qbit=own_qbit, broker=mosquitto, check_interval=1) as stack:
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=10_000)
        kept, _ = stack.stalled(inst, "Disk.Full")
        state_topic = f"{stack.base}/radarr/state"
        watch = MqttWatch(mosquitto, [state_topic])
        with small_disk(stack.data_dir):
            try:
                stack.start()
                store = stack.store()
                wait_for(lambda: len(store.list_strikes("radarr", kept.hash)) >= 2, "strikes")
                before = stack.children()

                filler = fill(stack.data_dir / "filler")
                full_at = time.time()
                report = wait_for(
                    lambda: [
                        e
                        for m in watch.on(state_topic, full_at)
                        if "is full" in ((e := json.loads(m.text())).get("error") or "")
                    ],
                    "the disk-full error on MQTT",
                )
                assert str(stack.data_dir) in report[0]["error"]
                frozen = len(store.list_strikes("radarr", kept.hash))
                time.sleep(5)  # several cycles on a full disk
                assert stack.children() == before, "a program crashed or restarted"
                assert store.integrity_check() == []

                # A manager (re)started while the disk is still full comes up and reports too.
                os.kill(before[inst.program], signal.SIGKILL)
                restarted_at = time.time()
                pid = stack.wait_running(inst.program, not_pid=before[inst.program])
                wait_for(
                    lambda: any(
                        "is full" in (json.loads(m.text()).get("error") or "")
                        for m in watch.on(state_topic, restarted_at)
                    ),
                    "the restarted manager's disk-full error on MQTT",
                )
                time.sleep(3)
                assert stack.children()[inst.program] == pid, "a crash loop on the full disk"
                before[inst.program] = pid

                filler.unlink()
                freed_at = time.time()
                wait_for(
                    lambda: len(store.list_strikes("radarr", kept.hash)) > frozen,
                    "strikes counting again",
                    timeout=120,
                )
                wait_for(
                    lambda: any(
                        json.loads(m.text()).get("error") is None
                        for m in watch.on(state_topic, freed_at)
                    ),
                    "the error cleared on MQTT",
                )
                wait_for(
                    lambda: "the database reachable again" in stack.log(inst.program),
                    "the recovery line in the manager's log",
                )
                assert stack.children() == before
                assert store.integrity_check() == []
                assert store.pending_intents("radarr") == []
            finally:
                stack.stop()
                watch.close()
