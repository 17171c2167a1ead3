"""Strikes and health removals: stalled, metadata-stuck, slow; resets; their guards."""

from __future__ import annotations

from typing import Any

import pytest
from policy_cases import DAY, GIB, MIB, NOW, acts, ctx, only, removals, snap, torrent

from qbitrr_mqtt.policy import Action, ArrView, ClientView, Rule, decide_torrent

MIN = 60


def stalled(**kw: Any):
    return torrent(state="stalledDL", **kw)


# (id, torrent kwargs, history kwargs, ctx kwargs, expected decisions)
CASES: list[tuple[str, dict, dict, dict, list[str]]] = [
    ("first strike", {}, {}, {}, ["strike:stalled"]),
    (
        "third strike after 20 idle minutes removes",
        {},
        {"strikes": 2, "last_strike_at": NOW - 60, "last_progress_at": NOW - 20 * MIN},
        {},
        ["strike:stalled", "remove:stalled"],
    ),
    (
        "third strike before the delay only strikes",
        {},
        {"strikes": 2, "last_strike_at": NOW - 60, "last_progress_at": NOW - 10 * MIN},
        {},
        ["strike:stalled"],
    ),
    (
        "delay exactly met removes",
        {},
        {"strikes": 2, "last_strike_at": NOW - 60, "last_progress_at": NOW - 15 * MIN},
        {},
        ["strike:stalled", "remove:stalled"],
    ),
    (
        "qBittorrent last_activity stands in before the manager saw progress",
        {"last_activity": NOW - 30 * MIN},
        {"strikes": 2, "last_strike_at": NOW - 60},
        {},
        ["strike:stalled", "remove:stalled"],
    ),
    (
        "stalled_strikes 1 and delay 0 remove on the first strike",
        {},
        {},
        {"stalled_strikes": 1, "stalled_delay": 0},
        ["strike:stalled", "remove:stalled"],
    ),
    (
        "delay 0 removes as soon as the strikes are reached",
        {"last_activity": NOW},
        {"strikes": 2, "last_strike_at": NOW - 60},
        {"stalled_delay": 0},
        ["strike:stalled", "remove:stalled"],
    ),
    ("young: added 100 s ago", {"added_on": NOW - 100}, {}, {}, ["hold:stalled"]),
    ("age exactly ignore_younger_than", {"added_on": NOW - 180}, {}, {}, ["strike:stalled"]),
    (
        "young with ignore_younger_than 0",
        {"added_on": NOW - 5},
        {},
        {"ignore_younger_than": 0},
        ["strike:stalled"],
    ),
    ("at maximum_deletable_percentage", {"progress": 0.99}, {}, {}, ["hold:stalled"]),
    ("just below the percentage", {"progress": 0.989}, {}, {}, ["strike:stalled"]),
    (
        "percentage 1.0 lets 99.9 % be struck",
        {"progress": 0.999},
        {},
        {"maximum_deletable_percentage": 1.0},
        ["strike:stalled"],
    ),
    ("protected", {"tags": ("qbitrr-protected",)}, {}, {}, ["hold:stalled"]),
    (
        "protected by a custom tag",
        {"tags": ("keep",)},
        {},
        {"protect_tag": "keep"},
        ["hold:stalled"],
    ),
]


@pytest.mark.parametrize(
    ("t_kw", "h_kw", "c_kw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_stalled_table(t_kw: dict, h_kw: dict, c_kw: dict, expected: list[str]) -> None:
    decisions = decide_torrent(snap(stalled(**t_kw), **h_kw), ctx(**c_kw))
    assert acts(decisions) == expected


def test_stalled_removal_blocklists_searches_and_explains() -> None:
    h = {"strikes": 2, "last_strike_at": NOW - 60, "last_progress_at": NOW - 17 * MIN}
    d = only(decide_torrent(snap(stalled(), **h), ctx()), Action.REMOVE)
    assert (d.blocklist, d.re_search, d.delete_from_client) == (True, True, True)
    assert d.queue_ids == (101,) and d.media_ids == (7,)
    assert d.reason == "stalled: 3 strikes over 17 min without activity (stalledDL)"
    assert d.strikes == 3 and d.audit_name == "blocklist"


def test_re_search_off_blocklists_without_search() -> None:
    h = {"strikes": 2, "last_strike_at": NOW - 60, "last_progress_at": NOW - 20 * MIN}
    d = only(decide_torrent(snap(stalled(), **h), ctx(re_search=False)), Action.REMOVE)
    assert d.blocklist is True and d.re_search is False


def test_strike_reason_counts_and_idle_time() -> None:
    d = only(decide_torrent(snap(stalled(last_activity=NOW - 7 * MIN)), ctx()), Action.STRIKE)
    assert d.strikes == 1
    assert d.reason == "stalled: strike 1/3 (stalledDL, 7 min without download activity)"


@pytest.mark.parametrize(
    ("availability", "expected"),
    [
        (0.5, ["strike:stalled"]),
        (0.0, ["strike:stalled"]),
        (0.999, ["strike:stalled"]),
        (1.0, []),
        (3.2, []),
        (-1.0, []),
    ],
)
def test_downloading_with_availability_below_one_is_stalled(
    availability: float, expected: list[str]
) -> None:
    t = torrent(state="downloading", availability=availability)
    assert acts(decide_torrent(snap(t), ctx())) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("pausedDL", []),
        ("queuedDL", []),
        ("checkingDL", []),
        ("forcedDL", []),
        ("moving", []),
        ("uploading", []),
    ],
)
def test_only_stalled_states_are_struck(state: str, expected: list[str]) -> None:
    assert acts(decide_torrent(snap(torrent(state=state, availability=0.1)), ctx())) == expected


@pytest.mark.parametrize(
    ("client", "arr"),
    [
        (ClientView(connection_status="disconnected"), ArrView()),
        (ClientView(connection_status="firewalled"), ArrView()),
        (ClientView(), ArrView(reachable=False)),
    ],
    ids=["disconnected", "firewalled", "arr-down"],
)
def test_fail_closed_counts_no_strike_and_removes_nothing(client: ClientView, arr: ArrView) -> None:
    h = {"strikes": 5, "last_strike_at": NOW - 60, "last_progress_at": NOW - DAY}
    decisions = decide_torrent(snap(stalled(), **h), ctx(client=client, arr=arr))
    assert decisions == []


def test_qbittorrent_unreachable_decides_nothing() -> None:
    h = {"strikes": 5, "last_strike_at": NOW - 60}
    assert decide_torrent(snap(stalled(), **h), ctx(client=ClientView(reachable=False))) == []


# ---- metadata -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("added_ago", "timeout", "h_kw", "expected"),
    [
        (601, 600, {}, ["strike:metadata"]),
        (600, 600, {}, []),
        (300, 600, {}, []),
        (DAY, -1, {}, []),
        (
            30 * MIN,
            600,
            {"strikes": 2, "last_strike_at": NOW - 60},
            ["strike:metadata", "remove:metadata"],
        ),
        (12 * MIN, 600, {"strikes": 2, "last_strike_at": NOW - 60}, ["strike:metadata"]),
        (200, 0, {}, ["strike:metadata"]),
    ],
)
def test_metadata_timeout(added_ago: float, timeout: int, h_kw: dict, expected: list[str]) -> None:
    t = torrent(state="metaDL", added_on=NOW - added_ago, progress=0.0, availability=-1.0)
    assert acts(decide_torrent(snap(t, **h_kw), ctx(metadata_timeout=timeout))) == expected


def test_metadata_strike_reason() -> None:
    t = torrent(state="metaDL", added_on=NOW - 11 * MIN, progress=0.0)
    d = only(decide_torrent(snap(t), ctx()), Action.STRIKE)
    assert d.reason.startswith("metadata: strike 1/3 (fetching metadata for 11 min")


# ---- slow -----------------------------------------------------------------------------

WEEK = 7 * DAY


@pytest.mark.parametrize(
    ("t_kw", "c_kw", "client", "expected"),
    [
        ({"eta": 8 * DAY}, {}, None, []),  # do_not_remove_slow defaults to true
        ({"eta": 8 * DAY}, {"do_not_remove_slow": False}, None, ["strike:slow"]),
        ({"eta": WEEK}, {"do_not_remove_slow": False}, None, []),
        ({"eta": WEEK + 1}, {"do_not_remove_slow": False}, None, ["strike:slow"]),
        ({"eta": 8640000}, {"do_not_remove_slow": False, "maximum_eta": -1}, None, []),
        ({"eta": 8 * DAY}, {"do_not_remove_slow": False}, ClientView(alt_speed=True), []),
        (
            {"eta": 8 * DAY},
            {"do_not_remove_slow": False},
            ClientView(dl_rate=950, dl_rate_limit=1000),
            [],
        ),
        (
            {"eta": 8 * DAY},
            {"do_not_remove_slow": False},
            ClientView(dl_rate=900, dl_rate_limit=1000),
            [],
        ),
        (
            {"eta": 8 * DAY},
            {"do_not_remove_slow": False},
            ClientView(dl_rate=500, dl_rate_limit=1000),
            ["strike:slow"],
        ),
        (
            {"eta": 8 * DAY},
            {"do_not_remove_slow": False},
            ClientView(dl_rate=10**9, dl_rate_limit=0),
            ["strike:slow"],
        ),
    ],
)
def test_slow_eta(t_kw: dict, c_kw: dict, client: ClientView | None, expected: list[str]) -> None:
    assert acts(decide_torrent(snap(torrent(**t_kw)), ctx(client=client, **c_kw))) == expected


def test_tracker_override_of_maximum_eta() -> None:
    trackers = ({"uri": "slowtracker.example", "maximum_eta": 3600},)
    from policy_cases import policy

    pol = policy(do_not_remove_slow=False, trackers=trackers)
    on_tracker = torrent(eta=7200, tracker="https://slowtracker.example/a/announce")
    elsewhere = torrent(eta=7200)
    assert acts(decide_torrent(snap(on_tracker), ctx(pol))) == ["strike:slow"]
    assert acts(decide_torrent(snap(elsewhere), ctx(pol))) == []


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (((NOW - 700, GIB // 2 - 10 * MIB),), ["strike:slow"]),  # ~15 KiB/s < 100 KiB/s
        (((NOW - 700, GIB // 2 - 200 * MIB),), []),  # ~290 KiB/s
        (((NOW - 300, GIB // 2 - MIB),), []),  # no sample as old as the window: no verdict
        ((), []),
        (((NOW - 2000, 0), (NOW - 650, GIB // 2 - MIB), (NOW - 100, GIB // 2)), ["strike:slow"]),
    ],
    ids=["slow", "fast", "window-not-covered", "no-samples", "newest-old-enough-sample"],
)
def test_slow_average_speed_over_window(samples: tuple, expected: list[str]) -> None:
    c = ctx(do_not_remove_slow=False, maximum_eta=-1, min_speed=100 * 1024, slow_window=600)
    t = torrent(eta=3600)
    assert acts(decide_torrent(snap(t, speed_samples=samples), c)) == expected


def test_slow_removal_needs_strikes_only_and_progress_does_not_reset() -> None:
    """A slow torrent downloads, so neither stalled_delay nor the progress reset applies."""
    t = torrent(eta=8 * DAY, last_activity=NOW)
    h = {"strikes": 2, "last_strike_at": NOW - 60, "downloaded_at_last_strike": GIB // 2 - 50 * MIB}
    decisions = decide_torrent(snap(t, **h), ctx(do_not_remove_slow=False))
    assert acts(decisions) == ["strike:slow", "remove:slow"]
    assert removals(decisions)[0].reason.startswith("slow: 3 strikes (ETA 8 d above 7 d)")


# ---- resets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t_kw", "h_kw", "c_kw", "expected"),
    [
        (
            {},
            {
                "strikes": 2,
                "last_strike_at": NOW - 60,
                "downloaded_at_last_strike": GIB // 2 - 2 * MIB,
            },
            {},
            ["reset_strikes:progress"],
        ),
        (
            {},
            {"strikes": 2, "last_strike_at": NOW - 60, "downloaded_at_last_strike": GIB // 2 - MIB},
            {},
            ["strike:stalled"],
        ),
        (
            {},
            {"strikes": 2, "last_strike_at": NOW - 60, "downloaded_at_last_strike": GIB // 2 - 10},
            {"min_progress_bytes": 0},
            ["reset_strikes:progress"],
        ),
        ({}, {"strikes": 0, "downloaded_at_last_strike": 0}, {}, ["strike:stalled"]),
        (
            {},
            {"strikes": 2, "last_strike_at": NOW - 60},
            {},
            ["strike:stalled"],
        ),  # no byte count stored
        (
            {"state": "downloading"},
            {"strikes": 2, "last_strike_at": NOW - 60, "downloaded_at_last_strike": 0},
            {},
            ["reset_strikes:progress"],
        ),
        (
            {"state": "downloading"},
            {"strikes": 2, "last_strike_at": NOW - 60, "downloaded_at_last_strike": GIB // 2},
            {},
            [],
        ),
        (
            {},
            {"strikes": 2, "last_strike_at": NOW - DAY},
            {},
            ["reset_strikes:strike_expiry", "strike:stalled"],
        ),
        ({}, {"strikes": 2, "last_strike_at": NOW - DAY + 1}, {}, ["strike:stalled"]),
        (
            {},
            {"strikes": 2, "last_strike_at": NOW - 30 * DAY},
            {"strike_expiry": 0},
            ["strike:stalled"],
        ),
        (
            {"state": "pausedDL"},
            {"strikes": 2, "last_strike_at": NOW - 2 * DAY},
            {},
            ["reset_strikes:strike_expiry"],
        ),
    ],
    ids=[
        "progress-resets",
        "exactly-min-progress-is-not-progress",
        "min-progress-0",
        "nothing-to-reset",
        "unknown-bytes",
        "recovered-and-progressed",
        "recovered-without-progress-keeps-strikes",
        "expired",
        "not-yet-expired",
        "expiry-off",
        "expired-while-paused",
    ],
)
def test_strike_resets(t_kw: dict, h_kw: dict, c_kw: dict, expected: list[str]) -> None:
    assert (
        acts(
            decide_torrent(
                snap(stalled(**t_kw) if "state" not in t_kw else torrent(**t_kw), **h_kw),
                ctx(**c_kw),
            )
        )
        == expected
    )


def test_after_expiry_the_count_restarts_at_one() -> None:
    h = {"strikes": 9, "last_strike_at": NOW - 2 * DAY, "last_progress_at": NOW - 3 * DAY}
    decisions = decide_torrent(snap(stalled(), **h), ctx())
    assert [d.strikes for d in decisions] == [0, 1]
    assert not removals(decisions)


def test_progress_reset_explains_amount() -> None:
    h = {"strikes": 2, "last_strike_at": NOW - 60, "downloaded_at_last_strike": GIB // 2 - 3 * MIB}
    d = only(decide_torrent(snap(stalled(), **h), ctx()), Action.RESET_STRIKES)
    assert d.rule is Rule.PROGRESS and d.strikes == 0
    assert d.reason == "real progress: 3.0 MiB since the last strike, 2 strike(s) cleared"


def test_a_firewalled_client_is_cleaned_when_the_user_opts_out_of_failing_closed() -> None:
    """Behind NAT qBittorrent says "firewalled" all day and still downloads: with
    fail_closed_firewalled off, a dead torrent is handled as on an open client."""
    h = {"strikes": 5, "last_strike_at": NOW - 60, "last_progress_at": NOW - DAY}
    firewalled = ctx(
        client=ClientView(connection_status="firewalled"), fail_closed_firewalled=False
    )
    normal = ctx()
    expected = acts(decide_torrent(snap(stalled(), **h), normal))
    assert any(a.startswith("remove") for a in expected)
    assert acts(decide_torrent(snap(stalled(), **h), firewalled)) == expected
    blocked = ctx(client=ClientView(connection_status="firewalled"))
    assert not any(
        a.startswith("remove") for a in acts(decide_torrent(snap(stalled(), **h), blocked))
    )
