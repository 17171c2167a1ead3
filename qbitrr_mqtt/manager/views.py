"""Conversions between the outside world's data and the policy's views.

qBittorrent's torrent dicts, the Arr's queue records and the store's rows come in; the
policy's frozen ``TorrentView`` / ``QueueItem`` / ``History`` go out. Pure functions, so the
mapping is tested without services.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..policy import FileView, History, QueueItem, TorrentView

#: Our health classes, counted per instance and published to Home Assistant.
HEALTHS = (
    "downloading",
    "stalled",
    "metadata",
    "seeding",
    "completed",
    "paused",
    "queued",
    "checking",
    "errored",
)

_HEALTH = {
    "downloading": "downloading",
    "forcedDL": "downloading",
    "moving": "checking",
    "stalledDL": "stalled",
    "metaDL": "metadata",
    "forcedMetaDL": "metadata",
    "uploading": "seeding",
    "stalledUP": "seeding",
    "forcedUP": "seeding",
    "pausedUP": "completed",
    "stoppedUP": "completed",
    "pausedDL": "paused",
    "stoppedDL": "paused",
    "queuedDL": "queued",
    "queuedUP": "queued",
    "checkingDL": "checking",
    "checkingUP": "checking",
    "checkingResumeData": "checking",
    "allocating": "checking",
    "error": "errored",
    "missingFiles": "errored",
    "unknown": "errored",
}


def health_of(state: str) -> str:
    """Our coarse class of a qBittorrent state (``errored`` for anything unknown)."""
    return _HEALTH.get(state, "errored")


def epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def from_epoch(value: float | int | None) -> datetime | None:
    """qBittorrent's epoch seconds as an aware datetime (0 / -1 mean unknown)."""
    if value is None or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


#: The ``sync/maindata`` torrent fields the manager reads (``torrent_view`` and the loop);
#: the rest is neither kept nor a reason to look at a torrent again.
TORRENT_FIELDS = frozenset(
    {
        "hash", "name", "state", "progress", "size", "downloaded", "amount_left", "dlspeed",
        "eta", "availability", "ratio", "seeding_time", "added_on", "completion_on",
        "last_activity", "tags", "category", "tracker", "private", "content_path",
        "save_path", "num_seeds", "priority",
    }
)  # fmt: skip


def torrent_view(h: str, t: dict[str, Any], *, private: bool = False) -> TorrentView:
    """A qBittorrent torrent dict (``sync/maindata`` torrents entry) as the policy sees it."""
    tags = tuple(x.strip() for x in str(t.get("tags") or "").split(",") if x.strip())
    return TorrentView(
        hash=h,
        name=str(t.get("name", "")),
        state=str(t.get("state", "unknown")),
        progress=float(t.get("progress", 0.0) or 0.0),
        size=int(t.get("size", 0) or 0),
        downloaded=int(t.get("downloaded", 0) or 0),
        amount_left=int(t.get("amount_left", 0) or 0),
        dlspeed=int(t.get("dlspeed", 0) or 0),
        eta=int(t.get("eta", 8640000) or 0),
        availability=float(t.get("availability", -1) if t.get("availability") is not None else -1),
        ratio=float(t.get("ratio", 0.0) or 0.0),
        seeding_time=int(t.get("seeding_time", 0) or 0),
        added_on=float(t.get("added_on", 0) or 0),
        completion_on=float(max(t.get("completion_on", 0) or 0, 0)),
        last_activity=float(t.get("last_activity", 0) or 0),
        tags=tags,
        category=str(t.get("category", "")),
        tracker=str(t.get("tracker", "") or ""),
        private=bool(t.get("private", private) or private),
        content_path=str(t.get("content_path", "") or ""),
        save_path=str(t.get("save_path", "") or ""),
        num_seeds=int(t.get("num_seeds", 0) or 0),
        priority=int(t.get("priority", 0) or 0),
    )


def _media_ids(record: dict[str, Any]) -> tuple[int, ...]:
    for key in ("movieId", "episodeId", "albumId"):
        if record.get(key) is not None:
            return (int(record[key]),)
    return ()


def queue_item(record: dict[str, Any]) -> QueueItem:
    """One Arr queue record; status message *titles* are dropped on purpose (see QueueItem)."""
    messages: list[str] = []
    for entry in record.get("statusMessages") or ():
        messages.extend(str(m) for m in entry.get("messages") or ())
    return QueueItem(
        id=int(record["id"]),
        media_ids=_media_ids(record),
        status=str(record.get("status", "")),
        tracked_download_status=str(record.get("trackedDownloadStatus", "")),
        tracked_download_state=str(record.get("trackedDownloadState", "")),
        status_messages=tuple(messages),
        error_message=str(record.get("errorMessage", "") or ""),
    )


def queue_by_hash(records: list[dict[str, Any]]) -> dict[str, tuple[QueueItem, ...]]:
    """Queue records grouped by torrent hash (``downloadId`` is upper case in the Arr)."""
    grouped: dict[str, list[QueueItem]] = {}
    for record in records:
        download_id = record.get("downloadId")
        if not download_id or record.get("id") is None:
            continue
        grouped.setdefault(str(download_id).lower(), []).append(queue_item(record))
    return {h: tuple(items) for h, items in grouped.items()}


def file_views(files: list[dict[str, Any]]) -> tuple[FileView, ...]:
    return tuple(
        FileView(
            index=int(f.get("index", i)),
            name=str(f.get("name", "")),
            size=int(f.get("size", 0) or 0),
            progress=float(f.get("progress", 0.0) or 0.0),
            priority=int(f.get("priority", 1)),
        )
        for i, f in enumerate(files)
    )


def history_of(row: Any, memory: dict[str, Any] | None = None) -> History:
    """The policy's History from the store's Torrent row (+ what only lives in memory)."""
    memory = memory or {}
    if row is None:
        return History(speed_samples=tuple(memory.get("samples", ())))
    return History(
        strikes=row.strikes,
        strike_reason=row.strike_reason,
        first_seen=epoch(row.first_seen),
        last_strike_at=epoch(row.last_strike_at),
        downloaded_at_last_strike=row.last_progress_bytes if row.last_strike_at else None,
        last_progress_at=epoch(row.last_activity),
        import_sent_at=epoch(row.import_sent_at),
        imported=row.imported,
        last_recheck_at=epoch(getattr(row, "last_recheck_at", None)),
        rechecks=getattr(row, "rechecks", 0) or 0,
        speed_samples=tuple(memory.get("samples", ())),
        kept_for_hnr=bool(getattr(row, "kept_for_hnr", False)),
    )


@dataclass(frozen=True, slots=True)
class KeptRow:
    """What the manager keeps of a store torrent row between cycles: the policy's History
    (converted once, and shared by every snapshot built from it) and the few fields that
    recording and publishing read. A whole row with its datetimes and strings is ~700 bytes
    per torrent, this about a third; a new object whenever the row is read again, so its
    identity still says "the same row" (see ``Manager._kept_snapshot``).

    ``queued``: the Arr had the torrent queued or was asked to import it (``arr_queue_id``
    or ``import_sent_at`` set), what ``_left_the_queue`` asks of the row.
    """

    history: History
    downloaded: int
    gone: bool
    queued: bool
    last_action: str | None


def kept_row(row: Any) -> KeptRow:
    """The compact form of a store ``TorrentRow`` (see :class:`KeptRow`)."""
    return KeptRow(
        history=history_of(row),
        downloaded=row.downloaded,
        gone=row.gone_at is not None,
        queued=row.arr_queue_id is not None or row.import_sent_at is not None,
        last_action=row.last_action,
    )


def history_with(kept: KeptRow | None, samples: list[tuple[float, int]]) -> History:
    """A downloading torrent's History: the kept row's with the speed samples in memory."""
    if kept is None:
        return History(speed_samples=tuple(samples))
    return replace(kept.history, speed_samples=tuple(samples))
