"""Search missing: which wanted items to search in this pass.

Runs every ``search_interval`` seconds when ``search_missing`` is on; cutoff-unmet items
join only with ``search_cutoff_unmet``. At most ``search_limit`` searches run at once (the
ones already running count), an item is not searched again within ``search_cooldown``
seconds, and items already in the download queue are skipped. Order: missing before
cutoff-unmet, never-searched before searched, least recently searched first, then the
Arr's own order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from . import text
from .types import Action, Context, Decision, Rule, WantedItem


def plan_searches(
    wanted: Sequence[WantedItem],
    ctx: Context,
    *,
    active_searches: int = 0,
    last_searched: Mapping[int, float] | None = None,
    queued_media_ids: Collection[int] = (),
    last_pass_at: float | None = None,
) -> list[Decision]:
    p, now = ctx.policy, ctx.now
    last_searched = last_searched or {}
    if not p.search_missing or not ctx.arr.reachable:
        return []
    if last_pass_at is not None and now - last_pass_at < p.search_interval:
        return []
    slots = p.search_limit - max(0, active_searches)
    if slots <= 0:
        return []
    queued = set(queued_media_ids)
    picked: dict[int, tuple[tuple[int, int, float, int], WantedItem]] = {}
    for position, item in enumerate(wanted):
        if item.cutoff_unmet and not p.search_cutoff_unmet:
            continue
        if item.media_id in queued:
            continue
        last = last_searched.get(item.media_id)
        if last is not None and now - last < p.search_cooldown:
            continue
        key = (int(item.cutoff_unmet), 0 if last is None else 1, last or 0.0, position)
        if item.media_id not in picked or key < picked[item.media_id][0]:
            picked[item.media_id] = (key, item)
    chosen = sorted(picked.values(), key=lambda kv: kv[0])[:slots]
    out = []
    for _, item in chosen:
        last = last_searched.get(item.media_id)
        when = (
            "never searched" if last is None else f"last searched {text.duration(now - last)} ago"
        )
        kind = Rule.SEARCH_CUTOFF if item.cutoff_unmet else Rule.SEARCH_MISSING
        label = "cutoff unmet" if item.cutoff_unmet else "missing"
        title = f" {item.title}" if item.title else ""
        out.append(
            Decision(
                Action.SEARCH,
                kind,
                f"{label}{title}: {when}",
                media_ids=(item.media_id,),
                dry_run=ctx.dry_run,
            )
        )
    return out
