"""The per-cycle removal cap.

At most ``max_removals_per_cycle`` removals leave a cycle; the rest become HOLD decisions
and come back next cycle (their strikes keep counting). Order of who goes first:

1. verdicts (dangerous file, failed import, unplayable, archive, no wanted file): the
   content is wrong and may be harmful;
2. broken (missing files after a recheck);
3. health (stalled, metadata, slow);
4. seeding limits (nothing is wrong, it can wait);

within a family, most strikes first, then the oldest torrent (added first), then hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .types import RULE_KIND, Action, Decision, RemovalKind, Rule, TorrentSnapshot

_KIND_RANK = {
    RemovalKind.VERDICT: 0,
    RemovalKind.BROKEN: 1,
    RemovalKind.HEALTH: 2,
    RemovalKind.SEEDING: 3,
}


def removal_order(
    decisions: Sequence[Decision], snapshots: Sequence[TorrentSnapshot]
) -> list[Decision]:
    """The removals among ``decisions``, most urgent first."""
    added = {s.torrent.hash: s.torrent.added_on for s in snapshots}
    strikes = {s.torrent.hash: s.history.strikes for s in snapshots}

    def key(d: Decision) -> tuple[int, int, float, str]:
        h = d.hash or ""
        count = d.strikes if d.strikes is not None else strikes.get(h, 0)
        rank = _KIND_RANK.get(RULE_KIND.get(d.rule, RemovalKind.HEALTH), 2)
        return (rank, -count, added.get(h, 0.0), h)

    return sorted((d for d in decisions if d.is_removal), key=key)


def cap_removals(
    decisions: Sequence[Decision], snapshots: Sequence[TorrentSnapshot], limit: int
) -> list[Decision]:
    """``decisions`` in their order, removals beyond ``limit`` turned into HOLD."""
    if sum(1 for d in decisions if d.is_removal) <= max(0, limit):
        return list(decisions)  # nothing to defer (and no need to rank every torrent)
    keep = {id(d) for d in removal_order(decisions, snapshots)[: max(0, limit)]}
    out = []
    for d in decisions:
        if d.is_removal and id(d) not in keep:
            reason = f"deferred: max_removals_per_cycle ({limit}) reached; wanted: {d.reason}"
            d = replace(
                d,
                action=Action.HOLD,
                rule=Rule.REMOVAL_LIMIT,
                reason=reason,
                dry_run=False,
                blocklist=False,
                re_search=False,
                delete_from_client=False,
            )
        out.append(d)
    return out
