"""The decision memo: skipping a torrent never changes what a cycle decides.

``quiet_until`` promises that a snapshot which decided nothing (or only HOLDs) keeps deciding
the same while only the clock (and the client's rates and free space) move. These properties check that
promise against the real rules, for any torrent and settings the guard properties use.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_cases import DAY, GIB, NOW
from test_policy_properties import contexts, cycles, torrents

from qbitrr_mqtt.policy import (
    Action,
    Decision,
    Memo,
    QueueItem,
    decide_cycle,
    decide_torrent,
    quiet_until,
)
from qbitrr_mqtt.policy.engine import NOTE_REFRESH
from qbitrr_mqtt.policy.types import Context, TorrentSnapshot

later = st.floats(min_value=0, max_value=60 * DAY)
rates = st.tuples(st.none() | st.integers(0, 4 * GIB), st.integers(0, 2000), st.booleans())


def moved(ctx: Context, seconds: float, rate: tuple[int | None, int, bool]) -> Context:
    free, dl_rate, alt = rate
    client = replace(ctx.client, free_space=free, dl_rate=dl_rate, alt_speed=alt)
    return replace(ctx, now=ctx.now + seconds, client=client)


def same(decisions: list[Decision]) -> list[Decision]:
    """Decisions as the memo promises them: a HOLD's reason may count time, the rest not."""
    return [replace(d, reason="") if d.action is Action.HOLD else d for d in decisions]


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(
    snap=torrents(0), ctx=contexts(), seconds=st.lists(later, min_size=1, max_size=6), rate=rates
)
def test_a_remembered_torrent_decides_the_same_until_its_promise(
    snap: TorrentSnapshot, ctx: Context, seconds: list[float], rate: tuple[int | None, int, bool]
) -> None:
    got = decide_torrent(snap, ctx)
    until = quiet_until(snap, ctx, got)
    assert until >= ctx.now
    for s in [*seconds, until - ctx.now - 1e-3]:
        if s >= 0 and ctx.now + s < until:
            assert same(decide_torrent(snap, moved(ctx, s, rate))) == same(got), f"at +{s:.0f} s"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(snap=torrents(0), ctx=contexts())
def test_no_promise_for_downloads_strikes_and_actions(snap: TorrentSnapshot, ctx: Context) -> None:
    got = decide_torrent(snap, ctx)
    until = quiet_until(snap, ctx, got)
    if snap.torrent.state == "downloading" or any(d.action is not Action.HOLD for d in got):
        assert until == ctx.now
    if any(d.action is Action.HOLD for d in got):
        assert until <= ctx.now + NOTE_REFRESH


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    cycle=cycles(),
    steps=st.lists(st.tuples(later, rates, st.sets(st.integers(0, 7))), min_size=1, max_size=4),
)
def test_a_cycle_with_the_memo_decides_what_one_without_decides(
    cycle: tuple[list[TorrentSnapshot], Context],
    steps: list[tuple[float, tuple[int | None, int, bool], set[int]]],
) -> None:
    snapshots, ctx = cycle
    memo = Memo()
    assert decide_cycle(snapshots, ctx, memo=memo) == decide_cycle(snapshots, ctx)  # cold: all
    elapsed = 0.0
    for seconds, rate, renewed in steps:
        elapsed += seconds
        now = moved(ctx, elapsed, rate)
        # Some torrents come back as new snapshot objects (qBittorrent reported a change).
        snapshots = [replace(s) if i in renewed else s for i, s in enumerate(snapshots)]
        remembered = decide_cycle(snapshots, now, memo=memo)
        fresh = decide_cycle(snapshots, now)
        assert same(list(remembered.decisions)) == same(list(fresh.decisions))
        assert remembered.blocked == fresh.blocked


def test_an_unchanged_library_is_not_evaluated_again() -> None:
    snap, ctx = _seeding_library_torrent()
    memo = Memo()
    decide_cycle([snap], ctx, memo=memo)
    assert memo.evaluated == 1 and memo.quiet[snap.torrent.hash] == (snap, math.inf, ())
    decide_cycle([snap], replace(ctx, now=ctx.now + DAY), memo=memo)
    assert memo.evaluated == 0
    decide_cycle([replace(snap)], ctx, memo=memo)  # a new object: qBittorrent changed it
    assert memo.evaluated == 1
    decide_cycle([snap], replace(ctx, dry_run=not ctx.dry_run), memo=memo)  # settings changed
    assert memo.evaluated == 1


def test_an_import_waits_in_the_memo_until_its_grace_ends() -> None:
    snap, ctx = _seeding_library_torrent()
    snap = replace(snap, history=replace(snap.history, imported=False))
    finished = replace(snap, queue=(QueueItem(id=7, media_ids=(1,)),))
    finished = replace(finished, torrent=replace(finished.torrent, completion_on=NOW - 10))
    ctx = replace(ctx, policy=replace(ctx.policy, import_grace=600, validate_media=False))
    memo = Memo()
    assert decide_cycle([finished], ctx, memo=memo).decisions == ()
    assert memo.quiet[finished.torrent.hash][1] == NOW - 10 + 600
    assert decide_cycle([finished], replace(ctx, now=NOW + 500), memo=memo).decisions == ()
    assert memo.evaluated == 0
    result = decide_cycle([finished], replace(ctx, now=NOW + 600), memo=memo)
    assert memo.evaluated == 1 and [d.action.value for d in result.decisions] == ["import"]


def _seeding_library_torrent() -> tuple[TorrentSnapshot, Context]:
    from policy_cases import default_policy

    from qbitrr_mqtt.policy import ArrView, ClientView, History, TorrentView

    t = TorrentView(
        hash="a" * 40, name="R", state="stalledUP", progress=1.0, size=GIB, downloaded=GIB,
        added_on=NOW - 30 * DAY, completion_on=NOW - 29 * DAY, ratio=0.5, seeding_time=DAY,
    )  # fmt: skip
    snap = TorrentSnapshot(torrent=t, queue=(), history=History(imported=True), files=None)
    ctx = Context(
        policy=default_policy(), now=NOW, arr_type="radarr",
        client=ClientView(reachable=True, connection_status="connected", free_space=100 * GIB),
        arr=ArrView(reachable=True), dry_run=False,
    )  # fmt: skip
    return snap, ctx
