"""Strikes: stalled, metadata-stuck and slow downloads.

One strike per check while a download is in trouble. A torrent is removed (blocklisted and
searched again) when it has ``stalled_strikes`` strikes AND, for stalled / metadata, has
had no download activity for ``stalled_delay`` minutes. Slow torrents do download, so for
them the strike count alone decides.

Strikes go back to zero when the torrent makes real progress (more than
``min_progress_bytes`` downloaded since the last strike; a slow torrent progresses by
definition, so this reset does not apply while it is still slow) and expire after
``strike_expiry`` seconds without a new one. After a progress reset no strike is added in
the same check: the progress just proved the torrent alive.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import text
from .guards import fail_closed_reason, strike_block
from .seeding import seed_rules
from .types import Action, Context, Decision, History, Rule, TorrentSnapshot, TorrentView

#: The client's global download rate counts as "at its limit" from this share of the limit.
LIMIT_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Trouble:
    """Why the torrent deserves a strike now. ``inactive_since`` None: no inactivity needed."""

    rule: Rule
    detail: str
    inactive_since: float | None


def _added(t: TorrentView, h: History, now: float) -> float:
    if t.added_on > 0:
        return t.added_on
    return h.first_seen if h.first_seen is not None else now


def inactive_since(t: TorrentView, h: History, now: float) -> float:
    """When the torrent last downloaded something (the manager's observation first)."""
    if h.last_progress_at is not None:
        return h.last_progress_at
    return max(t.last_activity, _added(t, h, now))


def client_limited(ctx: Context) -> bool:
    """Slowness is the client's own doing: alternative speed on or global rate at its limit."""
    c = ctx.client
    return c.alt_speed or (c.dl_rate_limit > 0 and c.dl_rate >= LIMIT_SHARE * c.dl_rate_limit)


def average_speed(h: History, downloaded: int, now: float, window: int) -> float | None:
    """Average bytes/s since the newest sample at least ``window`` old; None without one."""
    base = None
    for at, amount in h.speed_samples:
        if now - at >= window:
            base = (at, amount)
    if base is None or now <= base[0]:
        return None
    return max(0, downloaded - base[1]) / (now - base[0])


def detect(snap: TorrentSnapshot, ctx: Context) -> Trouble | None:
    t, h, p, now = snap.torrent, snap.history, ctx.policy, ctx.now
    if t.state == "metaDL":
        if p.metadata_timeout < 0:
            return None
        added = _added(t, h, now)
        waited = now - added
        if waited > p.metadata_timeout:
            return Trouble(Rule.METADATA, f"fetching metadata for {text.duration(waited)}", added)
        return None
    if t.state == "stalledDL":
        return Trouble(Rule.STALLED, "stalledDL", inactive_since(t, h, now))
    if t.state != "downloading":
        return None
    if 0 <= t.availability < 1:
        detail = f"availability {t.availability:.2f} < 1"
        return Trouble(Rule.STALLED, detail, inactive_since(t, h, now))
    if p.do_not_remove_slow or client_limited(ctx):
        return None
    max_eta = seed_rules(t, p).maximum_eta
    if max_eta >= 0 and t.eta > max_eta:
        detail = f"ETA {text.duration(t.eta)} above {text.duration(max_eta)}"
        return Trouble(Rule.SLOW, detail, None)
    if p.min_speed > 0:
        speed = average_speed(h, t.downloaded, now, p.slow_window)
        if speed is not None and speed < p.min_speed:
            detail = (
                f"{text.size(speed)}/s over {text.duration(p.slow_window)}, "
                f"below {text.size(p.min_speed)}/s"
            )
            return Trouble(Rule.SLOW, detail, None)
    return None


def _bookkeeping(
    snap: TorrentSnapshot, action: Action, rule: Rule, reason: str, *, strikes: int
) -> Decision:
    t = snap.torrent
    return Decision(action, rule, reason, hash=t.hash, name=t.name, strikes=strikes)


def strike_rules(snap: TorrentSnapshot, ctx: Context) -> tuple[list[Decision], Decision | None]:
    """Strike bookkeeping for this check, and a removal candidate (not yet guarded for
    hit-and-run or the cycle limit) when the strikes and the delay are met."""
    t, h, p, now = snap.torrent, snap.history, ctx.policy, ctx.now
    out: list[Decision] = []
    strikes = h.strikes
    if strikes > 0 and p.strike_expiry > 0 and h.last_strike_at is not None:
        quiet = now - h.last_strike_at
        if quiet >= p.strike_expiry:
            reason = f"{strikes} strike(s) expired: none for {text.duration(quiet)}"
            out.append(
                _bookkeeping(snap, Action.RESET_STRIKES, Rule.STRIKE_EXPIRY, reason, strikes=0)
            )
            strikes = 0
    trouble = detect(snap, ctx)
    if strikes > 0 and h.downloaded_at_last_strike is not None:
        gained = t.downloaded - h.downloaded_at_last_strike
        if gained > p.min_progress_bytes and (trouble is None or trouble.rule is not Rule.SLOW):
            reason = f"real progress: {text.size(gained)} since the last strike, {strikes} strike(s) cleared"
            out.append(_bookkeeping(snap, Action.RESET_STRIKES, Rule.PROGRESS, reason, strikes=0))
            return out, None
    if trouble is None:
        return out, None
    if fail_closed_reason(ctx):
        return out, None  # reported once per cycle (CycleResult.blocked), not per torrent
    blocked = strike_block(snap, ctx)
    if blocked:
        reason = f"{trouble.rule.value} ({trouble.detail}); not struck: {blocked}"
        out.append(_bookkeeping(snap, Action.HOLD, trouble.rule, reason, strikes=strikes))
        return out, None
    strikes += 1
    need = max(1, p.stalled_strikes)
    idle = None if trouble.inactive_since is None else now - trouble.inactive_since
    idle_text = "" if idle is None else f", {text.duration(idle)} without download activity"
    reason = f"{trouble.rule.value}: strike {strikes}/{need} ({trouble.detail}{idle_text})"
    out.append(_bookkeeping(snap, Action.STRIKE, trouble.rule, reason, strikes=strikes))
    if strikes < need:
        return out, None
    if idle is not None and idle < p.stalled_delay * 60:
        return out, None
    if idle is None:
        why = f"{trouble.rule.value}: {strikes} strikes ({trouble.detail})"
    else:
        why = f"{trouble.rule.value}: {strikes} strikes over {text.duration(idle)} without activity ({trouble.detail})"
    removal = Decision(
        action=Action.REMOVE,
        rule=trouble.rule,
        reason=why,
        hash=t.hash,
        name=t.name,
        blocklist=True,
        re_search=p.re_search,
        delete_from_client=True,
        queue_ids=snap.queue_ids,
        media_ids=snap.media_ids,
        strikes=strikes,
    )
    return out, removal
