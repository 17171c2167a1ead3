"""MQTT: the one connection per process, topics, state publishing, HA discovery, requests.

The only package that imports paho (``connection.py``). Names are loaded lazily so a process
that only validates requests or builds payloads (the WebUI, the CLI) never imports paho.

Modules: ``topics`` (every topic name), ``connection`` (``MqttConnection``), ``outbox``,
``payloads`` (state/process/event JSON), ``publisher`` (change-only ``StatePublisher``),
``ha_models`` + ``discovery`` (Home Assistant device discovery), ``requests`` (validation,
``Response``), ``router`` (``RequestRouter``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Topics": "topics",
    "MqttConnection": "connection",
    "Message": "connection",
    "ConnectionStats": "connection",
    "MemoryOutbox": "outbox",
    "StatePublisher": "publisher",
    "StatePayload": "payloads",
    "ProcessPayload": "payloads",
    "EventPayload": "payloads",
    "bridge_info": "payloads",
    "DiscoveryBuilder": "discovery",
    "DiscoveryPublisher": "discovery",
    "publish_discovery": "discovery",
    "clear_stale_discovery": "discovery",
    "watch_ha_status": "discovery",
    "Request": "requests",
    "RequestError": "requests",
    "Response": "requests",
    "parse_request": "requests",
    "validate_request": "requests",
    "RequestRouter": "router",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
