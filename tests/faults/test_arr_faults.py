"""The Arr answering 500s, timeouts and 401s for a while, under the real stack.

A stalled torrent is due for removal from the first cycle. While the Arr refuses the
blocklist call, nothing may delete the torrent from qBittorrent (the direct fallback is
only for a torrent the Arr has no queue record of, and here it has one): each cycle tries
again, each attempt is journalled ``failed`` with the reason and published as a ``failed``
event. When the Arr answers again the torrent is blocklisted once and removed by the Arr.
When the whole Arr API is down, nothing is struck or removed at all.
"""

from __future__ import annotations

import json

import pytest
from fault_stack import MqttWatch, make_fault_stack, wait_for

from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle
from services.torrents import api, info

pytestmark = pytest.mark.slow

#: fault spec, and a word the failure reason must contain
FAULTS = {
    "500": ({"status": 500}, "500"),
    "401": ({"status": 401}, "401"),
    # The answer comes after the client's 2 s timeout (and is an error anyway).
    "timeout": ({"status": 500, "delay": 4}, "timeout"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_refused_blocklist_never_deletes_and_is_retried_then_reported_failed(
    own_qbit: QbitHandle,
    mosquitto: MosquittoHandle,
    radarr: EmulatorProcess,
    category: str,
    fault: str,
) -> None:
    spec, word = FAULTS[fault]
    with make_fault_stack(qbit=own_qbit, broker=mosquitto, check_interval=1) as stack:
        inst = stack.add_instance("radarr", radarr, category, timeout=2, stalled_strikes=1)
        added, _ = stack.stalled(inst, "Refused.Release")
        radarr.fault("queue/*", method="DELETE", count=-1, **spec)
        events = f"{stack.base}/radarr/event"
        watch = MqttWatch(mosquitto, [events])
        stack.start()
        store = stack.store()

        def failed() -> list:
            rows, _ = store.list_actions(instance="radarr", hash=added.hash, status="failed")
            return [a for a in rows if a.action == "blocklist"]

        rows = wait_for(lambda: len(failed()) >= 3 and failed(), "three failed attempts", 120)
        assert all(a.error and word in a.error.lower() for a in rows), [a.error for a in rows]
        assert info(api(own_qbit), added.hash) is not None, "never deleted while refused"
        assert radarr.state()["removals"] == []
        published = wait_for(
            lambda: [
                json.loads(m.text())
                for m in watch.on(events)
                if json.loads(m.text()).get("event_type") == "failed"
            ],
            "a failed event on MQTT",
        )
        assert all(e["hash"] == added.hash and "blocklist failed" in e["reason"] for e in published)

        radarr.clear_faults()
        wait_for(lambda: info(api(own_qbit), added.hash) is None, "the removal once accepted")
        removals = radarr.state()["removals"]
        assert [(r["downloadId"].lower(), r["blocklist"]) for r in removals] == [(added.hash, True)]
        wait_for(lambda: not store.pending_intents("radarr"), "no intent left")
        rows, _ = store.list_actions(instance="radarr", hash=added.hash, status="done")
        assert [a.action for a in rows if a.action == "blocklist"] == ["blocklist"]
        watch.close()


def test_arr_down_everywhere_strikes_and_removes_nothing(
    own_qbit: QbitHandle, mosquitto: MosquittoHandle, radarr: EmulatorProcess, category: str
) -> None:
    with make_fault_stack(qbit=own_qbit, broker=mosquitto, check_interval=1) as stack:
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=1)
        added, _ = stack.stalled(inst, "Arr.Down")
        radarr.fault("*", status=500, count=-1)
        stack.start()
        store = stack.store()
        wait_for(
            lambda: stack.log(inst.program).count("unreachable") >= 1,
            "the Arr outage in the manager's log",
        )
        wait_for(
            lambda: (
                (s := store.get_instance_state("radarr")) is not None
                and s.arr_connected is False
                and s.qbit_connected
            ),
            "arr_connected false",
        )
        calls = len(radarr.calls(path="queue", method="GET"))
        wait_for(
            lambda: len(radarr.calls(path="queue", method="GET")) >= calls + 2,
            "two more attempts at the queue",
        )
        assert store.list_strikes("radarr", added.hash) == []
        actions, _ = store.list_actions(instance="radarr")
        # Client-only actions (the .nfo's file priority) may go on; nothing that removes.
        assert [a.action for a in actions if a.action in ("remove", "blocklist")] == []
        assert info(api(own_qbit), added.hash) is not None

        radarr.clear_faults()
        wait_for(lambda: info(api(own_qbit), added.hash) is None, "the removal once it is back")
        assert [r["downloadId"].lower() for r in radarr.state()["removals"]] == [added.hash]


def test_record_gone_from_the_arr_takes_the_documented_fallback(
    own_qbit: QbitHandle, mosquitto: MosquittoHandle, radarr: EmulatorProcess, category: str
) -> None:
    """The one case where the manager deletes from qBittorrent itself: the Arr answers 404
    for the queue record (it vanished). Then it deletes the torrent directly and asks the
    Arr to search the media again, exactly once."""
    with make_fault_stack(qbit=own_qbit, broker=mosquitto, check_interval=1) as stack:
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=1)
        added, media_id = stack.stalled(inst, "Vanished.Record")
        radarr.fault("queue/*", method="DELETE", status=404, count=-1)
        stack.start()
        wait_for(lambda: info(api(own_qbit), added.hash) is None, "the direct removal")
        store = stack.store()
        wait_for(lambda: not store.pending_intents("radarr"), "no intent left")
        assert radarr.state()["removals"] == [], "the Arr removed nothing: it answered 404"
        rows, _ = store.list_actions(instance="radarr", hash=added.hash)
        assert [(a.action, a.status) for a in rows if a.action == "blocklist"] == [
            ("blocklist", "done")
        ]
        searches = [
            c["json"]
            for c in radarr.calls(method="POST")
            if c["path"].endswith("/command")
            and (c.get("json") or {}).get("name") == "MoviesSearch"
        ]
        assert [s.get("movieIds") for s in searches] == [[media_id]]
