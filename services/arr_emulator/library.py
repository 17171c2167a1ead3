"""The emulated library: movies, or series with episodes, or artists with albums.

One generic shape serves all three kinds: ``Item`` is the wanted unit (movie / episode /
album) and ``Parent`` the grouping above it (series / artist; none for Radarr). The
``render_*`` functions turn them into the resources of the real API (field names and types
per the OpenAPI documents; null fields are left out, as the real servers do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .flavors import Flavor

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ``, the date format of the real servers."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "untitled"


@dataclass(slots=True)
class Parent:
    """A series (Sonarr) or an artist (Lidarr)."""

    id: int
    title: str
    monitored: bool = True
    added: datetime = field(default_factory=now)


@dataclass(slots=True)
class Item:
    """A movie, an episode or an album: what is searched, queued and imported."""

    id: int
    title: str
    monitored: bool = True
    has_file: bool = False
    parent_id: int | None = None
    #: Movie year; season of an episode.
    year: int = 2020
    season: int = 1
    number: int = 1
    #: Air date (episode), release date (movie, album).
    released: datetime = EPOCH
    #: Has a file below the quality cutoff (shows in wanted/cutoff).
    cutoff_unmet: bool = False
    last_search: datetime | None = None
    added: datetime = field(default_factory=now)


class Library:
    """Items and parents of one emulator, with ids handed out in order."""

    def __init__(self, flavor: Flavor) -> None:
        self.flavor = flavor
        self.parents: dict[int, Parent] = {}
        self.items: dict[int, Item] = {}
        self._next_parent = 1
        self._next_item = 1

    def add_parent(self, title: str, *, monitored: bool = True) -> Parent:
        if self.flavor.parent is None:
            raise ValueError(f"{self.flavor.app_name} has no {self.flavor.item} parents")
        parent = Parent(self._next_parent, title, monitored)
        self.parents[parent.id] = parent
        self._next_parent += 1
        return parent

    def add_item(self, title: str, *, parent_id: int | None = None, **fields: Any) -> Item:
        """Add a movie / episode / album; episodes and albums need an existing parent."""
        if self.flavor.parent is not None:
            if parent_id is None:
                parent_id = self._default_parent().id
            elif parent_id not in self.parents:
                raise ValueError(f"no {self.flavor.parent} with id {parent_id}")
        elif parent_id is not None:
            raise ValueError("a movie has no parent")
        item = Item(self._next_item, title, parent_id=parent_id, **fields)
        self.items[item.id] = item
        self._next_item += 1
        return item

    def _default_parent(self) -> Parent:
        if not self.parents:
            return self.add_parent(f"Generated {self.flavor.parent}")
        return self.parents[max(self.parents)]

    def item(self, item_id: int) -> Item | None:
        return self.items.get(item_id)

    def missing(self, monitored: bool) -> list[Item]:
        """wanted/missing: items without a file, filtered by ``monitored`` as the real API does."""
        return [
            i
            for i in self.items.values()
            if not i.has_file and self.effective_monitored(i) == monitored
        ]

    def cutoff_unmet(self, monitored: bool) -> list[Item]:
        return [
            i
            for i in self.items.values()
            if i.has_file and i.cutoff_unmet and self.effective_monitored(i) == monitored
        ]

    def effective_monitored(self, item: Item) -> bool:
        parent = self.parents.get(item.parent_id) if item.parent_id is not None else None
        return item.monitored and (parent is None or parent.monitored)

    def items_of(self, parent_id: int) -> list[Item]:
        return [i for i in self.items.values() if i.parent_id == parent_id]


# --- resources -----------------------------------------------------------------------------


def render_item(lib: Library, item: Item, *, with_parent: bool = False) -> dict[str, Any]:
    """The MovieResource / EpisodeResource / AlbumResource of ``item``."""
    kind = lib.flavor.kind
    if kind == "radarr":
        data = _movie(item)
    elif kind == "sonarr":
        data = _episode(item)
        if with_parent and item.parent_id in lib.parents:
            data["series"] = render_parent(lib, lib.parents[item.parent_id])
    else:
        data = _album(item)
        if with_parent and item.parent_id in lib.parents:
            data["artist"] = render_parent(lib, lib.parents[item.parent_id])
    if item.last_search is not None:
        data["lastSearchTime"] = iso(item.last_search)
    return data


def _movie(item: Item) -> dict[str, Any]:
    size = 1_500_000_000 if item.has_file else 0
    return {
        "id": item.id,
        "title": item.title,
        "originalTitle": item.title,
        "sortTitle": item.title.lower(),
        "sizeOnDisk": size,
        "status": "released",
        "overview": "",
        "releaseDate": iso(item.released),
        "images": [],
        "year": item.year,
        "path": f"/movies/{item.title} ({item.year})",
        "qualityProfileId": 1,
        "hasFile": item.has_file,
        "movieFileId": item.id if item.has_file else 0,
        "monitored": item.monitored,
        "minimumAvailability": "released",
        "isAvailable": True,
        "folderName": f"/movies/{item.title} ({item.year})",
        "runtime": 120,
        "cleanTitle": slug(item.title).replace("-", ""),
        "tmdbId": 10_000 + item.id,
        "titleSlug": f"{slug(item.title)}-{10_000 + item.id}",
        "rootFolderPath": "/movies",
        "genres": [],
        "keywords": [],
        "tags": [],
        "added": iso(item.added),
        "popularity": 1.0,
        "statistics": {
            "movieFileCount": 1 if item.has_file else 0,
            "sizeOnDisk": size,
            "releaseGroups": [],
        },
    }


def _episode(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "seriesId": item.parent_id,
        "tvdbId": 50_000 + item.id,
        "episodeFileId": item.id if item.has_file else 0,
        "seasonNumber": item.season,
        "episodeNumber": item.number,
        "title": item.title,
        "airDate": item.released.strftime("%Y-%m-%d"),
        "airDateUtc": iso(item.released),
        "runtime": 45,
        "overview": "",
        "hasFile": item.has_file,
        "monitored": item.monitored,
        "unverifiedSceneNumbering": False,
    }


def _album(item: Item) -> dict[str, Any]:
    tracks = 10
    return {
        "id": item.id,
        "title": item.title,
        "disambiguation": "",
        "overview": "",
        "artistId": item.parent_id,
        "foreignAlbumId": f"album-{item.id:08d}",
        "monitored": item.monitored,
        "anyReleaseOk": True,
        "profileId": 1,
        "duration": 2_400_000,
        "albumType": "Album",
        "secondaryTypes": [],
        "mediumCount": 1,
        "releaseDate": iso(item.released),
        "releases": [],
        "genres": [],
        "media": [{"mediumNumber": 1, "mediumName": "", "mediumFormat": "Digital Media"}],
        "images": [],
        "links": [],
        "statistics": {
            "trackFileCount": tracks if item.has_file else 0,
            "trackCount": tracks,
            "totalTrackCount": tracks,
            "sizeOnDisk": 300_000_000 if item.has_file else 0,
            "percentOfTracks": 100.0 if item.has_file else 0.0,
        },
    }


def render_parent(lib: Library, parent: Parent) -> dict[str, Any]:
    """The SeriesResource / ArtistResource of ``parent``."""
    children = lib.items_of(parent.id)
    with_file = sum(1 for i in children if i.has_file)
    if lib.flavor.kind == "sonarr":
        seasons = sorted({i.season for i in children})
        return {
            "id": parent.id,
            "title": parent.title,
            "sortTitle": parent.title.lower(),
            "status": "continuing",
            "ended": False,
            "overview": "",
            "network": "Emulated",
            "images": [],
            "seasons": [{"seasonNumber": s, "monitored": parent.monitored} for s in seasons],
            "year": 2020,
            "path": f"/tv/{parent.title}",
            "qualityProfileId": 1,
            "seasonFolder": True,
            "monitored": parent.monitored,
            "monitorNewItems": "all",
            "useSceneNumbering": False,
            "runtime": 45,
            "tvdbId": 70_000 + parent.id,
            "tvRageId": 0,
            "tvMazeId": 0,
            "tmdbId": 0,
            "seriesType": "standard",
            "cleanTitle": slug(parent.title).replace("-", ""),
            "titleSlug": slug(parent.title),
            "rootFolderPath": "/tv",
            "genres": [],
            "tags": [],
            "added": iso(parent.added),
            "statistics": {
                "seasonCount": len(seasons),
                "episodeFileCount": with_file,
                "episodeCount": len(children),
                "totalEpisodeCount": len(children),
                "sizeOnDisk": with_file * 500_000_000,
                "releaseGroups": [],
                "percentOfEpisodes": 100.0 * with_file / len(children) if children else 0.0,
            },
        }
    return {
        "id": parent.id,
        "status": "continuing",
        "ended": False,
        "artistName": parent.title,
        "foreignArtistId": f"artist-{parent.id:08d}",
        "overview": "",
        "artistType": "Group",
        "disambiguation": "",
        "links": [],
        "images": [],
        "path": f"/music/{parent.title}",
        "qualityProfileId": 1,
        "metadataProfileId": 1,
        "monitored": parent.monitored,
        "monitorNewItems": "all",
        "rootFolderPath": "/music",
        "genres": [],
        "cleanName": slug(parent.title).replace("-", ""),
        "sortName": parent.title.lower(),
        "tags": [],
        "added": iso(parent.added),
        "statistics": {
            "albumCount": len(children),
            "trackFileCount": with_file * 10,
            "trackCount": len(children) * 10,
            "totalTrackCount": len(children) * 10,
            "sizeOnDisk": with_file * 300_000_000,
            "percentOfTracks": 100.0 * with_file / len(children) if children else 0.0,
        },
    }


def sort_items(items: list[Item], sort_key: str | None, descending: bool) -> list[Item]:
    """Order wanted records by the real API's sort keys (unknown keys sort by id)."""
    key = (sort_key or "").rsplit(".", 1)[-1].lower()
    if key in {"sorttitle", "title"}:
        items = sorted(items, key=lambda i: (i.title.lower(), i.id))
    elif key in {"airdateutc", "releasedate", "airdate", "digitalrelease", "incinemas"}:
        items = sorted(items, key=lambda i: (i.released, i.id))
    elif key == "lastsearchtime":
        items = sorted(items, key=lambda i: (i.last_search or EPOCH - timedelta(days=1), i.id))
    else:
        items = sorted(items, key=lambda i: i.id)
    return list(reversed(items)) if descending else items
