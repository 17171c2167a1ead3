"""The MQTT broker stopped (SIGTERM) or killed (SIGKILL: clients find out by keepalive) and
started again with no persistence (every retained message is lost), under the real stack.

Managers and the bridge must reconnect on their own, publish availability, bridge state and
Home Assistant discovery again, and deliver the events produced while the broker was away
(kept in the store's outbox) afterwards. Nothing may crash or restart meanwhile.
"""

from __future__ import annotations

import json
import time

import pytest
from fault_stack import MqttWatch, make_fault_stack, wait_for

from services.arr_emulator import EmulatorProcess
from services.runners import MosquittoHandle, QbitHandle
from services.torrents import api, info

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_broker_restart_restores_availability_discovery_and_delivers_queued_events(
    own_qbit: QbitHandle,
    own_broker: MosquittoHandle,
    radarr: EmulatorProcess,
    category: str,
    how: str,
) -> None:
    with make_fault_stack(qbit=own_qbit, broker=own_broker, check_interval=1) as stack:
        inst = stack.add_instance("radarr", radarr, category, stalled_strikes=1)
        base, prefix = stack.base, f"{stack.base}-ha"
        watch = MqttWatch(own_broker, [f"{base}/#", f"{prefix}/#"])
        stack.start()
        availability = f"{base}/radarr/availability"
        bridge_state = f"{base}/bridge/state"

        def online(topic: str, since: float) -> bool:
            return any(m.text() == "online" for m in watch.on(topic, since))

        def discovery(since: float) -> list[str]:
            return [
                m.topic
                for m in watch.seen
                if m.at >= since and m.topic.startswith(prefix + "/") and m.payload
            ]

        wait_for(lambda: online(availability, 0) and online(bridge_state, 0), "online at start")
        wait_for(lambda: any("radarr" in t for t in discovery(0)), "discovery at start")
        before = stack.children()

        if how == "stop":
            own_broker.stop()
        else:
            own_broker.kill()
        # Produced while the broker is away: a stalled torrent blocklisted and removed.
        added, _ = stack.stalled(inst, "While.Broker.Down")
        wait_for(lambda: info(api(own_qbit), added.hash) is None, "the removal during the outage")
        store = stack.store()
        wait_for(lambda: not store.pending_intents("radarr"), "the action settled")
        wait_for(lambda: store.outbox_size(f"{inst.program}") > 0, "the event kept in the outbox")
        time.sleep(3)  # a few more cycles without a broker
        assert stack.children() == before, "nothing crashed or restarted while the broker was down"

        back = time.time()
        own_broker.start()
        wait_for(lambda: online(availability, back), "manager availability online again", 120)
        wait_for(lambda: online(bridge_state, back), "bridge state online again", 120)
        wait_for(
            lambda: any("radarr" in t for t in discovery(back)), "discovery published again", 120
        )
        delivered = wait_for(
            lambda: [
                e
                for m in watch.on(f"{base}/radarr/event", back)
                if (e := json.loads(m.text())).get("hash") == added.hash
            ],
            "the event produced during the outage",
            120,
        )
        assert [e["event_type"] for e in delivered].count("failed") == 0
        assert len(delivered) == len({json.dumps(e, sort_keys=True) for e in delivered})
        wait_for(lambda: store.outbox_size(inst.program) == 0, "the outbox drained")
        time.sleep(5)  # a crash loop would show within a few seconds
        assert stack.children() == before, "no program restarted after the broker came back"
        watch.close()
