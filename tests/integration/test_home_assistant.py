"""A real Home Assistant on the test broker sees the stack and drives it (marker ``ha``).

Run with ``make test-ha`` (installs Home Assistant into ``.ha-venv`` first). The stack is the
real bridge and the real manager of instance ``films`` under a real supervisord; Home Assistant
is set up through its own HTTP API (``home_assistant.py``). Entity ids come from the
``default_entity_id`` / ``object_id`` of our discovery (``<base>_<instance>_<key>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from home_assistant import HomeAssistant, start_home_assistant
from real_manager_stack import RealManagerStack, make_real_stack

from qbitrr_mqtt.mqtt.topics import Topics
from services.runners import start_mosquitto

pytestmark = [pytest.mark.ha, pytest.mark.slow]


def wait_until[T](check: Callable[[], T], what: str, timeout: float = 120.0) -> T:
    """Poll ``check`` until it returns something truthy; the last value in the error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    with start_mosquitto(tmp_path / "mosquitto") as handle:
        yield handle


@pytest.fixture
def stack(broker: Any) -> Iterator[RealManagerStack]:
    with make_real_stack(broker, {"films"}) as s:
        yield s


@pytest.fixture
def hass(tmp_path: Path, broker: Any) -> Iterator[HomeAssistant]:
    ha = start_home_assistant(tmp_path / "ha", broker.host, broker.port)
    try:
        yield ha
    finally:
        ha.stop()


def test_home_assistant_shows_the_entities_and_its_buttons_act(
    stack: RealManagerStack, hass: HomeAssistant
) -> None:
    t = Topics(base=stack.base)
    node = t.node_id("films")
    stack.instance("films")
    stack.start()

    def entity(key: str, platform: str) -> str:
        return f"{platform}.{node}_{key}"

    expected = {
        entity("queue_size", "sensor"): "Queue size",
        entity("seeding", "sensor"): "Seeding",
        entity("last_cycle", "sensor"): "Last cycle",
        entity("running", "binary_sensor"): "Process running",
        entity("restart_limit", "binary_sensor"): "Restart limit reached",
        entity("qbit_connected", "binary_sensor"): "qBittorrent connected",
        entity("arr_connected", "binary_sensor"): "Radarr connected",
        entity("restart", "button"): "Restart",
        entity("run_now", "button"): "Run check now",
        entity("search_missing", "button"): "Search missing",
        entity("dry_run", "switch"): "Dry run",
        entity("actions", "event"): "Actions",
        f"binary_sensor.{t.bridge_node_id}_connection_state": "Connection state",
        f"sensor.{t.bridge_node_id}_instances": "Arr instances",
    }

    def all_there() -> dict[str, dict[str, Any]] | None:
        states = hass.states()
        ready = all(
            e in states and states[e]["state"] != "unavailable"
            for e in expected
            if not e.startswith("button.") and not e.startswith("event.")
        )
        return states if ready and set(expected) <= set(states) else None

    states = wait_until(all_there, "our entities in Home Assistant, available")
    for entity_id, name in expected.items():
        friendly = states[entity_id]["attributes"]["friendly_name"]
        assert friendly.endswith(name), (entity_id, friendly)
    # states as the real manager (qBittorrent and Radarr unreachable, dry run on) reports them
    assert states[entity("queue_size", "sensor")]["state"] == "0"
    assert states[entity("qbit_connected", "binary_sensor")]["state"] == "off"
    assert states[entity("dry_run", "switch")]["state"] == "on"
    assert states[entity("restart_limit", "binary_sensor")]["state"] == "off"
    assert states[f"sensor.{t.bridge_node_id}_instances"]["state"] == "1"
    assert (
        states[entity("last_cycle_duration", "sensor")]["attributes"]["unit_of_measurement"] == "s"
    )
    running = states[entity("running", "binary_sensor")]
    old = stack.pid("manager-films")
    assert running["state"] == "on" and running["attributes"]["pid"] == old

    # The restart button: HA publishes payload_press, the bridge has supervisord restart it.
    hass.service("button", "press", entity_id=entity("restart", "button"))
    new = wait_until(
        lambda: (pid := stack.pid("manager-films")) != old and pid,
        "manager-films restarted with a new pid",
    )
    wait_until(
        lambda: hass.states()[entity("running", "binary_sensor")]["attributes"].get("pid") == new,
        "Home Assistant shows the new pid",
    )

    # The dry-run switch: HA sends payload_off, the real manager switches, HA shows it. The
    # restarted manager must be back online first: HA sends nothing for an unavailable entity.
    wait_until(
        lambda: hass.states()[entity("dry_run", "switch")]["state"] == "on",
        "the restarted manager's switch to be available again",
    )
    hass.service("switch", "turn_off", entity_id=entity("dry_run", "switch"))
    wait_until(
        lambda: hass.states()[entity("dry_run", "switch")]["state"] == "off",
        "the switch to follow the manager's real setting",
    )
    with stack.store() as store:
        state = store.get_instance_state("films")
    assert state is not None and state.dry_run is False

    assert hass.problems() == [], "\n".join(hass.problems())
    assert "Traceback" not in stack.log("bridge")
