"""The command inbox: MQTT, HTTP and CLI write commands here; each manager claims its own.

A command is claimed by exactly one manager process even when several poll at once. The
claim picks the oldest pending row of the instance (``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so concurrent claimers take different rows instead of queueing behind a lock)
and moves it with ``UPDATE ... WHERE status = 'pending'``: a claimer that lost the race
updates no row and tries the next one. On SQLite the write transaction (BEGIN IMMEDIATE)
already serialises claimers; the guard keeps the claim correct on its own.

Statuses: ``pending`` → ``running`` → ``done`` | ``error``. A command left ``running`` by a
crashed manager is failed by :meth:`abandon_running_commands` when the manager starts again
(re-running a half-done ``remove`` blindly is worse than reporting it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from .base import NotFound, StoreBase
from .models import Command
from .types import dump_json, to_utc, utcnow

FINISHED = ("done", "error")


class InboxMixin(StoreBase):
    def enqueue_command(
        self,
        command: str,
        instance: str,
        payload: dict[str, Any] | None = None,
        source: str = "cli",
        transaction: str | None = None,
    ) -> Command:
        """Queue a command for ``instance``'s manager; the row's ``id`` is a uuid4 hex."""
        row = Command(
            id=uuid.uuid4().hex,
            command=command,
            instance=instance,
            payload=dump_json(payload or {}) or "{}",
            source=source,
            transaction=transaction,
            status="pending",
            created_at=utcnow(),
        )
        with self._write() as s:
            s.add(row)
        return row

    def has_pending_command(self, instance: str, kinds: Iterable[str] | None = None) -> bool:
        """Whether ``instance`` has a pending command (of ``kinds`` when given): one indexed
        read and no lock, so a manager can ask twice a second without contending with
        writers."""
        query = (
            select(Command.seq)
            .where(Command.instance == instance, Command.status == "pending")
            .limit(1)
        )
        if kinds is not None:
            query = query.where(col(Command.command).in_(list(kinds)))
        with self._read() as s:
            return s.exec(query).first() is not None

    def claim_next_command(
        self, instance: str, kinds: Iterable[str] | None = None
    ) -> Command | None:
        """The oldest pending command of ``instance`` (of ``kinds`` when given), now
        ``running``; None when none."""
        while True:
            with self._write() as s:
                query = (
                    select(Command)
                    .where(Command.instance == instance, Command.status == "pending")
                    .order_by(col(Command.seq))
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if kinds is not None:
                    query = query.where(col(Command.command).in_(list(kinds)))
                found = s.exec(query).first()
                if found is None:
                    return None
                started = utcnow()
                claimed = s.exec(
                    update(Command)
                    .where(col(Command.seq) == found.seq, col(Command.status) == "pending")
                    .values(status="running", started_at=started)
                ).rowcount
                if claimed == 1:
                    s.refresh(found)
                    return found

    def finish_command(
        self,
        command_id: str,
        result: Any = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> Command:
        """``done`` with ``result`` (any JSON value), or ``error`` when ``error`` is given.
        A command already finished is returned unchanged."""
        with self._write() as s:
            row = s.exec(select(Command).where(Command.id == command_id)).first()
            if row is None:
                raise NotFound(f"no command {command_id}")
            if row.status in FINISHED:
                return row
            row.status = "error" if error is not None else "done"
            row.result = dump_json(result)
            row.error = error
            row.finished_at = to_utc(at) if at is not None else utcnow()
            return row

    def get_command(self, command_id: str) -> Command | None:
        with self._read() as s:
            return s.exec(select(Command).where(Command.id == command_id)).first()

    def wait_command(
        self, command_id: str, timeout: float = 10.0, poll: float = 0.1
    ) -> Command | None:
        """Poll until the command is finished or ``timeout`` passes; returns its latest
        row (check ``status``), None when there is no such command."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.get_command(command_id)
            if row is None or row.status in FINISHED or time.monotonic() >= deadline:
                return row
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def list_commands(
        self,
        instance: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Command], int]:
        """A page of commands, newest first, and the total."""
        query = select(Command)
        if instance is not None:
            query = query.where(Command.instance == instance)
        if status is not None:
            query = query.where(Command.status == status)
        with self._read() as s:
            return self._page(s, query, (col(Command.seq).desc(),), limit, offset)

    def last_done_command(self, instance: str, command: str) -> Command | None:
        """The newest successfully finished ``command`` of ``instance`` (e.g. the last
        dry-run switch), or None."""
        query = (
            select(Command)
            .where(
                Command.instance == instance,
                Command.command == command,
                Command.status == "done",
            )
            .order_by(col(Command.seq).desc())
            .limit(1)
        )
        with self._read() as s:
            return s.exec(query).first()

    def abandon_running_commands(
        self, instance: str, error: str = "interrupted: the manager restarted"
    ) -> int:
        """Fail the commands a crashed manager left ``running``; returns how many."""
        with self._write() as s:
            result = s.exec(
                update(Command)
                .where(col(Command.instance) == instance, col(Command.status) == "running")
                .values(status="error", error=error, finished_at=utcnow())
            )
            return result.rowcount
