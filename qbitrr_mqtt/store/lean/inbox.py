"""Lean twin of ``store/inbox.py``: the command inbox a manager claims its commands from.

The same contract as :class:`~qbitrr_mqtt.store.inbox.InboxMixin` (its docstring has the
why): first in, first out by ``seq``; each command claimed by exactly one process; statuses
``pending`` → ``running`` → ``done`` | ``error``.

The claim is the ORM's, statement for statement: pick the oldest pending row (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, so concurrent claimers take different rows instead of queueing
on one lock; on SQLite the ``BEGIN IMMEDIATE`` write transaction already lets one claimer in
at a time) and move it with ``UPDATE ... WHERE status = 'pending'``; a claimer that lost
the race changes no row and tries again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..common import NotFound, dump_json, to_utc, utcnow
from .base import LeanBase
from .db import in_params
from .tables import COMMAND, CommandRow

FINISHED = ("done", "error")

_BY_ID = COMMAND.select("id = :id")


def _kinds_filter(kinds: Iterable[str] | None) -> tuple[str, dict[str, Any]] | None:
    """``(" AND command IN (...)", params)``, ``("", {})`` without ``kinds``, or None when
    ``kinds`` is empty (nothing can match; SQL has no empty ``IN ()``)."""
    if kinds is None:
        return "", {}
    wanted = list(kinds)
    if not wanted:
        return None
    names, params = in_params("k", wanted)
    return f" AND command IN ({names})", params


class InboxPart(LeanBase):
    def enqueue_command(
        self,
        command: str,
        instance: str,
        payload: dict[str, Any] | None = None,
        source: str = "cli",
        transaction: str | None = None,
    ) -> CommandRow:
        """Queue a command for ``instance``'s manager; the row's ``id`` is a uuid4 hex."""
        params = {
            "id": uuid.uuid4().hex,
            "command": command,
            "instance": instance,
            "payload": dump_json(payload or {}) or "{}",
            "source": source,
            "transaction": transaction,
            "created_at": utcnow(),
        }
        with self.db.write() as tx:
            found = tx.row(
                'INSERT INTO command (id, command, instance, payload, source, "transaction",'
                ' "status", created_at) VALUES (:id, :command, :instance, :payload, :source,'
                f" :transaction, 'pending', :created_at) RETURNING {COMMAND.columns}",
                params,
            )
        assert found is not None  # an INSERT ... RETURNING always returns its row
        return COMMAND.decode(found)

    def has_pending_command(self, instance: str, kinds: Iterable[str] | None = None) -> bool:
        """Whether ``instance`` has a pending command (of ``kinds`` when given): one indexed
        read and no lock, so a manager can ask twice a second without contending with
        writers."""
        extra = _kinds_filter(kinds)
        if extra is None:
            return False
        where, params = extra
        sql = f"SELECT seq FROM command WHERE instance = :instance AND \"status\" = 'pending'{where} LIMIT 1"
        with self.db.read() as tx:
            return tx.row(sql, {**params, "instance": instance}) is not None

    def claim_next_command(
        self, instance: str, kinds: Iterable[str] | None = None
    ) -> CommandRow | None:
        """The oldest pending command of ``instance`` (of ``kinds`` when given), now
        ``running``; None when none."""
        extra = _kinds_filter(kinds)
        if extra is None:
            return None
        where, params = extra
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        pick = (
            "SELECT seq FROM command WHERE instance = :instance AND \"status\" = 'pending'"
            f"{where} ORDER BY seq LIMIT 1{lock}"
        )
        move = (
            "UPDATE command SET \"status\" = 'running', started_at = :started"
            f" WHERE seq = :seq AND \"status\" = 'pending' RETURNING {COMMAND.columns}"
        )
        while True:
            with self.db.write() as tx:
                seq = tx.scalar(pick, {**params, "instance": instance})
                if seq is None:
                    return None
                claimed = tx.row(move, {"seq": seq, "started": utcnow()})
            if claimed is not None:
                return COMMAND.decode(claimed)

    def finish_command(
        self,
        command_id: str,
        result: Any = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> CommandRow:
        """``done`` with ``result`` (any JSON value), or ``error`` when ``error`` is given.
        A command already finished is returned unchanged (the status guard in the UPDATE
        makes that hold when two processes finish one command at once)."""
        params = {
            "id": command_id,
            "status": "error" if error is not None else "done",
            "result": dump_json(result),
            "error": error,
            "at": to_utc(at) if at is not None else utcnow(),
        }
        with self.db.write() as tx:
            found = tx.row(
                'UPDATE command SET "status" = :status, result = :result, error = :error,'
                " finished_at = :at WHERE id = :id AND \"status\" NOT IN ('done', 'error')"
                f" RETURNING {COMMAND.columns}",
                params,
            )
            if found is None:
                found = tx.row(_BY_ID, {"id": command_id})
        if found is None:
            raise NotFound(f"no command {command_id}")
        return COMMAND.decode(found)

    def get_command(self, command_id: str) -> CommandRow | None:
        with self.db.read() as tx:
            found = tx.row(_BY_ID, {"id": command_id})
        return None if found is None else COMMAND.decode(found)

    def wait_command(
        self, command_id: str, timeout: float = 10.0, poll: float = 0.1
    ) -> CommandRow | None:
        """Poll until the command is finished or ``timeout`` passes; returns its latest
        row (check ``status``), None when there is no such command."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.get_command(command_id)
            if row is None or row.status in FINISHED or time.monotonic() >= deadline:
                return row
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def last_done_command(self, instance: str, command: str) -> CommandRow | None:
        """The newest successfully finished ``command`` of ``instance`` (e.g. the last
        dry-run switch), or None."""
        sql = COMMAND.select(
            "instance = :instance AND command = :command AND \"status\" = 'done'",
            "ORDER BY seq DESC LIMIT 1",
        )
        with self.db.read() as tx:
            found = tx.row(sql, {"instance": instance, "command": command})
        return None if found is None else COMMAND.decode(found)

    def abandon_running_commands(
        self, instance: str, error: str = "interrupted: the manager restarted"
    ) -> int:
        """Fail the commands a crashed manager left ``running``; returns how many."""
        with self.db.write() as tx:
            cursor = tx.execute(
                "UPDATE command SET \"status\" = 'error', error = :error, finished_at = :at"
                " WHERE instance = :instance AND \"status\" = 'running'",
                {"error": error, "at": utcnow(), "instance": instance},
            )
            return int(cursor.rowcount)
