"""merge_maindata: how partial ``sync/maindata`` answers fold into the full state."""

import json

import pytest

from qbitrr_mqtt.clients.qbit import OTHER, MainData, merge_maindata, parse_maindata

FULL = {
    "rid": 1,
    "full_update": True,
    "torrents": {"AA": {"name": "a", "state": "stalledDL", "progress": 0.1}, "bb": {"name": "b"}},
    "server_state": {"dl_info_speed": 5, "free_space_on_disk": 100},
    "categories": {"radarr": {"name": "radarr"}},
    "tags": ["x"],
}


def test_full_update_replaces_everything():
    old = MainData(torrents={"zz": {"hash": "zz"}}, rid=7)
    state = merge_maindata(old, FULL)
    assert state.full and state.rid == 1
    assert set(state.torrents) == {"aa", "bb"} and state.torrents["aa"]["hash"] == "aa"
    assert state.changed == {"aa", "bb"} and state.tags == ["x"]


def test_partial_update_merges_fields_and_drops_removed():
    state = merge_maindata(MainData(), FULL)
    state = merge_maindata(
        state,
        {
            "rid": 2,
            "torrents": {"aa": {"progress": 0.5}},
            "torrents_removed": ["bb"],
            "server_state": {"dl_info_speed": 9},
            "categories_removed": ["radarr"],
            "tags": ["y"],
            "tags_removed": ["x"],
        },
    )
    assert not state.full and state.rid == 2
    assert state.torrents == {
        "aa": {"name": "a", "state": "stalledDL", "progress": 0.5, "hash": "aa"}
    }
    assert state.changed == {"aa"} and state.removed == {"bb"}
    assert state.server_state == {"dl_info_speed": 9, "free_space_on_disk": 100}
    assert state.categories == {} and state.tags == ["y"]


def test_empty_answer_keeps_state_and_takes_new_rid():
    state = merge_maindata(MainData(), FULL)
    again = merge_maindata(state, {"rid": 3})
    assert again.torrents == state.torrents and again.rid == 3 and not again.changed


def test_kept_fields_only_and_a_tick_of_other_fields_is_no_change():
    keep = frozenset({"hash", "name", "state", "progress"})
    state = merge_maindata(MainData(), {**FULL, "torrents": {"aa": {"name": "a", "state": "uploading", "time_active": 5, "upspeed": 9}}}, keep)  # fmt: skip
    before = state.torrents["aa"]
    assert before == {"hash": "aa", "name": "a", "state": "uploading"}
    ticked = merge_maindata(state, {"rid": 2, "torrents": {"aa": {"time_active": 6, "upspeed": 0}}}, keep)  # fmt: skip
    assert ticked.changed == set() and ticked.torrents["aa"] is before  # the same object
    same = merge_maindata(ticked, {"rid": 3, "torrents": {"aa": {"state": "uploading"}}}, keep)
    assert same.changed == set() and same.torrents["aa"] is before
    moved = merge_maindata(same, {"rid": 4, "torrents": {"aa": {"state": "stalledUP", "upspeed": 1}}}, keep)  # fmt: skip
    assert moved.changed == {"aa"} and moved.torrents["aa"] == {**before, "state": "stalledUP"}
    assert before["state"] == "uploading"  # the old dict is never changed in place


# parse_maindata: the answer's bytes, torrent objects trimmed to the kept fields as they are read.
ANSWER = json.dumps(
    {
        "rid": 5,
        "full_update": True,
        "torrents": {
            "AA": {"name": "alpha", "state": "uploading", "save_path": "/data/x", "time_active": 5,
                   "magnet_uri": "magnet:?xt=urn:btih:aa", "upspeed": 0, "tags": ""},
            "bb": {"name": "beta", "state": "uploading", "save_path": "/data/x", "time_active": 9},
            "cc": {"state": "pausedUP"},  # a partial entry without a marker: kept whole
        },
        "server_state": {"dl_info_speed": 5, "free_space_on_disk": 100, "up_rate_limit": 0},
        "categories": {"radarr": {"name": "radarr", "savePath": "/data"}},
        "trackers": {"http://t/announce": ["aa"]},
        "tags": ["x"],
    }
).encode()  # fmt: skip
KEEP = frozenset({"hash", "name", "state", "save_path", "tags"})


def test_parse_trims_torrents_and_leaves_every_other_object_whole():
    data = parse_maindata(ANSWER, KEEP)
    assert data["torrents"]["AA"] == {"name": "alpha", "state": "uploading", "save_path": "/data/x", "tags": ""}  # fmt: skip
    assert data["torrents"]["bb"] == {"name": "beta", "state": "uploading", "save_path": "/data/x"}
    assert data["torrents"]["cc"] == {"state": "pausedUP"}
    assert data["server_state"] == {"dl_info_speed": 5, "free_space_on_disk": 100, "up_rate_limit": 0}  # fmt: skip
    assert data["categories"] == {"radarr": {"name": "radarr", "savePath": "/data"}}
    assert data["trackers"] == {"http://t/announce": ["aa"]} and data["rid"] == 5


def test_parse_without_keep_is_plain_json_and_merging_gives_the_same_state():
    assert parse_maindata(ANSWER) == json.loads(ANSWER)
    trimmed = merge_maindata(MainData(), parse_maindata(ANSWER, KEEP), KEEP)
    whole = merge_maindata(MainData(), json.loads(ANSWER), KEEP)
    assert trimmed.torrents == whole.torrents and trimmed.server_state == whole.server_state


def test_parse_shares_equal_strings_of_shared_fields_across_answers():
    shared: dict[str, str] = {}
    first = parse_maindata(ANSWER, KEEP, shared)["torrents"]
    second = parse_maindata(ANSWER, KEEP, shared)["torrents"]
    assert first["AA"]["save_path"] is first["bb"]["save_path"] is second["AA"]["save_path"]
    assert first["AA"]["state"] is second["bb"]["state"]
    assert first["AA"]["name"] is not second["AA"]["name"]  # a name is not a shared field


@pytest.mark.parametrize("body", [b"[1, 2]", b"{not json", b""])
def test_parse_refuses_what_is_not_a_json_object(body):
    with pytest.raises(ValueError):
        parse_maindata(body, KEEP)


# merge_maindata / parse_maindata for one category: the torrents of other categories are not held.
CAT_FULL = {
    "rid": 1,
    "full_update": True,
    "torrents": {
        "aa": {"name": "a", "category": "radarr", "added_on": 1, "state": "uploading"},
        "bb": {"name": "b", "category": "sonarr", "added_on": 2, "state": "uploading"},
        "cc": {"name": "c", "category": "", "added_on": 3, "state": "uploading"},
    },
}


def test_one_category_holds_only_its_torrents_like_the_filter_on_the_whole_state():
    whole = merge_maindata(MainData(), CAT_FULL)
    for category in ("radarr", "sonarr", "", "lidarr"):
        state = merge_maindata(MainData(), CAT_FULL, category=category)
        expected = {h: t for h, t in whole.torrents.items() if t.get("category") == category}
        assert state.torrents == expected and state.changed == expected.keys()
        assert state.full and not state.entering


def test_one_category_moves_in_and_out_and_removals():
    state = merge_maindata(MainData(), CAT_FULL, category="radarr")
    # bb ticks (no category in its entry): not held, not changed.
    ticked = merge_maindata(state, {"rid": 2, "torrents": {"bb": {"state": "stalledUP"}}}, category="radarr")  # fmt: skip
    assert set(ticked.torrents) == {"aa"} and not ticked.changed and not ticked.entering
    # bb moves in: its partial entry is not a record; the caller reads it whole.
    moved = merge_maindata(ticked, {"rid": 3, "torrents": {"bb": {"category": "radarr"}}}, category="radarr")  # fmt: skip
    assert moved.entering == {"bb"} and "bb" not in moved.torrents and not moved.changed
    # a new torrent added to the category comes whole: held at once.
    new = {"name": "d", "category": "radarr", "added_on": 4, "state": "downloading"}
    added = merge_maindata(moved, {"rid": 4, "torrents": {"dd": new}}, category="radarr")
    assert added.torrents["dd"] == {**new, "hash": "dd"} and added.changed == {"dd"}
    # aa moves out: gone from the view, reported removed; cc's removal is reported too.
    out = merge_maindata(added, {"rid": 5, "torrents": {"aa": {"category": "sonarr"}}, "torrents_removed": ["cc"]}, category="radarr")  # fmt: skip
    assert set(out.torrents) == {"dd"} and out.removed == {"aa", "cc"} and not out.changed
    # a torrent that entered and was removed in the same answer is not to be read.
    gone = merge_maindata(out, {"rid": 6, "torrents": {"ee": {"category": "radarr"}}, "torrents_removed": ["ee"]}, category="radarr")  # fmt: skip
    assert not gone.entering


def test_parse_for_one_category_builds_no_dict_for_other_categories():
    body = json.dumps(
        {
            "rid": 1,
            "full_update": True,
            "torrents": {
                h: {"name": h, "category": cat, "added_on": 1, "time_active": 1, "state": "x"}
                for h, cat in (("aa", "radarr"), ("bb", "sonarr"), ("cc", ""))
            },
        }
    )
    keep = frozenset({"name", "category", "added_on", "state"})
    data = parse_maindata(body, keep, {}, "radarr")
    assert data["torrents"]["bb"] is OTHER and data["torrents"]["cc"] is OTHER
    assert data["torrents"]["aa"] == {"name": "aa", "category": "radarr", "added_on": 1, "state": "x"}  # fmt: skip
    assert set(merge_maindata(MainData(), data, keep, "radarr").torrents) == {"aa"}
    # a partial entry without a category is left to merge_maindata (it knows what it holds)
    partial = parse_maindata(b'{"torrents": {"bb": {"time_active": 2, "state": "y"}}}', keep, {}, "radarr")  # fmt: skip
    assert partial["torrents"]["bb"] == {"state": "y"}
