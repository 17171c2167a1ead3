"""Home Assistant MQTT discovery payloads as typed data (device-based discovery, HA 2024.11+).

Field names are Home Assistant's own configuration keys, so a reader can check them against
HA's documentation line by line; :func:`to_payload` / :func:`dumps` are the one place they become
JSON (``None`` fields are left out; a few device-discovery keys use HA's short forms ``dev``,
``o``, ``cmps``, ``p``, which HA documents for that message).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

AvailabilityMode = Literal["all", "any", "latest"]
EntityCategory = Literal["config", "diagnostic"]

#: Keys Home Assistant requires per platform (checked by the tests for every component).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "sensor": ("state_topic",),
    "binary_sensor": ("state_topic",),
    "button": ("command_topic",),
    "switch": ("command_topic", "state_topic"),
    "event": ("state_topic", "event_types"),
}


@dataclass(frozen=True, slots=True)
class Availability:
    topic: str
    payload_available: str = "online"
    payload_not_available: str = "offline"
    value_template: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    identifiers: list[str]
    name: str
    manufacturer: str = "qbitrr-mqtt"
    model: str | None = None
    sw_version: str | None = None
    via_device: str | None = None
    configuration_url: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    name: str
    sw_version: str | None = None
    support_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class Component:
    """Options every entity platform shares."""

    platform: ClassVar[str] = ""

    unique_id: str
    #: HA 2025.10+ name for the entity id to create (``<platform>.<object_id>``).
    default_entity_id: str
    #: The same without the platform, for Home Assistant before 2025.10.
    object_id: str
    name: str | None
    availability: list[Availability]
    availability_mode: AvailabilityMode = "all"
    entity_category: EntityCategory | None = None
    icon: str | None = None
    enabled_by_default: bool | None = None
    json_attributes_topic: str | None = None
    json_attributes_template: str | None = None
    qos: int = 1


@dataclass(frozen=True, kw_only=True)
class Sensor(Component):
    platform: ClassVar[str] = "sensor"

    state_topic: str
    value_template: str | None = None
    device_class: str | None = None
    state_class: Literal["measurement", "total", "total_increasing"] | None = None
    unit_of_measurement: str | None = None
    suggested_display_precision: int | None = None


@dataclass(frozen=True, kw_only=True)
class BinarySensor(Component):
    platform: ClassVar[str] = "binary_sensor"

    state_topic: str
    value_template: str | None = None
    device_class: str | None = None
    payload_on: str = "ON"
    payload_off: str = "OFF"


@dataclass(frozen=True, kw_only=True)
class Button(Component):
    platform: ClassVar[str] = "button"

    command_topic: str
    payload_press: str
    device_class: Literal["identify", "restart", "update"] | None = None
    retain: bool = False


@dataclass(frozen=True, kw_only=True)
class Switch(Component):
    platform: ClassVar[str] = "switch"

    command_topic: str
    state_topic: str
    payload_on: str
    payload_off: str
    state_on: str = "ON"
    state_off: str = "OFF"
    value_template: str | None = None
    device_class: Literal["outlet", "switch"] | None = None
    optimistic: bool = False
    retain: bool = False


@dataclass(frozen=True, kw_only=True)
class Event(Component):
    platform: ClassVar[str] = "event"

    state_topic: str
    event_types: list[str]
    device_class: Literal["button", "doorbell", "motion"] | None = None
    value_template: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceDiscovery:
    """One retained ``<prefix>/device/<node_id>/config`` message: a device and its entities."""

    device: Device = field(metadata={"key": "dev"})
    origin: Origin = field(metadata={"key": "o"})
    components: dict[str, Component] = field(metadata={"key": "cmps"})
    #: Shared by every component that does not set its own.
    availability: list[Availability] = field(default_factory=list, metadata={"key": "avty"})
    availability_mode: AvailabilityMode = field(default="all", metadata={"key": "avty_mode"})
    qos: int = 1


def to_payload(value: Any) -> Any:
    """Plain JSON data: dataclass fields by their HA key, ``None`` left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        platform = getattr(type(value), "platform", "")
        if platform:
            out["p"] = platform
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is not None:
                out[f.metadata.get("key", f.name)] = to_payload(item)
        return out
    if isinstance(value, dict):
        return {str(k): to_payload(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_payload(v) for v in value]
    return value


def dumps(discovery: DeviceDiscovery) -> str:
    """The discovery message's JSON text."""
    return json.dumps(to_payload(discovery), separators=(",", ":"), ensure_ascii=False)
