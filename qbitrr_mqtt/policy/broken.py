"""Broken data: ``missingFiles`` and ``error``.

Both get a recheck first (rechecks are harmless and often fix it). A recheck counts as
recent until ``strike_expiry`` seconds have passed (0: forever), so a torrent is not
rechecked over and over. If the files are still missing ``RECHECK_SETTLE`` seconds after
the recheck, the torrent is removed without blocklist: the release was fine, the local
data was lost (and it is not searched again here; search missing finds the item). An
``error`` that survives a recheck is left for a human (usually a disk or permission
problem that removing would not fix).
"""

from __future__ import annotations

from . import text
from .types import Action, Context, Decision, Rule, TorrentSnapshot

#: Seconds after a recheck before its result is trusted (qBittorrent may not have started it).
RECHECK_SETTLE = 60


def broken_rules(snap: TorrentSnapshot, ctx: Context) -> tuple[list[Decision], Decision | None]:
    """A recheck or a note for this check, and a removal candidate for missing files."""
    t, h, p, now = snap.torrent, snap.history, ctx.policy, ctx.now
    if t.state not in ("missingFiles", "error"):
        return [], None
    rule = Rule.MISSING_FILES if t.state == "missingFiles" else Rule.ERROR
    label = "missing files" if rule is Rule.MISSING_FILES else "qBittorrent error"
    since = None if h.last_recheck_at is None else now - h.last_recheck_at
    recent = since is not None and (p.strike_expiry == 0 or since < p.strike_expiry)
    if not recent:
        decision = Decision(Action.RECHECK, rule, f"{label}: rechecking", hash=t.hash, name=t.name)
        return [decision], None
    assert since is not None
    if since < RECHECK_SETTLE:
        return [], None
    if rule is Rule.ERROR:
        reason = f"{label} persists after a recheck {text.duration(since)} ago; left for a human"
        return [Decision(Action.HOLD, rule, reason, hash=t.hash, name=t.name)], None
    removal = Decision(
        Action.REMOVE,
        rule,
        f"{label} after a recheck {text.duration(since)} ago: removing without blocklist",
        hash=t.hash,
        name=t.name,
        delete_from_client=True,
        queue_ids=snap.queue_ids,
        media_ids=snap.media_ids,
    )
    return [], removal
