"""Match a download's name to library items, as the real Arr apps parse release titles.

Only used for torrents nobody linked: ``Sintel.2010.1080p.BluRay`` is the movie Sintel,
``Show.Name.S01E02.720p`` one episode, ``Show.Name.S01.1080p`` the whole season,
``Artist - Album (2020) [FLAC]`` one album.
"""

from __future__ import annotations

import re
from weakref import WeakKeyDictionary

from .library import Item, Library

_EPISODE = re.compile(r"\bs(\d{1,2})e(\d{1,3})\b")
_SEASON = re.compile(r"\bs(\d{1,2})\b")


def clean(text: str) -> str:
    """Lower case words separated by single spaces (dots, dashes, brackets dropped)."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def match_items(library: Library, name: str) -> list[int]:
    """Ids of the items ``name`` is a release of; empty when it matches nothing."""
    title = clean(name)
    kind = library.flavor.kind
    if kind == "radarr":
        # The movies whose cleaned title is the whole name or a run of its first words.
        index = _movies_by_title(library)
        words = title.split(" ")
        hits = [i for n in range(len(words)) for i in index.get(" ".join(words[: n + 1]), ())]
        hits.sort(key=lambda i: i.id)  # library order, as the first longest wins
        best = max(hits, key=lambda i: len(i.title), default=None)
        return [best.id] if best else []
    for parent in sorted(library.parents.values(), key=lambda p: -len(p.title)):
        parent_title = clean(parent.title)
        children = library.items_of(parent.id)
        if kind == "sonarr" and _starts_with(title, parent_title):
            rest = title[len(parent_title) :]
            if episode := _EPISODE.search(rest):
                season, number = int(episode[1]), int(episode[2])
                return [i.id for i in children if (i.season, i.number) == (season, number)]
            if season_only := _SEASON.search(rest):
                return sorted(i.id for i in children if i.season == int(season_only[1]))
        if kind == "lidarr" and parent_title and parent_title in title:
            albums = [i for i in children if clean(i.title) and clean(i.title) in title]
            if albums:
                return [max(albums, key=lambda i: len(i.title)).id]
    return []


#: Library -> (items it had, movies by cleaned title); items are only ever added.
_INDEX: WeakKeyDictionary[Library, tuple[int, dict[str, list[Item]]]] = WeakKeyDictionary()


def _movies_by_title(library: Library) -> dict[str, list[Item]]:
    cached = _INDEX.get(library)
    if cached is not None and cached[0] == len(library.items):
        return cached[1]
    index: dict[str, list[Item]] = {}
    for item in library.items.values():
        if key := clean(item.title):
            index.setdefault(key, []).append(item)
    _INDEX[library] = (len(library.items), index)
    return index


def _starts_with(title: str, prefix: str) -> bool:
    return bool(prefix) and (title == prefix or title.startswith(prefix + " "))
