"""Lean twin of ``store/journal.py``: the action journal and the search history.

The same contract as :class:`~qbitrr_mqtt.store.journal.JournalMixin` (read its docstring
for the why of intents and keys): recording a key seen before returns the first row
unchanged, finishing a row already finished returns it unchanged, and ``done`` moves the
torrent's ``last_action`` (and marks the hash touched for the manager's row cache).

Where the ORM reads a row and then writes it, this module writes with a guard and
``RETURNING`` instead (``UPDATE ... WHERE status = 'intent' RETURNING ...``), one round trip
in the usual case and no window in which two processes could both finish one intent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from ..common import NotFound, chunks, to_utc, utcnow
from .base import LeanBase
from .db import Tx, in_params
from .tables import ACTION, SEARCH, ActionRow, SearchRow

FINISHED = ("done", "failed", "skipped")

_ACTION_BY_KEY = ACTION.select('"key" = :key')
_ACTION_BY_ID = ACTION.select("id = :id")
_SEARCH_BY_ID = SEARCH.select("id = :id")


class JournalPart(LeanBase):
    # --- actions -------------------------------------------------------------------------

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
    ) -> ActionRow:
        """Journal an action before running it; with a ``key`` seen before, the earlier row
        is returned unchanged (check its ``status``: it may already be done).

        The key is looked up before the insert, as the ORM does, so a repeated key costs
        no id (PostgreSQL draws the sequence even for an ``ON CONFLICT DO NOTHING`` that
        inserts nothing) and both stores number the same calls alike. The conflict clause
        covers a process that records the same key between the look-up and the insert."""
        key = key or uuid.uuid4().hex
        params = {
            "instance": instance,
            "hash": hash.lower() if hash else None,
            "name": name,
            "action": action,
            "reason": reason,
            "media_id": media_id,
            "dry_run": dry_run,
            "key": key,
            "created_at": to_utc(at) if at is not None else utcnow(),
        }
        with self.db.write() as tx:
            found = tx.row(_ACTION_BY_KEY, {"key": key})
            if found is None:
                found = tx.row(
                    'INSERT INTO action (instance, hash, "name", "action", reason, media_id, "status",'
                    ' dry_run, "key", created_at, published) VALUES (:instance, :hash, :name,'
                    " :action, :reason, :media_id, 'intent', :dry_run, :key, :created_at,"
                    f' :published) ON CONFLICT ("key") DO NOTHING RETURNING {ACTION.columns}',
                    {**params, "published": False},
                )
            if found is None:  # recorded by another process after our look-up
                found = tx.row(_ACTION_BY_KEY, {"key": key})
            if found is None:
                raise RuntimeError(f"action key {key!r} conflicted but no row holds it")
        return ACTION.decode(found)

    def action_by_key(self, key: str) -> ActionRow | None:
        with self.db.read() as tx:
            found = tx.row(_ACTION_BY_KEY, {"key": key})
        return None if found is None else ACTION.decode(found)

    def get_action(self, action_id: int) -> ActionRow | None:
        with self.db.read() as tx:
            found = tx.row(_ACTION_BY_ID, {"id": action_id})
        return None if found is None else ACTION.decode(found)

    def mark_done(self, action_id: int, at: datetime | None = None) -> ActionRow:
        """The action ran; the torrent's ``last_action`` follows."""
        return self._finish(action_id, "done", None, at)

    def mark_failed(self, action_id: int, error: str, at: datetime | None = None) -> ActionRow:
        return self._finish(action_id, "failed", error, at)

    def mark_skipped(self, action_id: int, why: str, at: datetime | None = None) -> ActionRow:
        """The action was not needed after all (e.g. found already done after a crash)."""
        return self._finish(action_id, "skipped", why, at)

    def _finish(
        self, action_id: int, status: str, error: str | None, at: datetime | None
    ) -> ActionRow:
        """Move an intent to ``status``; a row already finished is returned unchanged, so
        resolving the same intent twice cannot flip its outcome (the ``status = 'intent'``
        guard holds across processes too)."""
        at = to_utc(at) if at is not None else utcnow()
        with self.db.write() as tx:
            found = tx.row(
                'UPDATE action SET "status" = :status, error = :error, finished_at = :at'
                f" WHERE id = :id AND \"status\" = 'intent' RETURNING {ACTION.columns}",
                {"status": status, "error": error, "at": at, "id": action_id},
            )
            if found is None:
                found = tx.row(_ACTION_BY_ID, {"id": action_id})
                if found is None:
                    raise NotFound(f"no action {action_id}")
                return ACTION.decode(found)
            row = ACTION.decode(found)
            if status == "done" and row.hash is not None:
                self._touch(row.instance, (row.hash,))
                _set_last_action(tx, row, at)
        return row

    def pending_intents(self, instance: str) -> list[ActionRow]:
        """Intents never finished (a crash between journal and outcome), oldest first."""
        sql = ACTION.select("instance = :instance AND \"status\" = 'intent'", "ORDER BY id")
        with self.db.read() as tx:
            return [ACTION.decode(r) for r in tx.rows(sql, {"instance": instance})]

    def unpublished_actions(self, instance: str | None = None, limit: int = 100) -> list[ActionRow]:
        """Finished actions whose MQTT event has not gone out, oldest first."""
        where = "published = :published AND \"status\" IN ('done', 'failed', 'skipped')"
        params: dict[str, object] = {"published": False, "limit": limit}
        if instance is not None:
            where += " AND instance = :instance"
            params["instance"] = instance
        with self.db.read() as tx:
            return [
                ACTION.decode(r)
                for r in tx.rows(ACTION.select(where, "ORDER BY id LIMIT :limit"), params)
            ]

    def mark_published(self, ids: Iterable[int]) -> int:
        changed = 0
        with self.db.write() as tx:
            for part in chunks(sorted(set(ids))):
                names, params = in_params("i", part)
                cursor = tx.execute(
                    f"UPDATE action SET published = :published WHERE id IN ({names})",
                    {**params, "published": True},
                )
                changed += cursor.rowcount
        return changed

    def last_action_id(self) -> int:
        """The newest action's id, 0 when there is none (a cursor: ids only grow)."""
        with self.db.read() as tx:
            return int(tx.scalar("SELECT max(id) FROM action") or 0)

    # --- searches ------------------------------------------------------------------------

    def record_search(
        self,
        instance: str,
        media_id: int | None,
        kind: str,
        arr_command_id: int | None = None,
        status: str = "queued",
        at: datetime | None = None,
    ) -> SearchRow:
        """A search asked of the Arr app (``media_id`` None for a whole-library search)."""
        params = {
            "instance": instance,
            "media_id": media_id,
            "kind": kind,
            "arr_command_id": arr_command_id,
            "status": status,
            "created_at": to_utc(at) if at is not None else utcnow(),
        }
        with self.db.write() as tx:
            found = tx.row(
                'INSERT INTO search (instance, media_id, kind, arr_command_id, "status",'
                " created_at) VALUES (:instance, :media_id, :kind, :arr_command_id, :status,"
                f" :created_at) RETURNING {SEARCH.columns}",
                params,
            )
        assert found is not None  # an INSERT ... RETURNING always returns its row
        return SEARCH.decode(found)

    def update_search(
        self,
        search_id: int,
        status: str | None = None,
        arr_command_id: int | None = None,
        finished_at: datetime | None = None,
    ) -> SearchRow:
        """Follow the Arr command: its id once known, its status, when it ended (None
        leaves a field as it is)."""
        changes = {
            "status": status,
            "arr_command_id": arr_command_id,
            "finished_at": to_utc(finished_at) if finished_at is not None else None,
        }
        sets = [f'"{name}" = :{name}' for name, value in changes.items() if value is not None]
        params = {name: value for name, value in changes.items() if value is not None}
        with self.db.write() as tx:
            if sets:
                found = tx.row(
                    f"UPDATE search SET {', '.join(sets)} WHERE id = :id"
                    f" RETURNING {SEARCH.columns}",
                    {**params, "id": search_id},
                )
            else:
                found = tx.row(_SEARCH_BY_ID, {"id": search_id})
        if found is None:
            raise NotFound(f"no search {search_id}")
        return SEARCH.decode(found)

    def finish_search(
        self, search_id: int, status: str = "completed", at: datetime | None = None
    ) -> SearchRow:
        return self.update_search(search_id, status=status, finished_at=at or utcnow())

    def last_search_for(self, instance: str, media_id: int) -> SearchRow | None:
        """The newest search for one media item (to space re-searches out)."""
        sql = SEARCH.select(
            "instance = :instance AND media_id = :media_id",
            "ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        with self.db.read() as tx:
            found = tx.row(sql, {"instance": instance, "media_id": media_id})
        return None if found is None else SEARCH.decode(found)

    def active_searches(self, instance: str) -> list[SearchRow]:
        """Searches not finished yet, oldest first."""
        sql = SEARCH.select("instance = :instance AND finished_at IS NULL", "ORDER BY id")
        with self.db.read() as tx:
            return [SEARCH.decode(r) for r in tx.rows(sql, {"instance": instance})]


def _set_last_action(tx: Tx, row: ActionRow, at: datetime) -> None:
    """The torrent row (when there is one) remembers its newest finished action."""
    tx.execute(
        "UPDATE torrent SET last_action = :action, last_action_at = :at"
        " WHERE instance = :instance AND hash = :hash",
        {"action": row.action, "at": at, "instance": row.instance, "hash": row.hash},
    )
