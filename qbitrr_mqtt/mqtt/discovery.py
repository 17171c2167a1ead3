"""Home Assistant discovery: one device per Arr instance plus the bridge device.

The bridge publishes all of it (it knows the whole config); managers only publish the state
topics the entities read. Availability of an instance's entities is "the bridge is online AND
the manager is online" (``availability_mode: all``) with two deliberate exceptions:

* entities fed by the bridge about the manager *process* (``Process running``, ``Restart limit
  reached``, the ``Restart`` button) use the bridge alone: they matter most exactly when the
  manager is down, and a restart request is handled by the bridge, not the manager;
* the bridge's ``Connection state`` has no availability: a connectivity sensor that became
  unavailable whenever it is off could never show "disconnected".
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .ha_models import (
    Availability,
    BinarySensor,
    Button,
    Component,
    Device,
    DeviceDiscovery,
    Event,
    Origin,
    Sensor,
    Switch,
    dumps,
)
from .payloads import COUNT_KEYS, EVENT_TYPES, canonical_json
from .topics import ONLINE, Topics

if TYPE_CHECKING:
    from ..config.models import ArrInstance, Config
    from .connection import Message

log = logging.getLogger(__name__)

ORIGIN_NAME = "qbitrr-mqtt"
COUNT_ICONS = {
    "downloading": "mdi:download",
    "stalled": "mdi:download-off",
    "seeding": "mdi:upload",
    "queued": "mdi:tray-full",
    "errored": "mdi:alert-circle",
}


class Connection(Protocol):
    """What discovery needs from ``MqttConnection``."""

    topics: Topics

    def publish(self, topic: str, payload: Any = None, *, retain: bool = False) -> bool: ...

    def subscribe(
        self, topic_filter: str, handler: Callable[[Message], None], qos: int = 1
    ) -> None: ...

    def collect_retained(
        self, topic_filter: str, timeout: float = 5.0
    ) -> dict[str, bytes] | None: ...


def _version() -> str:
    from .. import __version__

    return __version__


def _entity_slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())


class DiscoveryBuilder:
    """Builds the device discovery messages for one config."""

    def __init__(self, config: Config, version: str | None = None) -> None:
        self.config = config
        self.topics = Topics.from_config(config.mqtt)
        self.version = version or _version()
        self.origin = Origin(name=ORIGIN_NAME, sw_version=self.version)
        self.bridge_availability = [Availability(self.topics.bridge_state)]

    def _common(
        self, node: str, key: str, platform: str, name: str | None, avty: list[Availability]
    ) -> dict[str, Any]:
        slug = _entity_slug(f"{node}_{key}")
        return {
            "unique_id": f"{node}_{key}",
            "default_entity_id": f"{platform}.{slug}",
            "object_id": slug,
            "name": name,
            "availability": avty,
        }

    # --- one Arr instance -------------------------------------------------------------------
    def instance(self, inst: ArrInstance) -> DeviceDiscovery:
        t, name = self.topics, inst.name
        node = t.node_id(name)
        both = [*self.bridge_availability, Availability(t.availability(name))]
        bridge = self.bridge_availability
        state, process = t.state(name), t.process(name)

        def common(
            key: str, platform: str, label: str | None, avty: list[Availability] = both
        ) -> dict[str, Any]:
            return self._common(node, key, platform, label, avty)

        cmps: dict[str, Component] = {}
        for key in COUNT_KEYS:
            cmps[key] = Sensor(
                **common(key, "sensor", key.capitalize()),
                state_topic=state,
                value_template=f"{{{{ value_json.counts.{key} }}}}",
                state_class="measurement",
                unit_of_measurement="torrents",
                icon=COUNT_ICONS[key],
            )
        cmps["queue_size"] = Sensor(
            **common("queue_size", "sensor", "Queue size"),
            state_topic=state,
            value_template="{{ value_json.queue_size }}",
            state_class="measurement",
            unit_of_measurement="items",
            icon="mdi:format-list-numbered",
        )
        cmps["strikes"] = Sensor(
            **common("strikes", "sensor", "Active strikes"),
            state_topic=state,
            value_template="{{ value_json.strikes }}",
            state_class="measurement",
            unit_of_measurement="strikes",
            icon="mdi:alert-octagon",
        )
        cmps["last_cycle_duration"] = Sensor(
            **common("last_cycle_duration", "sensor", "Last cycle duration"),
            state_topic=state,
            value_template="{{ value_json.last_cycle_duration }}",
            device_class="duration",
            state_class="measurement",
            unit_of_measurement="s",
            suggested_display_precision=1,
            entity_category="diagnostic",
        )
        cmps["last_cycle"] = Sensor(
            **common("last_cycle", "sensor", "Last cycle"),
            state_topic=state,
            value_template="{{ value_json.last_cycle_at }}",
            device_class="timestamp",
            entity_category="diagnostic",
        )
        cmps["running"] = BinarySensor(
            **common("running", "binary_sensor", "Process running", bridge),
            state_topic=process,
            value_template="{{ 'ON' if value_json.state == 'RUNNING' else 'OFF' }}",
            device_class="running",
            json_attributes_topic=process,
        )
        cmps["restart_limit"] = BinarySensor(
            **common("restart_limit", "binary_sensor", "Restart limit reached", bridge),
            state_topic=process,
            value_template="{{ 'ON' if value_json.restart_limit_reached else 'OFF' }}",
            device_class="problem",
        )
        cmps["problem"] = BinarySensor(
            **common("problem", "binary_sensor", "Problem"),
            state_topic=state,
            value_template="{{ 'ON' if value_json.error or value_json.problems else 'OFF' }}",
            device_class="problem",
            json_attributes_topic=state,
            json_attributes_template="{{ {'error': value_json.error, 'problems': value_json.problems} | tojson }}",
            entity_category="diagnostic",
        )
        cmps["qbit_connected"] = BinarySensor(
            **common("qbit_connected", "binary_sensor", "qBittorrent connected"),
            state_topic=state,
            value_template="{{ 'ON' if value_json.qbit_connected else 'OFF' }}",
            device_class="connectivity",
            entity_category="diagnostic",
        )
        cmps["arr_connected"] = BinarySensor(
            **common("arr_connected", "binary_sensor", f"{inst.type.capitalize()} connected"),
            state_topic=state,
            value_template="{{ 'ON' if value_json.arr_connected else 'OFF' }}",
            device_class="connectivity",
            entity_category="diagnostic",
        )
        press = canonical_json({"instance": name})
        cmps["restart"] = Button(
            **common("restart", "button", "Restart", bridge),
            command_topic=t.request("restart"),
            payload_press=press,
            device_class="restart",
            entity_category="config",
        )
        cmps["run_now"] = Button(
            **common("run_now", "button", "Run check now"),
            command_topic=t.request("run_now"),
            payload_press=press,
            icon="mdi:play-circle",
        )
        cmps["search_missing"] = Button(
            **common("search_missing", "button", "Search missing"),
            command_topic=t.request("search"),
            payload_press=canonical_json({"instance": name, "missing": True}),
            icon="mdi:magnify",
        )
        cmps["dry_run"] = Switch(
            **common("dry_run", "switch", "Dry run"),
            command_topic=t.request("dry_run"),
            state_topic=state,
            value_template="{{ 'ON' if value_json.dry_run else 'OFF' }}",
            payload_on=canonical_json({"instance": name, "value": True}),
            payload_off=canonical_json({"instance": name, "value": False}),
            entity_category="config",
            icon="mdi:test-tube",
        )
        cmps["actions"] = Event(
            **common("actions", "event", "Actions"),
            state_topic=t.event(name),
            event_types=list(EVENT_TYPES),
            icon="mdi:gesture-tap-button",
        )
        device = Device(
            identifiers=[node],
            name=f"qbitrr {name}",
            model=f"{inst.type.capitalize()} manager",
            sw_version=self.version,
            via_device=t.bridge_node_id,
        )
        return DeviceDiscovery(
            device=device, origin=self.origin, components=cmps, availability=both
        )

    # --- the bridge -------------------------------------------------------------------------
    def bridge(self) -> DeviceDiscovery:
        t = self.topics
        node = t.bridge_node_id
        avty = self.bridge_availability
        cmps: dict[str, Component] = {
            "connection_state": BinarySensor(
                **self._common(node, "connection_state", "binary_sensor", "Connection state", []),
                state_topic=t.bridge_state,
                value_template="{{ 'ON' if value == 'online' else 'OFF' }}",
                device_class="connectivity",
                entity_category="diagnostic",
            ),
            "version": Sensor(
                **self._common(node, "version", "sensor", "Version", avty),
                state_topic=t.bridge_info,
                value_template="{{ value_json.version }}",
                json_attributes_topic=t.bridge_info,
                json_attributes_template="{{ value_json.settings | tojson }}",
                entity_category="diagnostic",
                icon="mdi:information-outline",
            ),
            "database_size": Sensor(
                **self._common(node, "database_size", "sensor", "Database size", avty),
                state_topic=t.bridge_info,
                value_template="{{ value_json.db_size }}",
                device_class="data_size",
                unit_of_measurement="B",
                state_class="measurement",
                suggested_display_precision=0,
                entity_category="diagnostic",
            ),
            "instances": Sensor(
                **self._common(node, "instances", "sensor", "Arr instances", avty),
                state_topic=t.bridge_info,
                value_template="{{ value_json.instances | count }}",
                state_class="measurement",
                entity_category="diagnostic",
                icon="mdi:server-network",
            ),
        }
        device = Device(
            identifiers=[node], name="qbitrr bridge", model="Bridge", sw_version=self.version
        )
        return DeviceDiscovery(
            device=device, origin=self.origin, components=cmps, availability=avty
        )

    def messages(self) -> dict[str, str]:
        """Discovery topic -> JSON for the bridge and every enabled instance."""
        out = {self.topics.discovery(self.topics.bridge_node_id): dumps(self.bridge())}
        for name, inst in sorted(self.config.arr.items()):
            if inst.enabled:
                out[self.topics.discovery(self.topics.node_id(name))] = dumps(self.instance(inst))
        return out


def publish_discovery(conn: Connection, config: Config, version: str | None = None) -> list[str]:
    """Publish every device's discovery message (retained); returns the topics."""
    messages = DiscoveryBuilder(config, version).messages()
    for topic, payload in messages.items():
        conn.publish(topic, payload, retain=True)
    return list(messages)


def clear_stale_discovery(conn: Connection, config: Config, timeout: float = 5.0) -> list[str]:
    """Clear retained device configs of instances no longer configured; returns their node ids.

    Only devices this program published are touched: the node id starts with ``<base>_`` and
    the payload's origin is ``qbitrr-mqtt``, so another program's devices are never removed.
    """
    topics = Topics.from_config(config.mqtt)
    retained = conn.collect_retained(topics.discovery_filter, timeout) or {}
    wanted = {topics.bridge_node_id} | {
        topics.node_id(n) for n, inst in config.arr.items() if inst.enabled
    }
    cleared = []
    for topic, payload in sorted(retained.items()):
        node = topics.node_of(topic)
        if not node or not node.startswith(f"{topics.node_base}_") or node in wanted:
            continue
        if _origin_name(payload) != ORIGIN_NAME:
            continue
        conn.publish(topic, "", retain=True)
        cleared.append(node)
    if cleared:
        log.info("cleared Home Assistant discovery of removed instances: %s", ", ".join(cleared))
    return cleared


def _origin_name(payload: bytes) -> str | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    origin = data.get("o") or data.get("origin")
    return origin.get("name") if isinstance(origin, dict) else None


def watch_ha_status(
    conn: Connection,
    on_online: Callable[[], None],
    delay: tuple[float, float] = (1.0, 5.0),
) -> None:
    """Call ``on_online`` (after a small random delay) whenever Home Assistant says ``online``.

    The delay spreads the burst of every publisher republishing at once when HA restarts, and
    gives HA time to subscribe to the topics it just learned about.
    """

    def handler(msg: Message) -> None:
        if msg.text().strip() != ONLINE:
            return
        timer = threading.Timer(random.uniform(*delay), _safe, (on_online,))
        timer.daemon = True
        timer.start()

    conn.subscribe(conn.topics.ha_status, handler)


def _safe(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:
        log.exception("republishing after Home Assistant came online failed")


class DiscoveryPublisher:
    """The bridge's discovery duty: clear stale devices, publish, republish on HA ``online``."""

    def __init__(
        self,
        conn: Connection,
        config: Config,
        *,
        version: str | None = None,
        republish_states: Callable[[], None] | None = None,
        delay: tuple[float, float] = (1.0, 5.0),
    ) -> None:
        self.conn = conn
        self.config = config
        self.version = version
        self.republish_states = republish_states
        self.delay = delay
        self.published = 0

    def start(self, clear_stale: bool = True, timeout: float = 5.0) -> list[str]:
        """Run once the connection is started; returns the node ids it cleared."""
        if not self.config.mqtt.discovery:
            return []
        cleared = clear_stale_discovery(self.conn, self.config, timeout) if clear_stale else []
        self.publish()
        watch_ha_status(self.conn, self.on_ha_online, self.delay)
        return cleared

    def publish(self) -> None:
        self.published += len(publish_discovery(self.conn, self.config, self.version))

    def on_ha_online(self) -> None:
        self.publish()
        if self.republish_states:
            self.republish_states()
