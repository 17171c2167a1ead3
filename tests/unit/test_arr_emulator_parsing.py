"""The emulator's release-name matching (unlinked torrents found in the Arr's category)."""

from __future__ import annotations

import pytest

from services.arr_emulator.flavors import flavor_of
from services.arr_emulator.library import Library
from services.arr_emulator.parsing import match_items


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
