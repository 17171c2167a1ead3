"""Imports, failed imports, hit-and-run and seeding limits."""

from __future__ import annotations

import pytest
from policy_cases import (
    DAY,
    NOW,
    acts,
    complete,
    ctx,
    only,
    policy,
    queue_item,
    removals,
    snap,
    torrent,
)

from qbitrr_mqtt.policy import Action, ArrView, History, Rule, decide_torrent
from qbitrr_mqtt.policy.seeding import hnr_met, seed_rules, seeding_limit_reached

PRIVATE = "https://private.example/announce/abc"
NOT_UPGRADE = "Not an upgrade for existing movie file. Existing quality: Bluray-1080p."


def failed(**t_kw: object):
    item = queue_item(status="completed", tracked_download_state="importBlocked", status_messages=(NOT_UPGRADE,))
    return snap(complete(**t_kw), queue=(item,))


# ---- import ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t_kw", "snap_kw", "c_kw", "expected"),
    [
        ({"completion_on": NOW - 61}, {}, {}, ["import:import"]),
        ({"completion_on": NOW - 60}, {}, {}, ["import:import"]),
        ({"completion_on": NOW - 59}, {}, {}, []),
        ({"completion_on": NOW - 5}, {}, {"import_grace": 0}, ["import:import"]),
        ({}, {"import_sent_at": NOW - 3600}, {}, []),
        ({}, {"imported": True}, {}, []),
        ({}, {"queue": ()}, {}, []),
        ({"completion_on": 0}, {}, {}, []),
        ({"state": "checkingUP"}, {}, {}, []),
        ({"state": "pausedUP"}, {}, {}, ["import:import"]),
        ({"state": "downloading", "progress": 0.9}, {}, {}, []),
    ],
    ids=[
        "after-grace",
        "grace-exact",
        "within-grace",
        "grace-0",
        "sent-once-only",
        "already-imported",
        "not-in-arr-queue",
        "no-completion-time",
        "checking",
        "paused-complete",
        "incomplete",
    ],
)
def test_import_once_after_grace(t_kw: dict, snap_kw: dict, c_kw: dict, expected: list[str]) -> None:
    assert acts(decide_torrent(snap(complete(**t_kw), **snap_kw), ctx(**c_kw))) == expected


def test_import_carries_path_and_ids() -> None:
    d = only(decide_torrent(snap(complete()), ctx()), Action.IMPORT)
    assert d.path == "/downloads/Movie.2020.1080p" and d.hash == "a" * 40
    assert d.queue_ids == (101,) and d.media_ids == (7,)


def test_no_import_while_the_arr_is_down() -> None:
    assert decide_torrent(snap(complete()), ctx(arr=ArrView(reachable=False))) == []


# ---- failed imports -------------------------------------------------------------------


def test_failed_import_blocklists_and_searches_instead_of_importing() -> None:
    decisions = decide_torrent(failed(), ctx())
    assert acts(decisions) == ["remove:failed_import"]
    d = decisions[0]
    assert (d.blocklist, d.re_search, d.delete_from_client) == (True, True, True)
    assert d.reason == f"failed import: {NOT_UPGRADE}"


@pytest.mark.parametrize(
    ("item_kw", "messages", "expected"),
    [
        ({"status_messages": ("NOT AN UPGRADE FOR EXISTING file",)}, None, ["remove:failed_import"]),
        ({"status_messages": ("Unable to determine if file is a sample",)}, None, ["remove:failed_import"]),
        ({"status_messages": (), "error_message": "No files found are eligible for import in /x"}, None, ["remove:failed_import"]),
        ({"status_messages": ("One or more episodes expected in this release were not imported",)}, None, ["import:import"]),
        ({"status_messages": (NOT_UPGRADE,)}, (), ["import:import"]),
        ({"status_messages": ("custom reject",)}, ("Custom Reject",), ["remove:failed_import"]),
    ],
    ids=["case-insensitive", "sample", "error-message", "unmatched", "list-empty", "custom"],
)
def test_failed_import_matching(item_kw: dict, messages: tuple | None, expected: list[str]) -> None:
    s = snap(complete(), queue=(queue_item(**item_kw),))
    c = ctx() if messages is None else ctx(failed_import_messages=messages)
    assert acts(decide_torrent(s, c)) == expected


def test_failed_import_guards() -> None:
    assert acts(decide_torrent(failed(tags=("qbitrr-protected",)), ctx())) == ["hold:failed_import"]
    assert acts(decide_torrent(failed(state="forcedUP"), ctx())) == ["hold:failed_import"]
    assert acts(decide_torrent(failed(state="pausedUP"), ctx())) == ["remove:failed_import"]


# ---- hit-and-run ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "min_ratio", "min_days", "ratio", "seeded_days", "met"),
    [
        ("and", 1.0, 0, 0.99, 0, False),
        ("and", 1.0, 0, 1.0, 0, True),
        ("and", 1.0, 3, 1.5, 2.9, False),
        ("and", 1.0, 3, 0.5, 3.0, False),
        ("and", 1.0, 3, 1.0, 3.0, True),
        ("or", 1.0, 3, 1.0, 0, True),
        ("or", 1.0, 3, 0.2, 3.0, True),
        ("or", 1.0, 3, 0.2, 2.0, False),
        ("or", 1.0, 0, 0.2, 9.0, False),  # 0 days is no requirement, not a free pass
        ("or", 0, 0, 0.0, 0, True),
        ("off", 5.0, 30, 0.0, 0, True),
    ],
)
def test_hit_and_run_modes(mode: str, min_ratio: float, min_days: float, ratio: float, seeded_days: float, met: bool) -> None:
    pol = policy(hit_and_run=mode, min_seed_ratio=min_ratio, min_seed_days=min_days)
    t = complete(private=True, ratio=ratio, seeding_time=int(seeded_days * DAY))
    assert hnr_met(t, seed_rules(t, pol)) is met


def test_public_torrents_have_no_obligation() -> None:
    t = complete(private=False, ratio=0.0)
    assert hnr_met(t, seed_rules(t, policy())) is True


def test_tracker_rule_marks_private_and_overrides() -> None:
    pol = policy(trackers=({"uri": "private.example", "name": "PX", "private": True, "min_seed_ratio": 2.0},))
    t = complete(tracker=PRIVATE, private=False, ratio=1.5)
    rules = seed_rules(t, pol)
    assert rules.private and rules.min_seed_ratio == 2.0 and rules.tracker == "PX"
    assert hnr_met(t, rules) is False
    public_by_rule = policy(trackers=({"uri": "private.example", "private": False},))
    assert seed_rules(complete(tracker=PRIVATE, private=True), public_by_rule).private is False


def test_tracker_rule_matches_any_announce_url() -> None:
    pol = policy(trackers=({"uri": "private.example", "private": True},))
    t = complete(tracker="", trackers=("udp://open.example:1337", PRIVATE))
    assert seed_rules(t, pol).private is True


def test_failed_import_of_hit_and_run_torrent_keeps_it_seeding() -> None:
    d = only(decide_torrent(failed(private=True, ratio=0.2), ctx()), Action.REMOVE)
    assert d.blocklist and not d.delete_from_client
    assert "kept seeding in qBittorrent: hit-and-run (and): ratio 0.20/1, seeded 0.0/0 days" in d.reason
    assert d.audit_name == "blocklist"


def test_hit_and_run_met_allows_deletion() -> None:
    d = only(decide_torrent(failed(private=True, ratio=1.2), ctx()), Action.REMOVE)
    assert d.delete_from_client


def test_hit_and_run_without_queue_record_holds() -> None:
    fs_snap = snap(complete(private=True, ratio=0.1), queue=(), unplayable=("x.mkv",))
    decisions = decide_torrent(fs_snap, ctx())
    assert acts(decisions) == ["hold:unplayable"]
    assert "not in the Arr queue" in decisions[0].reason


def test_incomplete_private_stalled_torrent_is_deleted_normally() -> None:
    """HnR obligations start at completion: a stalled half download cannot seed anyway."""
    t = torrent(state="stalledDL", private=True, ratio=0.0)
    h = History(strikes=2, last_strike_at=NOW - 60, last_progress_at=NOW - 3600)
    d = only(decide_torrent(snap(t, history=h), ctx()), Action.REMOVE)
    assert d.delete_from_client and d.blocklist


# ---- seeding limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "max_ratio", "max_time", "ratio", "seeded", "reached"),
    [
        (-1, 1.0, 10, 5.0, 100, False),
        (1, 2.0, -1, 2.0, 0, True),
        (1, 2.0, -1, 1.9, 10**6, False),
        (1, -1, 10, 99.0, 100, False),
        (2, -1, 3600, 0.0, 3600, True),
        (2, -1, 3600, 9.0, 3599, False),
        (3, 2.0, 3600, 2.0, 0, True),
        (3, 2.0, 3600, 0.0, 3600, True),
        (3, 2.0, 3600, 1.0, 100, False),
        (4, 2.0, 3600, 2.0, 3600, True),
        (4, 2.0, 3600, 2.0, 100, False),
        (4, 2.0, -1, 2.0, 10**6, False),
    ],
)
def test_seeding_limit_modes(mode: int, max_ratio: float, max_time: int, ratio: float, seeded: int, reached: bool) -> None:
    pol = policy(remove_torrent=mode, max_ratio=max_ratio, max_seed_time=max_time)
    t = complete(ratio=ratio, seeding_time=seeded)
    assert (seeding_limit_reached(t, seed_rules(t, pol)) is not None) is reached


def seeded(**t_kw: object):
    return snap(complete(**t_kw), queue=(), imported=True)


def test_seeding_limit_removes_after_import() -> None:
    c = ctx(remove_torrent=1, max_ratio=2.0)
    decisions = decide_torrent(seeded(ratio=2.5), c)
    assert acts(decisions) == ["remove:seeding_limit"]
    d = decisions[0]
    assert d.delete_from_client and not d.blocklist and not d.re_search
    assert d.reason == "seeding limit reached: ratio 2.50 ≥ 2"
    assert decide_torrent(snap(complete(ratio=2.5), queue=()), c) == []  # not imported


@pytest.mark.parametrize(
    ("t_kw", "expected"),
    [
        ({"state": "pausedUP"}, ["remove:seeding_limit"]),
        ({"state": "queuedUP"}, ["remove:seeding_limit"]),
        ({"state": "forcedUP"}, ["hold:seeding_limit"]),
        ({"state": "checkingUP"}, ["hold:seeding_limit"]),
        ({"state": "moving"}, ["hold:seeding_limit"]),
        ({"tags": ("qbitrr-protected",)}, ["hold:seeding_limit"]),
        ({"private": True, "ratio": 2.5, "seeding_time": 0}, ["remove:seeding_limit"]),
    ],
)
def test_seeding_limit_guards(t_kw: dict, expected: list[str]) -> None:
    c = ctx(remove_torrent=1, max_ratio=2.0, hit_and_run="and", min_seed_days=0)
    assert acts(decide_torrent(seeded(**({"ratio": 2.5} | t_kw)), c)) == expected


def test_seeding_limit_waits_for_hit_and_run() -> None:
    c = ctx(remove_torrent=2, max_seed_time=3600, min_seed_ratio=1.0)
    decisions = decide_torrent(seeded(private=True, ratio=0.3, seeding_time=7200), c)
    assert acts(decisions) == ["hold:seeding_limit"]
    assert "hit-and-run" in decisions[0].reason and not removals(decisions)


def test_tracker_override_of_seeding_limits() -> None:
    pol = policy(
        remove_torrent=-1,
        trackers=({"uri": "private.example", "remove_torrent": 1, "max_ratio": 3.0, "hit_and_run": "off"},),
    )
    on_tracker = seeded(tracker=PRIVATE, private=True, ratio=3.1)
    assert acts(decide_torrent(on_tracker, ctx(pol))) == ["remove:seeding_limit"]
    assert decide_torrent(seeded(ratio=3.1), ctx(pol)) == []


def test_kept_for_hit_and_run_is_deleted_once_the_obligation_is_met() -> None:
    h_bound = History(kept_for_hnr=True)
    assert decide_torrent(snap(complete(private=True, ratio=0.5), queue=(), history=h_bound), ctx()) == []
    decisions = decide_torrent(snap(complete(private=True, ratio=1.0), queue=(), history=h_bound), ctx())
    assert acts(decisions) == ["remove:seeding_limit"]
    assert decisions[0].delete_from_client and "already removed from the Arr" in decisions[0].reason
    assert decisions[0].rule is Rule.SEEDING_LIMIT
