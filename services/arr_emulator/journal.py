"""History and blocklist entries, in the shapes of the real API (HistoryResource,
BlocklistResource), stored already rendered since they never change.
"""

from __future__ import annotations

from typing import Any

from .flavors import Flavor
from .library import Library, iso, now
from .queue import QueueRecord, quality_of


class Journal:
    """What the Arr remembers about downloads: history events and blocklisted releases."""

    def __init__(self, flavor: Flavor, library: Library) -> None:
        self.flavor = flavor
        self.library = library
        self.history: list[dict[str, Any]] = []
        self.blocklist: list[dict[str, Any]] = []
        self._ids = {"history": 1, "blocklist": 1}

    def _next_id(self, name: str) -> int:
        value = self._ids[name]
        self._ids[name] = value + 1
        return value

    def media_fields(self, item_ids: list[int], *, many: bool) -> dict[str, Any]:
        """movieId / seriesId+episodeId(s) / artistId+albumId(s) for history and blocklist."""
        first = self.library.item(item_ids[0]) if item_ids else None
        fields: dict[str, Any] = {}
        if self.flavor.parent_key:
            fields[self.flavor.parent_key] = first.parent_id if first else 0
        if many and self.flavor.kind != "radarr":
            fields[self.flavor.items_key] = list(item_ids)
        else:
            fields[self.flavor.item_key] = item_ids[0] if item_ids else 0
        return fields

    def add_history(self, event: str, download_id: str, title: str, item_ids: list[int]) -> None:
        for item_id in item_ids or [0]:
            entry: dict[str, Any] = {
                "id": self._next_id("history"),
                **self.media_fields([item_id] if item_id else [], many=False),
                "sourceTitle": title,
                "quality": quality_of(self.flavor.kind),
                "customFormats": [],
                "customFormatScore": 0,
                "qualityCutoffNotMet": False,
                "date": iso(now()),
                "downloadId": download_id,
                "eventType": event,
                "data": {"downloadClient": "qBittorrent", "protocol": "2"},
            }
            if self.flavor.kind == "lidarr":
                entry["trackId"] = 0
            else:
                entry["languages"] = [{"id": 1, "name": "English"}]
            self.history.append(entry)

    def add_blocklist(self, record: QueueRecord, item_ids: list[int]) -> None:
        entry: dict[str, Any] = {
            "id": self._next_id("blocklist"),
            **self.media_fields(item_ids, many=True),
            "sourceTitle": record.title,
            "quality": quality_of(self.flavor.kind),
            "customFormats": [],
            "date": iso(now()),
            "protocol": "torrent",
            "indexer": record.indexer,
            "message": "Manually marked as failed",
        }
        if self.flavor.kind != "lidarr":
            entry["languages"] = [{"id": 1, "name": "English"}]
        self.blocklist.append(entry)
