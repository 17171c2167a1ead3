"""The safety guards: when the policy must not strike or remove anything.

Every removal passes ``removal_block`` (see the table in ``engine.py``). Guards fail
closed: an unknown qBittorrent state, an unknown age or an unreachable service all mean
"do not remove".
"""

from __future__ import annotations

from .types import Context, RemovalKind, TorrentSnapshot

#: States in which a torrent may be removed. Everything else (queued, paused, checking,
#: moving, forced, allocating, unknown future states) holds. The complete states
#: pausedUP/stoppedUP/queuedUP are removable because qBittorrent itself pauses a torrent
#: when its share limit is reached, which is the normal end of seeding.
REMOVABLE_STATES = frozenset(
    {
        "downloading",
        "stalledDL",
        "metaDL",
        "missingFiles",
        "error",
        "uploading",
        "stalledUP",
        "pausedUP",
        "stoppedUP",
        "queuedUP",
    }
)

#: connection_status values of qBittorrent that stop every strike and removal. "firewalled"
#: (no incoming connections) does too unless ``fail_closed_firewalled`` is off: it is the
#: everyday state of a client behind NAT, whose users may choose to clean anyway.
BAD_CONNECTION = frozenset({"disconnected"})
FIREWALLED = "firewalled"


def fail_closed_reason(ctx: Context) -> str | None:
    """Why no torrent may be struck or removed right now, or None."""
    if not ctx.client.reachable:
        return "qBittorrent is unreachable"
    status = (ctx.client.connection_status or "").lower()
    if status in BAD_CONNECTION or (status == FIREWALLED and ctx.policy.fail_closed_firewalled):
        return f"qBittorrent reports {status}"
    if not ctx.arr.reachable:
        return "the Arr is unreachable"
    return None


def is_protected(snap: TorrentSnapshot, ctx: Context) -> bool:
    return ctx.policy.protect_tag in snap.torrent.tags


def age(snap: TorrentSnapshot, ctx: Context) -> float | None:
    """Seconds since the torrent was added (our first sighting when qBittorrent has no date)."""
    added = snap.torrent.added_on if snap.torrent.added_on > 0 else snap.history.first_seen
    return None if added is None else ctx.now - added


def young_reason(snap: TorrentSnapshot, ctx: Context) -> str | None:
    limit = ctx.policy.ignore_younger_than
    seconds = age(snap, ctx)
    if seconds is None:
        return "its age is unknown"
    if seconds < limit:
        return f"added {int(seconds)} s ago (ignore_younger_than {limit} s)"
    return None


def state_reason(snap: TorrentSnapshot) -> str | None:
    state = snap.torrent.state
    return None if state in REMOVABLE_STATES else f"state {state or 'unknown'}"


def percentage_reason(snap: TorrentSnapshot, ctx: Context) -> str | None:
    limit = ctx.policy.maximum_deletable_percentage
    progress = snap.torrent.progress
    if progress >= limit:
        return f"progress {progress:.1%} ≥ maximum_deletable_percentage {limit:.0%}"
    return None


def removal_block(snap: TorrentSnapshot, ctx: Context, kind: RemovalKind) -> str | None:
    """Why this torrent must not be removed by a rule of ``kind``, or None.

    Hit-and-run is not checked here: it does not block a removal from the Arr queue, only
    the deletion from the client (the engine turns that into ``delete_from_client=False``).
    """
    reason = fail_closed_reason(ctx)
    if reason:
        return reason
    if is_protected(snap, ctx):
        return f"tagged {ctx.policy.protect_tag}"
    reason = state_reason(snap)
    if reason:
        return reason
    if kind in (RemovalKind.HEALTH, RemovalKind.BROKEN):
        reason = young_reason(snap, ctx)
        if reason:
            return reason
    if kind is RemovalKind.HEALTH:
        return percentage_reason(snap, ctx)
    return None


def strike_block(snap: TorrentSnapshot, ctx: Context) -> str | None:
    """Strikes follow the guards of health removals: no strike where no removal could follow."""
    return removal_block(snap, ctx, RemovalKind.HEALTH)
