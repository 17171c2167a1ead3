"""qBittorrent stopped for several cycles, then started again, under the real stack.

During the outage the manager must count no strike and remove nothing (it cannot see the
torrents, so it must not act on a stale view), back off (visible in its log) and say so in
the store and on MQTT (``qbit_connected: false``, the "qBittorrent connected" entity's
source). Once qBittorrent is back it must resume: strikes count again and the stalled
torrent is blocklisted and removed through the Arr.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from fault_stack import MqttWatch, make_fault_stack, wait_for

from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle
from services.torrents import api, info

pytestmark = pytest.mark.slow


def test_qbittorrent_outage_counts_no_strike_removes_nothing_and_resumes(
    own_qbit: QbitHandle, own_broker: MosquittoHandle, radarr: EmulatorProcess, category: str
) -> None:
    with make_fault_stack(
        qbit=own_qbit, broker=own_broker, check_interval=2, log_level="DEBUG"
    ) as stack:
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=4)
        added, _ = stack.stalled(inst, "Outage.Victim")
        watch = MqttWatch(own_broker, [f"{stack.base}/radarr/state"])
        stack.start()
        store = stack.store()

        # One strike seen: the manager works. Then qBittorrent goes away.
        wait_for(lambda: len(store.list_strikes("radarr", added.hash)) >= 1, "a first strike")
        own_qbit.stop()
        down_at = datetime.now(UTC)
        strikes_before = len(store.list_strikes("radarr", added.hash))
        assert strikes_before < 4, "the test needs the outage to start before the removal"

        # Several cycles of outage: the backoff doubles from 5 s (5, 10, 20 s...).
        log = wait_for(
            lambda: (
                (text := stack.log(inst.program)).count("still unreachable (attempt") >= 3 and text
            ),
            "three backed-off attempts in the manager's log",
            timeout=120,
        )
        assert "qBittorrent unreachable" in log and "retrying with backoff" in log
        state = store.get_instance_state("radarr")
        assert state is not None and state.qbit_connected is False
        assert state.error and "qBittorrent unreachable" in state.error
        offline = wait_for(
            lambda: [
                m
                for m in watch.on(f"{stack.base}/radarr/state")
                if json.loads(m.text()).get("qbit_connected") is False
            ],
            "qbit_connected false on MQTT",
        )
        assert offline
        assert stack.info(inst.program).statename == "RUNNING", "no crash during the outage"

        up_at = datetime.now(UTC)
        own_qbit.start()
        # Nothing happened while it was down.
        during = [s for s in store.list_strikes("radarr", added.hash) if down_at <= s.at <= up_at]
        assert during == []
        actions, _ = store.list_actions(instance="radarr")
        assert [a for a in actions if down_at <= a.created_at <= up_at] == []
        assert [c for c in radarr.calls(method="DELETE") if "/queue/" in c["path"]] == []
        assert info(api(own_qbit), added.hash) is not None

        # Back to normal: reconnected, strikes again, then the blocklist removal.
        wait_for(
            lambda: "qBittorrent reachable again" in stack.log(inst.program),
            "the recovery line in the log",
            timeout=400,
        )
        wait_for(
            lambda: (s := store.get_instance_state("radarr")) is not None and s.qbit_connected,
            "qbit_connected true in the store",
        )
        wait_for(
            lambda: any(
                json.loads(m.text()).get("qbit_connected") is True
                for m in watch.on(f"{stack.base}/radarr/state", since=time.time() - 60)
            ),
            "qbit_connected true on MQTT",
        )
        wait_for(lambda: info(api(own_qbit), added.hash) is None, "the removal after the outage")
        actions, _ = store.list_actions(instance="radarr", hash=added.hash)
        assert [(a.action, a.status) for a in actions if a.action == "blocklist"] == [
            ("blocklist", "done")
        ]
        assert len(store.list_strikes("radarr", added.hash)) >= 4
        watch.close()
