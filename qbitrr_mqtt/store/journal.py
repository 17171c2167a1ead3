"""The action journal (audit trail) and the search history.

An action is recorded as an *intent* before it runs and finished after, so a crash in
between leaves a row a restarted manager finds with :meth:`pending_intents` and resolves
(checks whether the effect happened, then marks it done or failed) instead of repeating or
forgetting it. The caller picks the idempotency ``key`` from what makes the action unique
(e.g. ``f"{instance}:{hash}:remove:{first_strike_at}"``): recording the same key again
returns the first row, whatever the other arguments say.

A finished action is then published once as an MQTT event: :meth:`unpublished_actions`
lists finished rows not yet sent, :meth:`mark_published` records the send.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from .base import NotFound, StoreBase, chunks
from .models import Action, Search, Torrent
from .types import to_utc, utcnow

FINISHED = ("done", "failed", "skipped")


class JournalMixin(StoreBase):
    def record_intent(
        self,
        instance: str,
        hash: str | None,
        name: str | None,
        action: str,
        reason: str,
        media_id: int | None = None,
        dry_run: bool = False,
        key: str | None = None,
        at: datetime | None = None,
    ) -> Action:
        """Journal an action before running it; with a ``key`` seen before, the earlier row
        is returned unchanged (check its ``status``: it may already be done)."""
        key = key or uuid.uuid4().hex
        row = Action(
            instance=instance,
            hash=hash.lower() if hash else None,
            name=name,
            action=action,
            reason=reason,
            media_id=media_id,
            dry_run=dry_run,
            key=key,
            status="intent",
            created_at=to_utc(at) if at is not None else utcnow(),
        )
        try:
            with self._write() as s:
                found = s.exec(select(Action).where(Action.key == key)).first()
                if found is not None:
                    return found
                s.add(row)
            return row
        except IntegrityError:  # another process recorded the same key in between
            found = self.action_by_key(key)
            if found is None:
                raise
            return found

    def action_by_key(self, key: str) -> Action | None:
        with self._read() as s:
            return s.exec(select(Action).where(Action.key == key)).first()

    def get_action(self, action_id: int) -> Action | None:
        with self._read() as s:
            return s.get(Action, action_id)

    def mark_done(self, action_id: int, at: datetime | None = None) -> Action:
        """The action ran; the torrent's ``last_action`` follows."""
        return self._finish(action_id, "done", None, at)

    def mark_failed(self, action_id: int, error: str, at: datetime | None = None) -> Action:
        return self._finish(action_id, "failed", error, at)

    def mark_skipped(self, action_id: int, why: str, at: datetime | None = None) -> Action:
        """The action was not needed after all (e.g. found already done after a crash)."""
        return self._finish(action_id, "skipped", why, at)

    def _finish(
        self, action_id: int, status: str, error: str | None, at: datetime | None
    ) -> Action:
        """Move an intent to ``status``; a row already finished is returned unchanged, so
        resolving the same intent twice cannot flip its outcome."""
        at = to_utc(at) if at is not None else utcnow()
        with self._write() as s:
            row = s.get(Action, action_id)
            if row is None:
                raise NotFound(f"no action {action_id}")
            if row.status != "intent":
                return row
            row.status, row.error, row.finished_at = status, error, at
            if status == "done" and row.hash is not None:
                self._touch(row.instance, (row.hash,))
                torrent = s.get(Torrent, (row.instance, row.hash))
                if torrent is not None:
                    torrent.last_action, torrent.last_action_at = row.action, at
            return row

    def pending_intents(self, instance: str) -> list[Action]:
        """Intents never finished (a crash between journal and outcome), oldest first."""
        query = (
            select(Action)
            .where(Action.instance == instance, Action.status == "intent")
            .order_by(col(Action.id))
        )
        with self._read() as s:
            return list(s.exec(query))

    def list_actions(
        self,
        instance: str | None = None,
        hash: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Action], int]:
        """A page of the audit trail, newest first, and the total."""
        query = select(Action)
        if instance is not None:
            query = query.where(Action.instance == instance)
        if hash is not None:
            query = query.where(Action.hash == hash.lower())
        if status is not None:
            query = query.where(Action.status == status)
        with self._read() as s:
            return self._page(s, query, (col(Action.id).desc(),), limit, offset)

    def unpublished_actions(self, instance: str | None = None, limit: int = 100) -> list[Action]:
        """Finished actions whose MQTT event has not gone out, oldest first."""
        query = select(Action).where(
            col(Action.published).is_(False), col(Action.status).in_(FINISHED)
        )
        if instance is not None:
            query = query.where(Action.instance == instance)
        with self._read() as s:
            return list(s.exec(query.order_by(col(Action.id)).limit(limit)))

    def mark_published(self, ids: Iterable[int]) -> int:
        changed = 0
        with self._write() as s:
            for part in chunks(sorted(set(ids))):
                result = s.exec(
                    update(Action).where(col(Action.id).in_(part)).values(published=True)
                )
                changed += result.rowcount
        return changed

    def actions_after(self, after_id: int, limit: int = 200) -> list[Action]:
        """Actions with an id above ``after_id``, oldest first (the SSE stream's cursor)."""
        query = select(Action).where(col(Action.id) > after_id).order_by(col(Action.id))
        with self._read() as s:
            return list(s.exec(query.limit(limit)))

    def last_action_id(self) -> int:
        with self._read() as s:
            return int(s.exec(select(func.max(Action.id))).one() or 0)

    # --- searches ------------------------------------------------------------------------

    def record_search(
        self,
        instance: str,
        media_id: int | None,
        kind: str,
        arr_command_id: int | None = None,
        status: str = "queued",
        at: datetime | None = None,
    ) -> Search:
        """A search asked of the Arr app (``media_id`` None for a whole-library search)."""
        row = Search(
            instance=instance,
            media_id=media_id,
            kind=kind,
            arr_command_id=arr_command_id,
            status=status,
            created_at=to_utc(at) if at is not None else utcnow(),
        )
        with self._write() as s:
            s.add(row)
        return row

    def update_search(
        self,
        search_id: int,
        status: str | None = None,
        arr_command_id: int | None = None,
        finished_at: datetime | None = None,
    ) -> Search:
        """Follow the Arr command: its id once known, its status, when it ended."""
        with self._write() as s:
            row = s.get(Search, search_id)
            if row is None:
                raise NotFound(f"no search {search_id}")
            if status is not None:
                row.status = status
            if arr_command_id is not None:
                row.arr_command_id = arr_command_id
            if finished_at is not None:
                row.finished_at = to_utc(finished_at)
            return row

    def finish_search(
        self, search_id: int, status: str = "completed", at: datetime | None = None
    ) -> Search:
        return self.update_search(search_id, status=status, finished_at=at or utcnow())

    def last_search_for(self, instance: str, media_id: int) -> Search | None:
        """The newest search for one media item (to space re-searches out)."""
        query = (
            select(Search)
            .where(Search.instance == instance, Search.media_id == media_id)
            .order_by(col(Search.created_at).desc(), col(Search.id).desc())
        )
        with self._read() as s:
            return s.exec(query.limit(1)).first()

    def active_searches(self, instance: str) -> list[Search]:
        """Searches not finished yet, oldest first."""
        query = (
            select(Search)
            .where(Search.instance == instance, col(Search.finished_at).is_(None))
            .order_by(col(Search.id))
        )
        with self._read() as s:
            return list(s.exec(query))

    def list_searches(
        self, instance: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Search], int]:
        query = select(Search)
        if instance is not None:
            query = query.where(Search.instance == instance)
        with self._read() as s:
            return self._page(s, query, (col(Search.id).desc(),), limit, offset)
