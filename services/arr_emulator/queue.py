"""Queue records: added by tests, or derived from the torrents of a linked qBittorrent.

A record is one download of one item (Sonarr: one per episode, so a season pack is N
records with one ``downloadId``; Radarr and Lidarr: one per movie / album). ``downloadId``
is the torrent hash in upper case, as the real apps send it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .flavors import Flavor
from .library import Library, iso, now, render_item, render_parent
from .qbit import STATE_MAP

#: Values a test may set on a record (queue fields of the real API).
QUEUE_STATUSES = frozenset(
    {
        "unknown",
        "queued",
        "paused",
        "downloading",
        "completed",
        "failed",
        "warning",
        "delay",
        "downloadClientUnavailable",
        "fallback",
    }
)
TRACKED_STATUSES = frozenset({"ok", "warning", "error"})
#: trackedDownloadState per kind: Lidarr v1 names the failure states differently.
TRACKED_STATES = {
    "radarr": frozenset(
        {
            "downloading",
            "importBlocked",
            "importPending",
            "importing",
            "imported",
            "failedPending",
            "failed",
            "ignored",
        }
    ),
    "lidarr": frozenset(
        {
            "downloading",
            "downloadFailed",
            "downloadFailedPending",
            "importBlocked",
            "importPending",
            "importing",
            "importFailed",
            "imported",
            "ignored",
        }
    ),
}
TRACKED_STATES["sonarr"] = TRACKED_STATES["radarr"]

_QUALITY = {
    "radarr": {
        "id": 7,
        "name": "Bluray-1080p",
        "source": "bluray",
        "resolution": 1080,
        "modifier": "none",
    },
    "sonarr": {"id": 7, "name": "Bluray-1080p", "source": "bluray", "resolution": 1080},
    "lidarr": {"id": 6, "name": "FLAC"},
}


def quality_of(kind: str) -> dict[str, Any]:
    """The QualityModel every emulated release carries."""
    return {
        "quality": dict(_QUALITY[kind]),
        "revision": {"version": 1, "real": 0, "isRepack": False},
    }


@dataclass(slots=True)
class QueueRecord:
    """One queue record; ``item_id`` None is an "unknown" item (no library match)."""

    id: int
    download_id: str
    title: str
    item_id: int | None = None
    status: str = "downloading"
    tracked_status: str = "ok"
    tracked_state: str = "downloading"
    status_messages: list[dict[str, Any]] = field(default_factory=list)
    error_message: str | None = None
    size: float = 1_000_000_000.0
    sizeleft: float = 500_000_000.0
    eta_seconds: int | None = None
    output_path: str | None = None
    indexer: str = "Emulated Indexer"
    download_client: str = "qBittorrent"
    added: datetime = field(default_factory=now)
    #: True when built from a qBittorrent torrent (rebuilt on every read).
    derived: bool = False


@dataclass(slots=True)
class DownloadOverride:
    """Test-set fields for every record of one download (applied over qBittorrent's view)."""

    status: str | None = None
    tracked_status: str | None = None
    tracked_state: str | None = None
    status_messages: list[dict[str, Any]] | None = None
    error_message: str | None = None

    def apply(self, record: QueueRecord) -> None:
        if self.status is not None:
            record.status = self.status
        if self.tracked_status is not None:
            record.tracked_status = self.tracked_status
        if self.tracked_state is not None:
            record.tracked_state = self.tracked_state
        if self.status_messages is not None:
            record.status_messages = [dict(m) for m in self.status_messages]
        if self.error_message is not None:
            record.error_message = self.error_message or None


def validate_record_fields(kind: str, fields: dict[str, Any]) -> None:
    """Raise ValueError naming the field when a test sets a value ``kind`` never sends."""
    checks = (
        ("status", QUEUE_STATUSES),
        ("tracked_status", TRACKED_STATUSES),
        ("tracked_state", TRACKED_STATES[kind]),
    )
    for name, allowed in checks:
        value = fields.get(name)
        if value is not None and value not in allowed:
            raise ValueError(f"{name} {value!r} is not one of {', '.join(sorted(allowed))}")
    for message in fields.get("status_messages") or []:
        if not isinstance(message, dict) or not isinstance(message.get("messages", []), list):
            raise ValueError("status_messages must be a list of {title, messages: [str]}")


def record_from_torrent(
    record_id: int, torrent: dict[str, Any], item_id: int | None
) -> QueueRecord:
    """The queue record a real Arr shows for a qBittorrent torrent in its category."""
    state = str(torrent.get("state", ""))
    status, warning = STATE_MAP.get(state, ("unknown", None))
    completed = status == "completed"
    eta = int(torrent.get("eta", 0) or 0)
    added_on = int(torrent.get("added_on", 0) or 0)
    return QueueRecord(
        id=record_id,
        download_id=str(torrent["hash"]).upper(),
        title=str(torrent.get("name", "")),
        item_id=item_id,
        status=status,
        tracked_status="warning" if warning else "ok",
        tracked_state="importPending" if completed else "downloading",
        error_message=warning,
        size=float(torrent.get("size", 0) or 0),
        sizeleft=float(torrent.get("amount_left", 0) or 0),
        eta_seconds=eta if status == "downloading" and 0 < eta < 8_640_000 else None,
        output_path=torrent.get("content_path") or torrent.get("save_path"),
        added=datetime.fromtimestamp(added_on, now().tzinfo) if added_on > 0 else now(),
        derived=True,
    )


def render_record(
    flavor: Flavor, lib: Library, record: QueueRecord, *, include: set[str]
) -> dict[str, Any]:
    """The QueueResource of ``record``; ``include`` holds the include* flags that were true."""
    data: dict[str, Any] = {
        "id": record.id,
        "quality": quality_of(flavor.kind),
        "customFormats": [],
        "customFormatScore": 0,
        "size": record.size,
        "title": record.title,
        "sizeleft": record.sizeleft,
        "added": iso(record.added),
        "status": record.status,
        "trackedDownloadStatus": record.tracked_status,
        "trackedDownloadState": record.tracked_state,
        "statusMessages": [dict(m) for m in record.status_messages],
        "downloadId": record.download_id,
        "protocol": "torrent",
        "downloadClient": record.download_client,
        "downloadClientHasPostImportCategory": False,
        "indexer": record.indexer,
    }
    if flavor.kind != "lidarr":
        data["languages"] = [{"id": 1, "name": "English"}]
    if record.output_path:
        data["outputPath"] = record.output_path
    if record.error_message:
        data["errorMessage"] = record.error_message
    if record.eta_seconds is not None:
        data["timeleft"] = _timespan(record.eta_seconds)
        data["estimatedCompletionTime"] = iso(now() + timedelta(seconds=record.eta_seconds))
    item = lib.item(record.item_id) if record.item_id is not None else None
    if item is not None:
        _add_media(flavor, lib, data, item, include)
    return data


def _add_media(
    flavor: Flavor, lib: Library, data: dict[str, Any], item: Any, include: set[str]
) -> None:
    data[flavor.item_key] = item.id
    if flavor.kind == "radarr":
        if "includeMovie" in include:
            data["movie"] = render_item(lib, item)
        return
    data[flavor.parent_key or ""] = item.parent_id
    parent = lib.parents.get(item.parent_id)
    if flavor.kind == "sonarr":
        data["seasonNumber"] = item.season
        data["episodeHasFile"] = item.has_file
        if "includeEpisode" in include:
            data["episode"] = render_item(lib, item)
        if "includeSeries" in include and parent is not None:
            data["series"] = render_parent(lib, parent)
    else:
        data["downloadForced"] = False
        data["trackFileCount"] = 10
        data["trackHasFileCount"] = 10 if item.has_file else 0
        if "includeAlbum" in include:
            data["album"] = render_item(lib, item)
        if "includeArtist" in include and parent is not None:
            data["artist"] = render_parent(lib, parent)


def _timespan(seconds: int) -> str:
    """.NET TimeSpan text: ``[d.]hh:mm:ss``."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}.{text}" if days else text
