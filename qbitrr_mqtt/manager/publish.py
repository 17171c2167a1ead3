"""What a manager tells MQTT: its state, one retained topic per torrent, one event per action.

A thin adapter over ``mqtt.publisher.StatePublisher`` (change-only: an idle cycle sends
nothing) that turns the manager's store rows into SPEC §4 payloads.
"""

from __future__ import annotations

from typing import Any

from ..mqtt.payloads import ACTION_EVENTS, EventPayload, StatePayload
from ..mqtt.publisher import StatePublisher


def event_type(action: str, tag: str | None = None, protect_tag: str | None = None) -> str:
    """The ``event_type`` of a journal action name (``would_*`` for dry-run rows)."""
    if action in ("add_tag", "remove_tag") and tag is not None and tag == protect_tag:
        return "protected" if action == "add_tag" else "unprotected"
    if action in ACTION_EVENTS:
        return ACTION_EVENTS[action]
    # Dry run of anything but a removal (would_import, would_recheck, ...): one event type,
    # the action itself is in the reason and the audit trail.
    return "would_act" if action.startswith("would_") else action


class ManagerPublisher:
    def __init__(self, publisher: StatePublisher, instance: str, protect_tag: str) -> None:
        self.pub = publisher
        self.instance = instance
        self.protect_tag = protect_tag

    def state(self, **fields: Any) -> bool:
        return self.pub.publish_state(self.instance, StatePayload(**fields))

    def torrent(self, h: str, data: dict[str, Any]) -> bool:
        return self.pub.publish_torrent(self.instance, h, data)

    def torrent_gone(self, h: str) -> bool:
        return self.pub.clear_torrent(self.instance, h)

    def action(self, row: Any, tag: str | None = None) -> None:
        """One event per finished action (failed ones as ``failed`` with the error)."""
        if row.status == "intent":
            return
        kind = event_type(row.action, tag, self.protect_tag) if row.status == "done" else "failed"
        reason = row.reason if row.status == "done" else f"{row.action} failed: {row.error}"
        self.pub.publish_event(
            self.instance,
            EventPayload(
                event_type=kind,
                hash=row.hash,
                name=row.name,
                reason=reason,
                media_id=row.media_id,
                at=row.finished_at or row.created_at,
                dry_run=bool(row.dry_run),
            ),
        )
