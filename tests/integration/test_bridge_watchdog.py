"""The watchdog as it runs in production: inside the bridge, under a real supervisord, against
a real manager that stops heart-beating (SIGSTOP), with a real broker watching."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest
from bridge_stack import wait_for
from real_manager_stack import make_real_stack

from qbitrr_mqtt.mqtt.testing import MqttProbe

pytestmark = pytest.mark.slow


def test_the_bridge_dumps_restarts_and_reports_a_frozen_manager(mosquitto: Any) -> None:
    with make_real_stack(mosquitto, {"films"}) as stack:
        stack.settings.update({"hang_timeout": 60, "check_interval": 5})
        stack.instance("films")
        probe = MqttProbe(mosquitto.host, mosquitto.port, f"{stack.base}/#")
        try:
            stack.start()
            old = stack.pid("manager-films")
            with stack.store() as store:
                wait_for(
                    lambda: (s := store.get_instance_state("films")) and s.heartbeat_at,
                    "the manager's first heartbeat",
                )
            os.kill(old, signal.SIGSTOP)  # hung: alive for supervisord, silent for the store
            new = wait_for(
                lambda: (pid := stack.pid("manager-films")) != old and pid,
                "the watchdog to restart the frozen manager",
                timeout=240,
            )
            assert new != old
            assert "Thread" in stack.log("manager-films"), "faulthandler's stack dump is in its log"
            with stack.store() as store:  # recorded once supervisord's restart returned

                def hung_events() -> list[Any]:
                    events, _ = store.list_process_events(name="manager-films")
                    return [e for e in events if e.to_state == "HUNG"]

                hung = wait_for(hung_events, "the hang recorded as a process event")
            assert hung[0].pid == old and "stack dumped" in (hung[0].detail or "")
            event = probe.wait_for(
                f"{stack.base}/films/event",
                lambda m: json.loads(m.payload or "{}").get("event_type") == "hung",
                timeout=60,
            )
            assert f"restarted as pid {new}" in json.loads(event.payload)["reason"]
        finally:
            probe.close()
