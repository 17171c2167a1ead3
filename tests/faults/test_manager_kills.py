"""SIGKILL of a manager at random points over many cycles, under the real stack.

The manager checks every second and always has stalled torrents to blocklist (the test keeps
several in its category), so kills land before, during and after journalled actions. After
at least 50 kills: supervisord restarted it every time, the store passes its integrity
check, no intent is left, every torrent was removed exactly once (one DELETE of the Arr
queue per download, one ``done`` blocklist row per torrent) and none was lost.

``QBITRR_FAULT_SEED`` replays a run's kill timings; ``QBITRR_FAULT_KILLS`` changes the count.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest
from fault_stack import Feeder, make_fault_stack, wait_for

from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle
from services.torrents import api

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("QBITRR_FAULT_KILLS", "50"))
#: Stalled torrents kept in the category while the kills go on.
IN_FLIGHT = 4


def test_fifty_random_sigkills_neither_duplicate_nor_lose_an_action(
    own_qbit: QbitHandle, mosquitto: MosquittoHandle, radarr: EmulatorProcess, category: str
) -> None:
    seed = int(os.environ.get("QBITRR_FAULT_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    print(f"QBITRR_FAULT_SEED={seed}")
    with make_fault_stack(qbit=own_qbit, broker=mosquitto, check_interval=1) as stack:
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=1)
        # Every removal takes a little while on the Arr side, so kills land inside it too.
        radarr.fault("queue/*", method="DELETE", status=None, delay=0.3, count=-1)
        feeder = Feeder(stack, inst, IN_FLIGHT)
        feeder.top_up()
        stack.start()
        feeder.start()

        pids: list[int] = []
        pid = stack.wait_running(inst.program)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.0, 2.5))
            os.kill(pid, signal.SIGKILL)
            pids.append(pid)
            pid = stack.wait_running(inst.program, not_pid=pid)
        added = feeder.stop()
        assert len(set(pids)) == KILLS, "each kill hit a new process"

        # Let the last manager settle everything that is left.
        store = stack.store()
        client = api(own_qbit)
        wait_for(
            lambda: not client.torrents_info(category=inst.category),
            "every stalled torrent to be removed",
            timeout=180,
        )
        wait_for(lambda: not store.pending_intents("radarr"), "no intent left", timeout=120)
        assert stack.info(inst.program).statename == "RUNNING"

        assert store.integrity_check() == []
        removals = Counter(r["downloadId"].lower() for r in radarr.state()["removals"])
        assert {h: n for h, n in removals.items() if n > 1} == {}, "a download removed twice"
        deletes = Counter(c["path"] for c in radarr.calls(method="DELETE") if c["status"] < 300)
        assert {p: n for p, n in deletes.items() if n > 1} == {}, "a queue record deleted twice"
        assert set(removals) == set(added), "every torrent removed through the Arr, none lost"

        actions, total = store.list_actions(instance="radarr", limit=10_000)
        assert total == len(actions)
        assert len({a.key for a in actions}) == len(actions)
        assert [a for a in actions if a.status == "intent"] == []
        done = Counter(a.hash for a in actions if a.action == "blocklist" and a.status == "done")
        assert done == Counter(added), {
            h: [(a.action, a.status, a.error) for a in actions if a.hash == h]
            for h in set(added) ^ set(done) | {h for h, n in done.items() if n > 1}
        }
        recovered = stack.log(inst.program).count("recovered blocklist of")
        print(f"{KILLS} kills, {len(added)} torrents, {recovered} actions recovered after a kill")
