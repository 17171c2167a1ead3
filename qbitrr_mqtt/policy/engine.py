"""The policy engine: one torrent's decisions, and one cycle's.

How to wire it (manager)
------------------------
Each cycle, build a ``Context`` (the instance's ``Policy``, ``now`` as epoch seconds, the
Arr type, ``ClientView``/``ArrView`` with reachability and qBittorrent's
``connection_status`` / free space / global rate, ``dry_run``) and one ``TorrentSnapshot``
per torrent of the instance's category (qBittorrent fields, its Arr queue records, its
``History`` from the store, its files when known, ``media_verdict`` from the media
validator). Before deciding, ``media.probe_request(snap, ctx)`` says which files to hand to
``MediaValidator.submit``; ``MediaValidator.result(hash)`` is the next cycles' verdict. Call
``decide_cycle(snapshots, ctx)`` and execute ``result.decisions`` in order:

- ``decision.executes`` False (STRIKE, RESET_STRIKES, HOLD): store only. STRIKE sets
  ``strikes`` to ``decision.strikes`` and records ``downloaded``/time; HOLD is a note for
  the torrent (why nothing happened), not an audit action.
- ``decision.dry_run`` True: journal it as ``decision.audit_name`` (``would_remove``,
  ``would_blocklist``, ...) and do nothing else. Bookkeeping is never dry-run, so strikes
  count in dry-run exactly as they would for real.
- REMOVE: ``DELETE /queue/{id}`` for ``queue_ids`` with ``removeFromClient =
  delete_from_client``, ``blocklist``, ``skipRedownload = not re_search``; without a queue
  record, the fallback (delete in qBittorrent, search ``media_ids``) is the manager's. After
  a REMOVE with ``delete_from_client=False`` set ``History.kept_for_hnr``.
- IMPORT: send the Downloaded*Scan for ``path``/``hash`` once, then set
  ``History.import_sent_at``. RECHECK: set ``last_recheck_at``, ``rechecks += 1``.
- SET_FILE_PRIORITY, PAUSE/RESUME, ADD_TAG/REMOVE_TAG: the qBittorrent calls.
- Searches come from ``plan_searches`` (run it every ``search_interval``).

Decision order for one torrent (``decide_torrent``)
---------------------------------------------------
1. qBittorrent unreachable: nothing at all.
2. Strike bookkeeping (``stall.py``): expiry reset, progress reset, then a strike for
   stalled / metadata-stuck / slow, and a removal candidate when strikes and delay are met.
3. Broken data (``broken.py``): missingFiles / error get a recheck first; missing files
   after a settled recheck are a removal candidate (no blocklist).
4. Removal candidates, first one wins: dangerous file, failed import, unplayable media,
   archive-only / no wanted file, missing files, stalled / metadata / slow; if none,
   seeding limits (after import and hit-and-run). The winner goes through the guards.
5. File priorities: unwanted files to priority 0 (not for protected torrents, nor when
   the torrent is about to be deleted from the client).
6. Import command, only when no removal candidate was found at all, and with
   ``validate_media`` only after a passing ``media_verdict`` (``media.py``; until then a
   HOLD note says the import waits for validation).

Safety guards (``guards.py``), by removal family
------------------------------------------------
==============================================  ======  ======  =======  =======
guard                                           health  broken  verdict  seeding
==============================================  ======  ======  =======  =======
qBittorrent/Arr unreachable, disconnected,
firewalled unless fail_closed_firewalled is
off (fail closed, no strikes either)            yes     yes     yes      yes
``protect_tag`` (no strikes, no priorities)     yes     yes     yes      yes
state not removable (queued, paused while
incomplete, checking, moving, forced, unknown)  yes     yes     yes      yes
younger than ``ignore_younger_than``            yes     yes     no       no
progress >= ``maximum_deletable_percentage``    yes     no      no       no
hit-and-run bound (complete private torrent
below its ratio/days)                           keep    keep    keep     hold
==============================================  ======  ======  =======  =======

health = stalled, metadata, slow; broken = missing files; verdict = dangerous file, failed
import, unplayable, archive, no wanted file (the content is wrong however far it got, so
age and progress do not protect it); seeding = seeding limits. "keep": the release still
leaves the Arr queue (blocklisted) but ``delete_from_client`` is False, which needs a
queue record (otherwise HOLD). A guarded removal becomes a HOLD whose reason names the
guard. Strikes follow the health guards: no strike where no removal could follow.
Client-only, non-destructive actions (recheck, file priorities, free-space pause/resume)
still run while the Arr is down or qBittorrent is firewalled/disconnected; imports and
searches need the Arr. A fail-closed cycle says why in ``CycleResult.blocked`` instead of
a HOLD per torrent.

The cycle (``decide_cycle``) then caps removals at ``max_removals_per_cycle`` (order in
``limits.py``) and plans free space over the torrents that are not being deleted.

Deciding only what can have changed (``Memo``)
----------------------------------------------
A manager with 10,000 torrents cannot afford to run every rule for every torrent on every
cycle when nothing happened. Pass the same ``Memo`` to each ``decide_cycle`` and hand it the
*same* ``TorrentSnapshot`` object for a torrent whose inputs did not change (the manager
keeps its snapshots between cycles). A torrent is then skipped while all of this holds:
its snapshot is that object, the context is the same apart from the clock and the client's
rates and free space, its last evaluation decided nothing or only HOLDs (which are
repeated as they were), and the clock is still before ``quiet_until`` of that evaluation:
the next time threshold of its rules (age guard, stall delay, metadata timeout, recheck
settling, strike expiry, import grace), and for a HOLD at most ``NOTE_REFRESH`` later.
Downloading torrents (the slow rule reads the clock continuously) and torrents that got a
strike or an action are evaluated on every cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .broken import RECHECK_SETTLE, broken_rules
from .files import content_candidate, dangerous_candidate, priority_decision
from .guards import fail_closed_reason, is_protected, removal_block
from .imports import failed_import_candidate, import_decision
from .limits import cap_removals
from .media import gate_import, unplayable_candidate
from .seeding import hnr_bound, hnr_detail, seed_rules, seeding_candidate
from .space import plan_free_space
from .stall import strike_rules
from .types import (
    RULE_KIND,
    Action,
    Context,
    CycleResult,
    Decision,
    RemovalKind,
    TorrentSnapshot,
)


def guard_removal(candidate: Decision, snap: TorrentSnapshot, ctx: Context) -> Decision:
    """The candidate as it may run: unchanged, kept in the client (hit-and-run), or a HOLD."""
    kind = RULE_KIND[candidate.rule]
    blocked = removal_block(snap, ctx, kind)
    if blocked is None:
        rules = seed_rules(snap.torrent, ctx.policy)
        if hnr_bound(snap.torrent, rules):
            detail = hnr_detail(snap.torrent, rules)
            if kind is RemovalKind.SEEDING or not snap.queue:
                where = "" if kind is RemovalKind.SEEDING else ", and it is not in the Arr queue"
                blocked = f"{detail}{where}"
            else:
                return replace(
                    candidate,
                    delete_from_client=False,
                    reason=f"{candidate.reason}; kept seeding in qBittorrent: {detail}",
                )
    if blocked is None:
        return candidate
    return Decision(
        Action.HOLD,
        candidate.rule,
        f"{candidate.reason}; kept: {blocked}",
        hash=candidate.hash,
        name=candidate.name,
        strikes=candidate.strikes,
    )


def decide_torrent(snap: TorrentSnapshot, ctx: Context) -> list[Decision]:
    """Every decision for one torrent this check, in execution order."""
    if not ctx.client.reachable:
        return []
    out, health = strike_rules(snap, ctx)
    rechecks, broken = broken_rules(snap, ctx)
    out.extend(rechecks)
    candidate = (
        dangerous_candidate(snap, ctx)
        or failed_import_candidate(snap, ctx)
        or unplayable_candidate(snap, ctx)
        or content_candidate(snap, ctx)
        or broken
        or health
    )
    found = candidate is not None
    candidate = candidate or seeding_candidate(snap, ctx)
    final = guard_removal(candidate, snap, ctx) if candidate else None
    deleting = final is not None and final.is_removal and final.delete_from_client
    if not deleting and not is_protected(snap, ctx):
        priorities = priority_decision(snap, ctx)
        if priorities:
            out.append(priorities)
    if final:
        if final.is_removal and candidate is not health:
            # Removed for what it is (a dangerous file, a failed import, ...): striking it
            # as stalled in the same check would only leave noise in the audit trail.
            out = [d for d in out if d.action is not Action.STRIKE]
        out.append(final)
    if not found:
        imp = gate_import(import_decision(snap, ctx), snap, ctx)
        if imp:
            out.append(imp)
    return _mark_dry_run(out, ctx)


#: A remembered HOLD is evaluated again at least this often: its reason is the torrent's
#: note, and the note's text may count time ("added 2 min ago").
NOTE_REFRESH = 60.0


def quiet_until(snap: TorrentSnapshot, ctx: Context, decided: Sequence[Decision] = ()) -> float:
    """Until when ``decide_torrent`` keeps deciding ``decided`` (its answer at ``ctx.now``)
    for ``snap`` if only the clock moves, HOLD reasons aside (their text may count time).

    ``ctx.now`` is no promise: evaluate again next cycle. That is the answer for anything
    but nothing-or-HOLDs (a strike or an action changes the torrent), and for a
    downloading torrent (the slow rule's average speed moves with the clock). Otherwise the
    rules read the clock only in thresholds that each flip once, at a time computed here:
    the age guard and the metadata timeout after ``added``, the stall delay after the last
    download activity, the recheck's settling time and strike expiry after the last
    recheck or strike, the import grace after completion. The next of them still ahead
    (or at ``ctx.now``, so a ``>`` comparison gets its look) is the promise; a HOLD is
    looked at again within ``NOTE_REFRESH`` anyway.
    """
    now = ctx.now
    t, h, p = snap.torrent, snap.history, ctx.policy
    if t.state == "downloading" or any(d.action is not Action.HOLD for d in decided):
        return now
    marks = []
    added = t.added_on if t.added_on > 0 else h.first_seen
    if added is not None:
        marks += [added + p.ignore_younger_than, added + p.metadata_timeout]
    inactive = h.last_progress_at  # as stall.inactive_since; unknown there means "now"
    if inactive is None and added is not None:
        inactive = max(t.last_activity, added)
    if inactive is not None:
        marks.append(inactive + p.stalled_delay * 60)
    if h.last_recheck_at is not None:
        marks += [h.last_recheck_at + RECHECK_SETTLE, h.last_recheck_at + p.strike_expiry]
    if h.last_strike_at is not None:
        marks.append(h.last_strike_at + p.strike_expiry)
    if t.completion_on > 0:
        marks.append(t.completion_on + p.import_grace)
    until = min((m for m in marks if m >= now), default=math.inf)
    return min(until, now + NOTE_REFRESH) if decided else until


def _memo_key(ctx: Context) -> tuple[Any, ...]:
    """What of the context a remembered "nothing to do" depends on (not ``now``, not the
    client's rates or free space: only the slow rule and the cycle's free-space plan read
    those, and neither applies to a torrent the memo skips)."""
    c = ctx.client
    return (ctx.policy, ctx.arr_type, ctx.arr, ctx.dry_run, c.reachable, c.connection_status)


@dataclass
class Memo:
    """What ``decide_cycle`` remembers between cycles: per torrent, the snapshot it was
    judged on, until when that judgement holds (see ``quiet_until``) and what it decided
    (nothing, or HOLD notes)."""

    key: tuple[Any, ...] | None = None
    quiet: dict[str, tuple[TorrentSnapshot, float, tuple[Decision, ...]]] = field(
        default_factory=dict
    )
    evaluated: int = 0  # torrents evaluated by the last cycle (the rest were remembered)

    def forget(self, torrent_hash: str) -> None:
        self.quiet.pop(torrent_hash, None)


def decide_cycle(
    snapshots: Sequence[TorrentSnapshot],
    ctx: Context,
    *,
    free_space: int | None = None,
    memo: Memo | None = None,
) -> CycleResult:
    """All decisions of one cycle: per torrent, the removal cap, then free space.

    ``free_space`` overrides ``ctx.client.free_space`` (the manager measures
    ``free_space_folder`` itself when one is configured). ``memo`` skips torrents that
    cannot have a new decision (see the module docstring).
    """
    blocked = fail_closed_reason(ctx)
    if not ctx.client.reachable:
        return CycleResult((), blocked)
    decisions: list[Decision] = []
    if memo is None:
        for snap in snapshots:
            decisions.extend(decide_torrent(snap, ctx))
    else:
        decisions = _decide_remembering(snapshots, ctx, memo)
    decisions = cap_removals(decisions, snapshots, ctx.policy.max_removals_per_cycle)
    gone = {d.hash for d in decisions if d.is_removal and d.delete_from_client}
    rest = [s for s in snapshots if s.torrent.hash not in gone]
    free = ctx.client.free_space if free_space is None else free_space
    decisions.extend(_mark_dry_run(plan_free_space(rest, ctx, free), ctx))
    return CycleResult(tuple(decisions), blocked)


def _decide_remembering(
    snapshots: Sequence[TorrentSnapshot], ctx: Context, memo: Memo
) -> list[Decision]:
    key = _memo_key(ctx)
    if key != memo.key:
        memo.quiet.clear()
        memo.key = key
    quiet, now = memo.quiet, ctx.now
    decisions: list[Decision] = []
    evaluated = 0
    for snap in snapshots:
        h = snap.torrent.hash
        seen = quiet.get(h)
        if seen is not None and seen[0] is snap and now < seen[1]:
            decisions.extend(seen[2])
            continue
        evaluated += 1
        got = decide_torrent(snap, ctx)
        until = quiet_until(snap, ctx, got)
        if until > now:
            quiet[h] = (snap, until, tuple(got))  # () for most: one shared object, no list
        elif seen is not None:
            del quiet[h]
        decisions.extend(got)
    memo.evaluated = evaluated
    return decisions


def _mark_dry_run(decisions: list[Decision], ctx: Context) -> list[Decision]:
    if not ctx.dry_run:
        return decisions
    return [replace(d, dry_run=True) if d.executes else d for d in decisions]
