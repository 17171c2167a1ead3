"""Library seeds: ``demo`` (a few titles per kind), a JSON file, or a dict of the same shape.

Shape (camelCase, as the real API; sections for other kinds are ignored, so one file seeds
all three emulators)::

    {"movies":  [{"title", "year", "monitored", "hasFile", "cutoffUnmet"}],
     "series":  [{"title", "monitored", "episodes": [{"title", "season", "number",
                  "monitored", "hasFile", "airDate"}]}],
     "artists": [{"name", "monitored", "albums": [{"title", "monitored", "hasFile",
                  "releaseDate"}]}],
     "queue":   [{"downloadId", "title", "mediaIds", "trackedDownloadState", ...}],
     "links":   {"<torrent hash>": [<media ids>]}}
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import ArrEmulator

DEMO: dict[str, Any] = {
    "movies": [
        {"title": "Big Buck Bunny", "year": 2008, "hasFile": True},
        {"title": "Sintel", "year": 2010},
        {"title": "Tears of Steel", "year": 2012},
        {"title": "Elephants Dream", "year": 2006, "monitored": False},
        {"title": "Cosmos Laundromat", "year": 2015, "hasFile": True, "cutoffUnmet": True},
    ],
    "series": [
        {
            "title": "Open Movie Project",
            "episodes": [
                {
                    "title": "Pilot",
                    "season": 1,
                    "number": 1,
                    "hasFile": True,
                    "airDate": "2021-01-04",
                },
                {"title": "Second", "season": 1, "number": 2, "airDate": "2021-01-11"},
                {"title": "Third", "season": 1, "number": 3, "airDate": "2021-01-18"},
            ],
        },
        {
            "title": "Blender Shorts",
            "monitored": False,
            "episodes": [{"title": "Spring", "season": 1, "number": 1, "airDate": "2019-04-04"}],
        },
    ],
    "artists": [
        {
            "name": "Creative Commons Ensemble",
            "albums": [
                {"title": "Free Sounds", "hasFile": True, "releaseDate": "2018-05-01"},
                {"title": "Open Air", "releaseDate": "2020-06-01"},
                {"title": "Public Domain", "releaseDate": "2022-07-01"},
            ],
        }
    ],
}

RECORD_FIELDS = {
    "status": "status",
    "trackedDownloadStatus": "tracked_status",
    "trackedDownloadState": "tracked_state",
    "statusMessages": "status_messages",
    "errorMessage": "error_message",
    "size": "size",
    "sizeleft": "sizeleft",
    "etaSeconds": "eta_seconds",
    "outputPath": "output_path",
    "indexer": "indexer",
    "downloadClient": "download_client",
}


def load_seed(seed: dict[str, Any] | str) -> dict[str, Any]:
    """``demo``, ``empty``, a JSON file path, or a dict; ValueError with the reason otherwise."""
    if isinstance(seed, dict):
        return seed
    if seed == "demo":
        return DEMO
    if seed in {"", "empty", "none"}:
        return {}
    path = Path(seed)
    if not path.is_file():
        raise ValueError(f"seed {seed!r} is neither 'demo', 'empty' nor a readable JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"seed file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"seed file {path}: the top level must be a JSON object")
    return data


def apply_seed(emu: ArrEmulator, seed: dict[str, Any] | str) -> dict[str, Any]:
    """Add the seed's library, queue and links for ``emu``'s kind; the ids it created."""
    data = load_seed(seed)
    created = add_library(emu, data)
    for spec in data.get("queue") or []:
        add_queue_from_spec(emu, spec)
    for download_hash, ids in (data.get("links") or {}).items():
        emu.link(download_hash, list(ids))
    return created


def add_library(emu: ArrEmulator, data: dict[str, Any]) -> dict[str, Any]:
    """The library part of a seed; returns the new ids per section."""
    if emu.kind == "radarr":
        return {
            "movies": [
                emu.add_movie(m["title"], **_item_fields(m, "releaseDate"))
                for m in data.get("movies") or []
            ]
        }
    section, child, name = (
        ("series", "episodes", "title") if emu.kind == "sonarr" else ("artists", "albums", "name")
    )
    date_key = "airDate" if emu.kind == "sonarr" else "releaseDate"
    created = []
    for parent in data.get(section) or []:
        parent_id = emu.add_parent(parent[name], monitored=bool(parent.get("monitored", True)))
        child_ids = [
            emu.add_item(c["title"], parent_id=parent_id, **_item_fields(c, date_key))
            for c in parent.get(child) or []
        ]
        created.append({"id": parent_id, f"{child[:-1]}Ids": child_ids})
    return {section: created}


def _item_fields(spec: dict[str, Any], date_key: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "monitored": bool(spec.get("monitored", True)),
        "has_file": bool(spec.get("hasFile", False)),
        "cutoff_unmet": bool(spec.get("cutoffUnmet", False)),
    }
    for key, target in (("year", "year"), ("season", "season"), ("number", "number")):
        if key in spec:
            fields[target] = int(spec[key])
    if "year" in spec and not spec.get(date_key):
        fields["released"] = datetime(int(spec["year"]), 1, 1, tzinfo=UTC)
    if spec.get(date_key):
        fields["released"] = datetime.fromisoformat(
            str(spec[date_key]).replace("Z", "+00:00")
        ).replace(tzinfo=UTC)
    return fields


def add_queue_from_spec(emu: ArrEmulator, spec: dict[str, Any]) -> list[Any]:
    """One download from a camelCase spec (``downloadId``, ``title``, ``mediaIds``, fields)."""
    unknown = set(spec) - set(RECORD_FIELDS) - {"downloadId", "title", "mediaIds"}
    if unknown:
        raise ValueError(f"unknown queue record field(s): {', '.join(sorted(unknown))}")
    if not isinstance(spec.get("downloadId"), str) or not spec["downloadId"]:
        raise ValueError("downloadId (the torrent hash) is required")
    fields = {RECORD_FIELDS[k]: v for k, v in spec.items() if k in RECORD_FIELDS}
    return emu.add_queue_record(
        spec["downloadId"], spec.get("title"), media_ids=spec.get("mediaIds"), **fields
    )
