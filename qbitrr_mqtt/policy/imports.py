"""The Arr's side of a finished download: failed imports and the import command.

A failed import is a queue record whose status messages (or error message) contain one of
``failed_import_messages`` (substring, case-insensitive): the release is blocklisted and
searched again. The record titles (file names) are not matched, see ``QueueItem``.

The import command is sent once: for a complete torrent the Arr still lists in its queue,
not imported ``import_grace`` seconds after completion, and never again once
``History.import_sent_at`` is set (the Arr keeps retrying on its own after that).
"""

from __future__ import annotations

from . import text
from .types import Action, Context, Decision, Rule, TorrentSnapshot

#: States of a finished torrent (qBittorrent 4.5 and the 5.x stopped* names).
SEEDING_STATES = frozenset(
    {"uploading", "stalledUP", "pausedUP", "stoppedUP", "queuedUP", "forcedUP"}
)


def failed_import_message(snap: TorrentSnapshot, ctx: Context) -> str | None:
    """The first Arr message marking a failed import, or None."""
    needles = [m.casefold() for m in ctx.policy.failed_import_messages if m]
    if not needles:
        return None
    for item in snap.queue:
        for message in (*item.status_messages, item.error_message):
            folded = message.casefold()
            if message and any(n in folded for n in needles):
                return message
    return None


def failed_import_candidate(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    message = failed_import_message(snap, ctx)
    if message is None or snap.history.imported or snap.history.kept_for_hnr:
        return None
    t = snap.torrent
    return Decision(
        action=Action.REMOVE,
        rule=Rule.FAILED_IMPORT,
        reason=f"failed import: {message}",
        hash=t.hash,
        name=t.name,
        blocklist=True,
        re_search=ctx.policy.re_search,
        delete_from_client=True,
        queue_ids=snap.queue_ids,
        media_ids=snap.media_ids,
    )


def import_decision(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    t, h = snap.torrent, snap.history
    if not ctx.arr.reachable or not snap.queue or h.import_sent_at is not None:
        return None
    if h.imported or h.kept_for_hnr:
        return None
    if not t.complete or t.state not in SEEDING_STATES:
        return None
    finished = t.completion_on if t.completion_on > 0 else None
    if finished is None:
        return None
    waited = ctx.now - finished
    if waited < ctx.policy.import_grace:
        return None
    return Decision(
        action=Action.IMPORT,
        rule=Rule.IMPORT,
        reason=f"finished {text.duration(waited)} ago and not imported: asking the Arr to import",
        hash=t.hash,
        name=t.name,
        queue_ids=snap.queue_ids,
        media_ids=snap.media_ids,
        path=t.content_path or t.save_path,
    )
