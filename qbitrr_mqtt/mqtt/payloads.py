"""The JSON bodies of the state topics (SPEC §4), as typed data, and their one JSON encoder.

Home Assistant's templates (``discovery.py``) read these keys, so they are fixed here rather
than left to each publisher: a missing key would render an entity ``unknown``. ``canonical_json``
is also what change-only publishing compares, so equal data always gives equal text.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.models import Config

#: The torrent counts Home Assistant shows as sensors; a state payload always carries all five.
COUNT_KEYS = ("downloading", "stalled", "seeding", "queued", "errored")

#: ``event_type`` values of ``<base>/<instance>/event`` (the Home Assistant event entity's list).
EVENT_TYPES = (
    "imported",
    "import_failed",
    "blocklisted",
    "removed",
    "re_searched",
    "searched",
    "rechecked",
    "paused",
    "resumed",
    "protected",
    "unprotected",
    "struck",
    "files_skipped",
    "would_remove",
    "would_blocklist",
    "would_act",
    "cleaned",
    "hung",
    "failed",
)

#: The audit-trail action names (store ``Action.action``) and the event each one publishes.
ACTION_EVENTS = {
    "import": "imported",
    "import_failed": "import_failed",
    "blocklist": "blocklisted",
    "remove": "removed",
    "re_search": "re_searched",
    "search": "searched",
    "recheck": "rechecked",
    "pause": "paused",
    "resume": "resumed",
    "protect": "protected",
    "unprotect": "unprotected",
    "strike": "struck",
    "set_file_priority": "files_skipped",
    "would_remove": "would_remove",
    "would_blocklist": "would_blocklist",
    "cleanup": "cleaned",
}


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the store's timestamps are UTC; say so for Home Assistant
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def canonical_json(data: Any) -> str:
    """Compact JSON with sorted keys: the same data always gives the same text."""
    return json.dumps(
        data, default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@dataclasses.dataclass(frozen=True, slots=True)
class StatePayload:
    """``<base>/<instance>/state``: what one manager cycle found."""

    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    queue_size: int = 0
    strikes: int = 0
    last_cycle_at: datetime | None = None
    last_cycle_duration: float | None = None
    dry_run: bool = False
    qbit_connected: bool = False
    arr_connected: bool = False
    error: str | None = None
    #: Lasting conditions the user should fix (e.g. "ffprobe not installed"), said once.
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        counts = {key: 0 for key in COUNT_KEYS}
        counts.update({str(k): int(v) for k, v in self.counts.items()})
        duration = self.last_cycle_duration
        return {
            "counts": counts,
            "queue_size": self.queue_size,
            "strikes": self.strikes,
            "last_cycle_at": self.last_cycle_at,
            "last_cycle_duration": None if duration is None else round(duration, 3),
            "dry_run": self.dry_run,
            "qbit_connected": self.qbit_connected,
            "arr_connected": self.arr_connected,
            "error": self.error,
            "problems": list(self.problems),
        }


#: Keys of a state payload that change every cycle; see ``StatePublisher``.
STATE_VOLATILE = ("last_cycle_at", "last_cycle_duration")


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessPayload:
    """``<base>/<instance>/process``: supervisord's view of one manager, published by the bridge."""

    state: str
    pid: int | None = None
    uptime: float | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    last_exit: Mapping[str, Any] | None = None
    last_restart: datetime | None = None
    restart_limit_reached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.pid,
            "uptime": None if self.uptime is None else int(self.uptime),
            "started_at": self.started_at,
            "restart_count": self.restart_count,
            "last_exit": dict(self.last_exit) if self.last_exit is not None else None,
            "last_restart": self.last_restart,
            "restart_limit_reached": self.restart_limit_reached,
        }


#: ``uptime`` grows every second; it alone never makes the process topic republish.
PROCESS_VOLATILE = ("uptime",)


@dataclasses.dataclass(frozen=True, slots=True)
class EventPayload:
    """One action, ``<base>/<instance>/event`` (not retained)."""

    event_type: str
    hash: str | None = None
    name: str | None = None
    reason: str | None = None
    media_id: int | None = None
    at: datetime | None = None
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "hash": self.hash.lower() if self.hash else self.hash,
            "name": self.name,
            "reason": self.reason,
            "media_id": self.media_id,
            "at": self.at or datetime.now(UTC),
            "dry_run": self.dry_run,
        }


def bridge_info(config: Config, version: str) -> dict[str, Any]:
    """``<base>/bridge/info``: version, instances and a settings summary (never a secret)."""
    s = config.settings
    return {
        "version": version,
        "instances": {
            name: {"type": inst.type, "category": inst.category, "enabled": inst.enabled}
            for name, inst in sorted(config.arr.items())
        },
        "settings": {
            "check_interval": s.check_interval,
            "dry_run": s.dry_run,
            "max_restarts": s.max_restarts,
            "restart_window": s.restart_window,
            "restart_delay": s.restart_delay,
        },
        "mqtt": {
            "base_topic": config.mqtt.base_topic,
            "discovery": config.mqtt.discovery,
            "discovery_prefix": config.mqtt.discovery_prefix,
            "protocol": config.mqtt.protocol,
        },
    }
