"""Free space: pause downloads that would not fit, resume ours when space returns.

Budget = free space - ``free_space`` threshold. Incomplete torrents are walked in queue
order (qBittorrent queue position, then added time); each one that fits reserves its
``amount_left`` from the budget, each one that does not is paused and tagged
``free_space_tag``. Only torrents carrying that tag are ever resumed, so a torrent the user
paused stays paused (and reserves nothing). Forced, checking and moving torrents are never
paused but do reserve their ``amount_left``. With the feature off (``free_space: -1``)
every torrent still tagged is resumed and untagged; with the free space unknown nothing
changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import text
from .types import Action, Context, Decision, Rule, TorrentSnapshot

PAUSED_STATES = frozenset({"pausedDL", "stoppedDL", "pausedUP", "stoppedUP"})
PAUSABLE_STATES = frozenset({"downloading", "stalledDL", "queuedDL", "metaDL"})


def _queue_key(snap: TorrentSnapshot) -> tuple[float, float, str]:
    t = snap.torrent
    position = t.priority if t.priority > 0 else float("inf")
    return (position, t.added_on, t.hash)


def _d(snap: TorrentSnapshot, action: Action, reason: str, tag: str | None = None) -> Decision:
    t = snap.torrent
    return Decision(action, Rule.FREE_SPACE, reason, hash=t.hash, name=t.name, tag=tag)


def plan_free_space(
    snapshots: Sequence[TorrentSnapshot], ctx: Context, free_space: int | None
) -> list[Decision]:
    policy = ctx.policy
    tag = policy.free_space_tag
    out: list[Decision] = []
    if policy.free_space < 0:
        for snap in snapshots:
            if tag in snap.torrent.tags:
                if snap.torrent.state in PAUSED_STATES:
                    out.append(_d(snap, Action.RESUME, "free-space check is off: resuming"))
                out.append(_d(snap, Action.REMOVE_TAG, "free-space check is off", tag))
        return out
    if free_space is None:
        return out
    budget = free_space - policy.free_space
    floor = text.size(policy.free_space)
    # Finished torrents not paused by us take no part: leave them out before sorting (a
    # library of 10,000 seeding torrents would otherwise be sorted on every cycle).
    waiting = [s for s in snapshots if s.torrent.progress < 1.0 or tag in s.torrent.tags]
    for snap in sorted(waiting, key=_queue_key):
        t = snap.torrent
        ours = tag in t.tags
        paused = t.state in PAUSED_STATES
        if paused and not ours:
            continue  # paused by the user: not ours to resume, reserves nothing
        left = max(0, t.amount_left)
        if not paused and t.state not in PAUSABLE_STATES:
            budget -= left  # forced / checking / moving: never paused, still fills the disk
            continue
        if left <= budget:
            budget -= left
            if paused:
                reason = f"space is back: {text.size(left)} left fits above the {floor} floor"
                out.append(_d(snap, Action.RESUME, reason))
            if ours:
                out.append(_d(snap, Action.REMOVE_TAG, "no longer paused for free space", tag))
        elif not paused:
            reason = (
                f"not enough space: {text.size(left)} left, {text.size(max(0, budget))} "
                f"available above the {floor} floor"
            )
            out.append(_d(snap, Action.PAUSE, reason))
            if not ours:
                out.append(_d(snap, Action.ADD_TAG, "paused for free space", tag))
    return out
