"""missingFiles and error: recheck first, then remove (missing) or leave for a human (error)."""

from __future__ import annotations

import pytest
from policy_cases import DAY, NOW, acts, complete, ctx, only, snap, torrent

from qbitrr_mqtt.policy import Action, ArrView, ClientView, decide_torrent


@pytest.mark.parametrize(
    ("state", "h_kw", "c_kw", "expected"),
    [
        ("missingFiles", {}, {}, ["recheck:missing_files"]),
        ("missingFiles", {"last_recheck_at": NOW - 30, "rechecks": 1}, {}, []),
        ("missingFiles", {"last_recheck_at": NOW - 60, "rechecks": 1}, {}, ["remove:missing_files"]),
        ("missingFiles", {"last_recheck_at": NOW - DAY, "rechecks": 1}, {}, ["recheck:missing_files"]),
        ("missingFiles", {"last_recheck_at": NOW - 30 * DAY, "rechecks": 1}, {"strike_expiry": 0}, ["remove:missing_files"]),
        ("error", {}, {}, ["recheck:error"]),
        ("error", {"last_recheck_at": NOW - 10, "rechecks": 1}, {}, []),
        ("error", {"last_recheck_at": NOW - 600, "rechecks": 1}, {}, ["hold:error"]),
    ],
    ids=[
        "missing-recheck-first",
        "missing-recheck-settling",
        "missing-after-recheck-removes",
        "missing-old-recheck-rechecks-again",
        "missing-expiry-off",
        "error-recheck",
        "error-settling",
        "error-persists-held",
    ],
)
def test_broken_states(state: str, h_kw: dict, c_kw: dict, expected: list[str]) -> None:
    assert acts(decide_torrent(snap(torrent(state=state), **h_kw), ctx(**c_kw))) == expected


def test_missing_files_removal_has_no_blocklist() -> None:
    s = snap(torrent(state="missingFiles"), last_recheck_at=NOW - 300, rechecks=1)
    d = only(decide_torrent(s, ctx()), Action.REMOVE)
    assert d.delete_from_client and not d.blocklist and not d.re_search
    assert d.reason == "missing files after a recheck 5 min ago: removing without blocklist"


def test_missing_files_on_a_finished_torrent_ignores_the_percentage_guard() -> None:
    """Files moved away after import leave a 100 % missingFiles torrent; it goes without blocklist."""
    s = snap(complete(state="missingFiles"), last_recheck_at=NOW - 300, rechecks=1)
    assert acts(decide_torrent(s, ctx())) == ["remove:missing_files"]


@pytest.mark.parametrize(
    ("t_kw", "expected"),
    [
        ({"tags": ("qbitrr-protected",)}, ["hold:missing_files"]),
        ({"added_on": NOW - 100}, ["hold:missing_files"]),
    ],
)
def test_missing_files_guards(t_kw: dict, expected: list[str]) -> None:
    s = snap(torrent(state="missingFiles", **t_kw), last_recheck_at=NOW - 90, rechecks=1)
    assert acts(decide_torrent(s, ctx())) == expected


@pytest.mark.parametrize(
    ("client", "arr"),
    [(ClientView(connection_status="firewalled"), ArrView()), (ClientView(), ArrView(reachable=False))],
)
def test_recheck_still_runs_while_fail_closed_but_removal_does_not(client: ClientView, arr: ArrView) -> None:
    c = ctx(client=client, arr=arr)
    assert acts(decide_torrent(snap(torrent(state="missingFiles")), c)) == ["recheck:missing_files"]
    s = snap(torrent(state="missingFiles"), last_recheck_at=NOW - 300, rechecks=1)
    assert acts(decide_torrent(s, c)) == ["hold:missing_files"]
