"""SIGKILL of every supervisord child at once, then of supervisord itself, then a fresh
``qbitrr-mqtt run``: the new stack starts over the stale socket and pid file and resumes
from the store (strikes keep counting from where they were, the journal and the torrent
rows are intact, a command queued while nothing ran is carried out).
"""

from __future__ import annotations

import os
import signal

import pytest
from fault_stack import alive, make_fault_stack, wait_for

from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle
from services.torrents import api, info

pytestmark = pytest.mark.slow


def test_everything_killed_then_a_fresh_run_resumes_from_the_store(
    own_qbit: QbitHandle, mosquitto: MosquittoHandle, radarr: EmulatorProcess, category: str
) -> None:
    with make_fault_stack(qbit=own_qbit, broker=mosquitto, check_interval=1) as stack:
        # Strikes pile up (never enough to remove), and one torrent is removed before the kill.
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=10_000)
        kept, _ = stack.stalled(inst, "Kept.Striking")
        stack.start()
        store = stack.store()
        wait_for(lambda: len(store.list_strikes("radarr", kept.hash)) >= 3, "three strikes")

        children = stack.children()
        assert {"bridge", "webui", "events", inst.program} <= set(children)
        supervisord = stack.supervisord_pid()
        for pid in children.values():
            os.kill(pid, signal.SIGKILL)
        os.kill(supervisord, signal.SIGKILL)
        assert stack.proc is not None
        stack.proc.wait(60)
        wait_for(
            lambda: not any(alive(p) for p in [*children.values(), supervisord]),
            "every process gone",
        )
        assert stack.where.socket.exists(), "the stale socket is part of the scenario"

        strikes = store.list_strikes("radarr", kept.hash)
        row = store.get_torrent("radarr", kept.hash)
        assert row is not None
        command = store.enqueue_command("run_now", "radarr", source="cli")

        stack.start()  # a fresh `qbitrr-mqtt run` on the same data directory
        for program in ("bridge", "webui", "events"):
            stack.wait_running(program)
        wait_for(
            lambda: store.get_command(command.id).status == "done",  # type: ignore[union-attr]
            "the command queued while nothing ran",
        )
        wait_for(
            lambda: len(store.list_strikes("radarr", kept.hash)) > len(strikes),
            "strikes counting on",
        )
        after = store.list_strikes("radarr", kept.hash)
        assert [s.id for s in after[: len(strikes)]] == [s.id for s in strikes]
        again = store.get_torrent("radarr", kept.hash)
        assert again is not None and again.first_seen == row.first_seen
        assert again.strikes >= row.strikes
        assert store.integrity_check() == []
        assert store.pending_intents("radarr") == []
        assert info(api(own_qbit), kept.hash) is not None
        assert "already" not in stack.output().lower(), stack.output()
