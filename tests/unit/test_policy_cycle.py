"""Cycle-level rules: the removal cap, free space, search missing, dry run, fail closed."""

from __future__ import annotations

import pytest
from policy_cases import DAY, GIB, NOW, acts, complete, ctx, files, snap, torrent

from qbitrr_mqtt.policy import (
    Action,
    ArrView,
    ClientView,
    History,
    Rule,
    WantedItem,
    decide_cycle,
    plan_searches,
)

ROOT = "Movie.2020.1080p"


def stalled_snap(i: int, strikes: int = 2, added_ago: float = DAY):
    t = torrent(hash=f"{i:040x}", name=f"t{i}", state="stalledDL", added_on=NOW - added_ago)
    h = History(strikes=strikes, last_strike_at=NOW - 60, last_progress_at=NOW - DAY)
    return snap(t, history=h)


def dangerous_snap(i: int):
    t = torrent(hash=f"{i:040x}", name=f"t{i}", added_on=NOW - 3600)
    return snap(t, files=files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/x.exe"))


# ---- removal cap ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, 1, 3, 10])
def test_removals_never_exceed_the_cap(limit: int) -> None:
    snaps = [stalled_snap(i) for i in range(6)]
    result = decide_cycle(snaps, ctx(max_removals_per_cycle=limit))
    assert len(result.removals) == min(limit, 6)
    deferred = [d for d in result.decisions if d.rule is Rule.REMOVAL_LIMIT]
    assert len(deferred) == 6 - min(limit, 6)
    assert all(d.action is Action.HOLD and "deferred" in d.reason for d in deferred)
    # every torrent still gets its strike, removed or not
    assert sum(d.action is Action.STRIKE for d in result.decisions) == 6


def test_cap_order_verdicts_then_most_struck_then_oldest() -> None:
    snaps = [
        stalled_snap(1, strikes=2, added_ago=DAY),  # 3 strikes, newer
        stalled_snap(2, strikes=7, added_ago=DAY),  # 8 strikes
        stalled_snap(3, strikes=2, added_ago=2 * DAY),  # 3 strikes, older
        dangerous_snap(4),
    ]
    c = ctx(max_removals_per_cycle=1)
    assert [d.name for d in decide_cycle(snaps, c).removals] == ["t4"]
    c = ctx(max_removals_per_cycle=3)
    assert [d.name for d in decide_cycle(snaps, c).removals] == ["t2", "t3", "t4"]  # input order kept
    c = ctx(max_removals_per_cycle=2)
    assert {d.name for d in decide_cycle(snaps, c).removals} == {"t4", "t2"}


# ---- free space -----------------------------------------------------------------------

TAG = "qbitrr-free-space-paused"


def dl(i: int, left: int, state: str = "downloading", tags: tuple[str, ...] = (), priority: int = 0):
    t = torrent(
        hash=f"{i:040x}",
        name=f"t{i}",
        state=state,
        amount_left=left,
        tags=tags,
        priority=priority,
        added_on=NOW - 10_000 + i,
    )
    return snap(t)


def space(result) -> list[str]:
    return [f"{d.action.value}:{d.name}" for d in result.decisions if d.rule is Rule.FREE_SPACE]


def test_free_space_pauses_what_does_not_fit_in_queue_order() -> None:
    snaps = [dl(1, 4 * GIB, priority=2), dl(2, 3 * GIB, priority=1), dl(3, 2 * GIB, priority=3)]
    # 10 GiB free, 5 GiB floor: budget 5 GiB. t2 (3) fits, t1 (4) does not, t3 (2) fits.
    result = decide_cycle(snaps, ctx(free_space=5 * GIB), free_space=10 * GIB)
    assert space(result) == ["pause:t1", "add_tag:t1"]
    tag = [d for d in result.decisions if d.action is Action.ADD_TAG][0]
    assert tag.tag == TAG and "not enough space" in result.decisions[-2].reason


def test_free_space_uses_the_client_value_by_default() -> None:
    c = ctx(free_space=5 * GIB, client=ClientView(free_space=6 * GIB))
    assert space(decide_cycle([dl(1, 2 * GIB)], c)) == ["pause:t1", "add_tag:t1"]


def test_free_space_resumes_only_our_paused_torrents() -> None:
    snaps = [
        dl(1, GIB, state="pausedDL", tags=(TAG,)),
        dl(2, GIB, state="pausedDL"),  # paused by the user
        dl(3, 50 * GIB, state="pausedDL", tags=(TAG,)),  # still too big
    ]
    result = decide_cycle(snaps, ctx(free_space=GIB), free_space=10 * GIB)
    assert space(result) == ["resume:t1", "remove_tag:t1"]


def test_forced_and_checking_reserve_space_but_are_never_paused() -> None:
    snaps = [dl(1, 4 * GIB, state="forcedDL"), dl(2, GIB, state="checkingDL"), dl(3, GIB)]
    result = decide_cycle(snaps, ctx(free_space=0), free_space=5 * GIB)
    assert space(result) == ["pause:t3", "add_tag:t3"]


def test_free_space_off_releases_everything_we_paused() -> None:
    snaps = [dl(1, GIB, state="pausedDL", tags=(TAG,)), dl(2, GIB, tags=(TAG,)), dl(3, GIB, state="pausedDL")]
    result = decide_cycle(snaps, ctx(free_space=-1), free_space=0)
    assert space(result) == ["resume:t1", "remove_tag:t1", "remove_tag:t2"]


def test_free_space_unknown_changes_nothing() -> None:
    assert space(decide_cycle([dl(1, 100 * GIB)], ctx(free_space=GIB))) == []


def test_completed_torrents_do_not_count() -> None:
    """Even with the disk below the floor, a finished torrent is never paused for space."""
    snaps = [snap(complete(hash="c" * 40, name="done"), queue=()), dl(1, GIB)]
    assert space(decide_cycle(snaps, ctx(free_space=GIB), free_space=0)) == ["pause:t1", "add_tag:t1"]


def test_torrents_being_deleted_are_not_paused() -> None:
    d = dangerous_snap(9)
    assert space(decide_cycle([d], ctx(free_space=GIB), free_space=0)) == []


# ---- search missing -------------------------------------------------------------------

WANTED = [WantedItem(1), WantedItem(2), WantedItem(3, cutoff_unmet=True), WantedItem(4), WantedItem(5)]


def ids(decisions) -> list[int]:
    return [d.media_ids[0] for d in decisions]


def test_search_off_by_default() -> None:
    assert plan_searches(WANTED, ctx()) == []


@pytest.mark.parametrize(
    ("c_kw", "kw", "expected"),
    [
        ({"search_limit": 5}, {}, [1, 2, 4, 5]),
        ({"search_limit": 2}, {}, [1, 2]),
        ({"search_limit": 5, "search_cutoff_unmet": True}, {}, [1, 2, 4, 5, 3]),
        ({"search_limit": 3}, {"active_searches": 2}, [1]),
        ({"search_limit": 3}, {"active_searches": 3}, []),
        ({"search_limit": 3}, {"last_searched": {1: NOW - 100, 2: NOW - DAY - 1}}, [4, 5, 2]),
        ({"search_limit": 5}, {"last_searched": {1: NOW - 3 * DAY, 2: NOW - 2 * DAY}}, [4, 5, 1, 2]),
        ({"search_limit": 5, "search_cooldown": 0}, {"last_searched": {1: NOW}}, [2, 4, 5, 1]),
        ({"search_limit": 5}, {"queued_media_ids": {2, 4}}, [1, 5]),
        ({"search_limit": 5}, {"last_pass_at": NOW - 100}, []),
        ({"search_limit": 5}, {"last_pass_at": NOW - 300}, [1, 2, 4, 5]),
    ],
    ids=[
        "missing-only",
        "limit",
        "cutoff-after-missing",
        "active-count",
        "no-free-slot",
        "cooldown",
        "least-recent-first",
        "cooldown-0",
        "already-queued",
        "interval-not-due",
        "interval-due",
    ],
)
def test_search_selection(c_kw: dict, kw: dict, expected: list[int]) -> None:
    c = ctx(search_missing=True, **c_kw)
    assert ids(plan_searches(WANTED, c, **kw)) == expected


def test_search_decisions_explain_and_follow_dry_run() -> None:
    c = ctx(search_missing=True, search_cutoff_unmet=True, dry_run=True)
    found = plan_searches([WantedItem(3, cutoff_unmet=True, title="Film")], c, last_searched={3: NOW - 2 * DAY})
    (d,) = found
    assert d.action is Action.SEARCH and d.rule is Rule.SEARCH_CUTOFF and d.dry_run
    assert d.reason == "cutoff unmet Film: last searched 2 d ago" and d.audit_name == "would_search"


def test_duplicate_wanted_entries_search_once() -> None:
    c = ctx(search_missing=True)
    assert ids(plan_searches([WantedItem(1), WantedItem(1), WantedItem(2)], c)) == [1, 2]


def test_no_search_while_the_arr_is_down() -> None:
    assert plan_searches(WANTED, ctx(search_missing=True, arr=ArrView(reachable=False))) == []


# ---- dry run and fail closed ----------------------------------------------------------


def test_dry_run_marks_what_would_run_but_keeps_bookkeeping_real() -> None:
    snaps = [stalled_snap(1), dangerous_snap(2), dl(3, 10 * GIB)]
    result = decide_cycle(snaps, ctx(dry_run=True, free_space=GIB), free_space=2 * GIB)
    names = sorted({d.audit_name for d in result.decisions})
    assert names == ["strike", "would_add_tag", "would_blocklist", "would_pause"]
    for d in result.decisions:
        assert d.dry_run is d.executes


def test_dry_run_runs_every_rule_like_a_real_cycle() -> None:
    snaps = [stalled_snap(i) for i in range(3)] + [dangerous_snap(9)]
    real = decide_cycle(snaps, ctx(max_removals_per_cycle=2))
    dry = decide_cycle(snaps, ctx(max_removals_per_cycle=2, dry_run=True))
    assert acts(real.decisions) == acts(dry.decisions)


@pytest.mark.parametrize(
    ("client", "arr", "blocked"),
    [
        (ClientView(reachable=False), ArrView(), "qBittorrent is unreachable"),
        (ClientView(connection_status="disconnected"), ArrView(), "qBittorrent reports disconnected"),
        (ClientView(connection_status="firewalled"), ArrView(), "qBittorrent reports firewalled"),
        (ClientView(), ArrView(reachable=False), "the Arr is unreachable"),
    ],
)
def test_fail_closed_cycle(client: ClientView, arr: ArrView, blocked: str) -> None:
    snaps = [stalled_snap(1, strikes=9), dangerous_snap(2)]
    result = decide_cycle(snaps, ctx(client=client, arr=arr))
    assert result.blocked == blocked
    assert result.removals == ()
    assert not any(d.action is Action.STRIKE for d in result.decisions)


def test_normal_cycle_is_not_blocked() -> None:
    assert decide_cycle([], ctx()).blocked is None


def test_a_stalled_release_removed_for_a_dangerous_file_gets_no_strike() -> None:
    t = torrent(hash=f"{7:040x}", name="t7", state="stalledDL", added_on=NOW - DAY)
    s = snap(t, files=files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/x.exe"))
    decisions = decide_cycle([s], ctx()).decisions
    assert any(d.is_removal and "x.exe" in d.reason for d in decisions)
    assert not any(d.action is Action.STRIKE for d in decisions)
    # Without the executable the same torrent is struck as usual.
    clean = snap(t, files=files(f"{ROOT}/{ROOT}.mkv"))
    assert any(d.action is Action.STRIKE for d in decide_cycle([clean], ctx()).decisions)
