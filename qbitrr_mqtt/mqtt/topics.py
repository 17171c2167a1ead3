"""Every MQTT topic name of SPEC §4, built in one place.

Nothing else in the code base spells a topic: managers, the bridge, discovery and the tests all
ask a :class:`Topics` built from the config, so a change of ``base_topic`` or
``discovery_prefix`` can never leave one publisher behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config.models import MqttConfig

#: Payloads of ``<base>/bridge/state`` and ``<base>/<instance>/availability``.
ONLINE = "online"
OFFLINE = "offline"
STOPPED = "stopped"

_NODE_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def node_slug(text: str) -> str:
    """``text`` made safe for a Home Assistant node id (``[a-zA-Z0-9_-]``).

    ``base_topic`` may contain ``/`` (``home/qbitrr``); a discovery topic's node id may not.
    """
    return _NODE_UNSAFE.sub("_", text).strip("_") or "qbitrr"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one ``base_topic`` / ``discovery_prefix`` pair."""

    base: str = "qbitrr"
    prefix: str = "homeassistant"

    @classmethod
    def from_config(cls, config: MqttConfig) -> Topics:
        return cls(base=config.base_topic.rstrip("/"), prefix=config.discovery_prefix)

    # --- bridge ---------------------------------------------------------------------------
    @property
    def bridge_state(self) -> str:
        """Retained ``online`` / ``offline`` (last will) / ``stopped`` (clean exit)."""
        return f"{self.base}/bridge/state"

    @property
    def bridge_info(self) -> str:
        return f"{self.base}/bridge/info"

    def request(self, command: str) -> str:
        return f"{self.base}/bridge/request/{command}"

    def response(self, command: str) -> str:
        return f"{self.base}/bridge/response/{command}"

    @property
    def request_filter(self) -> str:
        """Every request, including malformed command names (they get an error response)."""
        return f"{self.base}/bridge/request/#"

    def command_of(self, topic: str) -> str | None:
        """The command part of a request topic (may be empty or contain ``/``), else None."""
        head = f"{self.base}/bridge/request/"
        return topic[len(head) :] if topic.startswith(head) else None

    # --- per instance ---------------------------------------------------------------------
    def availability(self, instance: str) -> str:
        return f"{self.base}/{instance}/availability"

    def state(self, instance: str) -> str:
        return f"{self.base}/{instance}/state"

    def process(self, instance: str) -> str:
        return f"{self.base}/{instance}/process"

    def event(self, instance: str) -> str:
        return f"{self.base}/{instance}/event"

    def torrent(self, instance: str, torrent_hash: str) -> str:
        return f"{self.base}/{instance}/torrents/{torrent_hash.lower()}"

    def torrents_filter(self, instance: str) -> str:
        return f"{self.base}/{instance}/torrents/+"

    # --- Home Assistant discovery ---------------------------------------------------------
    @property
    def node_base(self) -> str:
        """The ``<base>`` part of node ids, unique ids and entity ids."""
        return node_slug(self.base)

    def node_id(self, instance: str) -> str:
        """``<base>_<instance>``: node id and device identifier of one Arr instance."""
        return f"{self.node_base}_{instance}"

    @property
    def bridge_node_id(self) -> str:
        return f"{self.node_base}_bridge"

    def discovery(self, node_id: str) -> str:
        return f"{self.prefix}/device/{node_id}/config"

    @property
    def discovery_filter(self) -> str:
        return f"{self.prefix}/device/+/config"

    def node_of(self, topic: str) -> str | None:
        """The node id of a device discovery topic, else None."""
        head, tail = f"{self.prefix}/device/", "/config"
        if topic.startswith(head) and topic.endswith(tail):
            node = topic[len(head) : -len(tail)]
            return node if node and "/" not in node else None
        return None

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth / last-will topic (``online`` / ``offline``)."""
        return f"{self.prefix}/status"

    def sync_marker(self, token: str) -> str:
        """A private, non-retained topic used as a barrier when reading retained messages."""
        return f"{self.base}/bridge/_sync/{token}"
