"""Private trackers, hit-and-run obligations and seeding limits.

Hit-and-run (HnR) decision: the obligation applies only once the download is complete.
An incomplete torrent has nothing to seed yet, and an incomplete private torrent that is
stalled would otherwise sit in the client forever; trackers count a hit-and-run on a
finished snatch. So a *complete* private torrent that has not yet met its ratio / days
is "HnR-bound": it may leave the Arr queue (``delete_from_client=False``) but is never
deleted from qBittorrent, and seeding limits never remove it.

A threshold of 0 means "no requirement": in ``and`` mode it is trivially met, in ``or``
mode it does not count as the met half (``or`` with ratio 1.0 and 0 days still needs the
ratio; with both 0 there is no obligation).
"""

from __future__ import annotations

from dataclasses import dataclass

from qbitrr_mqtt.config.models import Policy, TrackerRule

from . import text
from .types import Action, Context, Decision, Rule, TorrentSnapshot, TorrentView

DAY = 86400


@dataclass(frozen=True, slots=True)
class SeedRules:
    """The effective seeding rules of one torrent: the policy with its tracker override."""

    private: bool
    hit_and_run: str
    min_seed_ratio: float
    min_seed_days: float
    max_ratio: float
    max_seed_time: int
    remove_torrent: int
    maximum_eta: int
    tracker: str | None = None


def tracker_rule(t: TorrentView, policy: Policy) -> TrackerRule | None:
    """The first override matching the working tracker, else any of the announce URLs."""
    for url in (t.tracker, *t.trackers):
        rule = policy.tracker_rule(url)
        if rule is not None:
            return rule
    return None


def seed_rules(t: TorrentView, policy: Policy) -> SeedRules:
    rule = tracker_rule(t, policy)

    def pick[T](value: T | None, default: T) -> T:
        return default if value is None else value

    if rule is None:
        return SeedRules(
            private=t.private,
            hit_and_run=policy.hit_and_run,
            min_seed_ratio=policy.min_seed_ratio,
            min_seed_days=policy.min_seed_days,
            max_ratio=policy.max_ratio,
            max_seed_time=policy.max_seed_time,
            remove_torrent=policy.remove_torrent,
            maximum_eta=policy.maximum_eta,
        )
    return SeedRules(
        private=pick(rule.private, t.private),
        hit_and_run=pick(rule.hit_and_run, policy.hit_and_run),
        min_seed_ratio=pick(rule.min_seed_ratio, policy.min_seed_ratio),
        min_seed_days=pick(rule.min_seed_days, policy.min_seed_days),
        max_ratio=pick(rule.max_ratio, policy.max_ratio),
        max_seed_time=pick(rule.max_seed_time, policy.max_seed_time),
        remove_torrent=pick(rule.remove_torrent, policy.remove_torrent),
        maximum_eta=pick(rule.maximum_eta, policy.maximum_eta),
        tracker=rule.name or rule.uri,
    )


def hnr_met(t: TorrentView, rules: SeedRules) -> bool:
    """Whether the torrent may leave the client as far as hit-and-run is concerned."""
    if not rules.private or rules.hit_and_run == "off":
        return True
    ratio_ok = t.ratio >= rules.min_seed_ratio
    days_ok = t.seeding_time >= rules.min_seed_days * DAY
    if rules.hit_and_run == "and":
        return ratio_ok and days_ok
    needs_ratio = rules.min_seed_ratio > 0
    needs_days = rules.min_seed_days > 0
    if not needs_ratio and not needs_days:
        return True
    return (needs_ratio and ratio_ok) or (needs_days and days_ok)


def hnr_bound(t: TorrentView, rules: SeedRules) -> bool:
    """A complete private torrent whose obligation is not met yet: never deleted from the client."""
    return rules.private and t.complete and not hnr_met(t, rules)


def hnr_detail(t: TorrentView, rules: SeedRules) -> str:
    days = t.seeding_time / DAY
    where = f" on {rules.tracker}" if rules.tracker else ""
    return (
        f"hit-and-run{where} ({rules.hit_and_run}): ratio {t.ratio:.2f}/{rules.min_seed_ratio:g}, "
        f"seeded {days:.1f}/{rules.min_seed_days:g} days"
    )


def seeding_limit_reached(t: TorrentView, rules: SeedRules) -> str | None:
    """Why the seeding limits say the torrent is done, or None (``remove_torrent`` modes:
    -1 never, 1 ratio, 2 time, 3 either, 4 both; a limit of -1 is never reached)."""
    ratio_hit = rules.max_ratio >= 0 and t.ratio >= rules.max_ratio
    time_hit = rules.max_seed_time >= 0 and t.seeding_time >= rules.max_seed_time
    ratio_text = f"ratio {t.ratio:.2f} ≥ {rules.max_ratio:g}"
    time_text = f"seeded {text.duration(t.seeding_time)} ≥ {text.duration(rules.max_seed_time)}"
    match rules.remove_torrent:
        case 1 if ratio_hit:
            return ratio_text
        case 2 if time_hit:
            return time_text
        case 3 if ratio_hit or time_hit:
            return ratio_text if ratio_hit else time_text
        case 4 if ratio_hit and time_hit:
            return f"{ratio_text} and {time_text}"
    return None


def seeding_candidate(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    """Deletion from the client of a finished torrent that is done: imported and at its
    seeding limits, or kept only for hit-and-run and now free of it. Hit-and-run itself is
    checked by the engine's guard (a bound torrent turns this into a HOLD)."""
    t, h = snap.torrent, snap.history
    if not t.complete:
        return None
    rules = seed_rules(t, ctx.policy)
    if h.kept_for_hnr:
        if not hnr_met(t, rules):
            return None
        reason = f"{hnr_detail(t, rules)} met for a release already removed from the Arr"
    elif h.imported:
        reached = seeding_limit_reached(t, rules)
        if reached is None:
            return None
        reason = f"seeding limit reached: {reached}"
    else:
        return None
    return Decision(
        action=Action.REMOVE,
        rule=Rule.SEEDING_LIMIT,
        reason=reason,
        hash=t.hash,
        name=t.name,
        delete_from_client=True,
        queue_ids=snap.queue_ids,
        media_ids=snap.media_ids,
    )
