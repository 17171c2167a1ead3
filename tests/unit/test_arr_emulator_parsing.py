"""The emulator's release-name matching (unlinked torrents found in the Arr's category), and
how it holds qBittorrent's torrents between reads (``sync/maindata`` merged)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.arr_emulator.flavors import flavor_of
from services.arr_emulator.library import Library
from services.arr_emulator.parsing import clean, match_items
from services.arr_emulator.qbit import merge_torrents


def library(kind: str) -> Library:
    lib = Library(flavor_of(kind))
    if kind == "radarr":
        lib.add_item("Sintel", year=2010)
        lib.add_item("Sintel 2", year=2030)
        lib.add_item("Tears of Steel", year=2012)
    elif kind == "sonarr":
        show = lib.add_parent("Open Movie Project").id
        for season, number in ((1, 1), (1, 2), (2, 1)):
            lib.add_item(f"E{season}{number}", parent_id=show, season=season, number=number)
    else:
        artist = lib.add_parent("CC Ensemble").id
        lib.add_item("Free Sounds", parent_id=artist)
        lib.add_item("Free Sounds Deluxe", parent_id=artist)
    return lib


@pytest.mark.parametrize(
    ("kind", "name", "ids"),
    [
        ("radarr", "Sintel.2010.1080p.BluRay.x264-GRP", [1]),
        ("radarr", "Sintel.2.2030.2160p", [2]),
        ("radarr", "tears_of_steel_(2012)_720p", [3]),
        ("radarr", "Sintelligent.2019", []),
        ("radarr", "Big.Buck.Bunny.2008", []),
        ("sonarr", "Open.Movie.Project.S01E02.720p.WEB", [2]),
        ("sonarr", "Open Movie Project - S01 - 1080p", [1, 2]),
        ("sonarr", "Open.Movie.Project.S03E01", []),
        ("sonarr", "Other.Show.S01E01", []),
        ("lidarr", "CC Ensemble - Free Sounds (2018) [FLAC]", [1]),
        ("lidarr", "CC.Ensemble-Free.Sounds.Deluxe-WEB-2018", [2]),
        ("lidarr", "Someone Else - Free Sounds", []),
    ],
)
def test_release_names_match_library_items(kind: str, name: str, ids: list[int]) -> None:
    assert match_items(library(kind), name) == ids


def _scan(lib: Library, name: str) -> list[int]:
    """Radarr matching the plain way: every movie whose cleaned title starts the name."""
    title = clean(name)
    hits = [
        i
        for i in lib.items.values()
        if (t := clean(i.title)) and (title == t or title.startswith(t + " "))
    ]
    best = max(hits, key=lambda i: len(i.title), default=None)
    return [best.id] if best else []


@settings(max_examples=200, deadline=None)
@given(
    titles=st.lists(st.lists(st.sampled_from(["a", "b", "c", "x.y", "!"]), max_size=4)),
    name=st.lists(st.sampled_from(["a", "b", "c", "x", "y", "2010", "-"]), max_size=6),
    later=st.lists(st.sampled_from(["a", "a b", "b-c", "A.B.C"]), max_size=3),
)
def test_radarr_title_index_matches_a_scan_of_every_movie(
    titles: list[list[str]], name: list[str], later: list[str]
) -> None:
    lib = Library(flavor_of("radarr"))
    for words in titles:
        lib.add_item(" ".join(words))
    release = ".".join(name)
    assert match_items(lib, release) == _scan(lib, release)
    for title in later:  # the index follows the library as it grows
        lib.add_item(title)
        assert match_items(lib, release) == _scan(lib, release)


def test_maindata_merge_keeps_an_unchanged_torrents_dict() -> None:
    full = {
        "full_update": True,
        "rid": 1,
        "torrents": {
            "AA": {"name": "One", "state": "stalledDL", "category": "c", "time_active": 1},
            "bb": {"name": "Two", "state": "uploading", "category": "d"},
        },
    }
    held = merge_torrents({}, full)
    assert held["aa"] == {"hash": "aa", "name": "One", "state": "stalledDL", "category": "c"}
    one, two = held["aa"], held["bb"]
    held = merge_torrents(held, {"rid": 2, "torrents": {"aa": {"time_active": 2}}})
    assert held["aa"] is one  # a field the queue does not read changed: same dict
    held = merge_torrents(
        held, {"rid": 3, "torrents": {"bb": {"state": "pausedUP"}}, "torrents_removed": ["aa"]}
    )
    assert set(held) == {"bb"} and held["bb"] is not two and held["bb"]["state"] == "pausedUP"
    held = merge_torrents(held, {"full_update": True, "rid": 4, "torrents": {}})
    assert held == {}
