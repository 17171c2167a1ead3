"""Process health records: what each supervisord program is doing and how it has fared.

The ``events`` listener feeds every PROCESS_STATE event here and, every few seconds, the
full ``getAllProcessInfo`` list (a resync catches anything an event did not say: a listener
restart, a program added by ``reread_update``). Each change is written to the sinks:

* the store (``ProcessEvent`` rows and one ``ProcessHealth`` row per program), which the
  bridge publishes as ``<base>/<instance>/process`` and the WebUI shows;
* ``<data_dir>/supervisor/health.json``, a small local snapshot rewritten atomically, which
  ``qbitrr-mqtt status`` reads without needing the database.

``restart_count`` counts starts that follow an exit (supervisord's BACKOFF retries and the
listener's restarts alike, and a manual start of an exited program); a manual restart of a
running program (STOPPED -> STARTING) is not counted. ``restart_limit_reached`` is set by
the restart window or by supervisord's FATAL and cleared by a manual start.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("qbitrr.events")

#: States after which a new STARTING counts as a restart.
_EXITED_STATES = frozenset({"EXITED", "BACKOFF", "FATAL"})


@dataclass(frozen=True, slots=True)
class ProcessEventRecord:
    """One state change (the store's ``ProcessEvent`` columns)."""

    name: str
    from_state: str | None
    to_state: str
    pid: int | None
    expected: bool | None
    detail: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ProcessHealthRecord:
    """The health of one program (the store's ``ProcessHealth`` columns)."""

    name: str
    state: str = "UNKNOWN"
    pid: int | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    last_exit: str | None = None
    last_restart: datetime | None = None
    restart_limit_reached: bool = False
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessHealthRecord:
        values = dict(data)
        for key in ("started_at", "last_restart", "updated_at"):
            if isinstance(values.get(key), str):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


class HealthSink(Protocol):
    """Where health goes: the store adapter, the JSON snapshot, or a test's list."""

    def write_event(self, event: ProcessEventRecord) -> None: ...

    def write_health(self, health: ProcessHealthRecord) -> None: ...


class StoreSink:
    """Writes to the store (``record_process_event`` / ``upsert_process_health`` of
    ``LeanStore`` in the listener, or ``Store``)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def write_event(self, event: ProcessEventRecord) -> None:
        self.store.record_process_event(
            event.name,
            event.from_state,
            event.to_state,
            pid=event.pid,
            expected=event.expected,
            detail=event.detail,
            at=event.at,
        )

    def write_health(self, health: ProcessHealthRecord) -> None:
        fields = asdict(health)
        name = fields.pop("name")
        self.store.upsert_process_health(name, **fields)

    def __repr__(self) -> str:
        return "the store"


def open_store_sink(config: Any) -> StoreSink:
    """The lean store of ``config.database.url`` (the listener runs all day and needs only
    two writes: SQLAlchemy would cost it ~28 MB and sqlmodel ~16 MB more); ImportError in a
    build without the store."""
    from ..store.lean import LeanStore

    return StoreSink(LeanStore.open(config.database.url))


class JsonHealthFile:
    """``health.json``: every program's latest record, replaced atomically on each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, dict[str, Any]] = {}

    def write_event(self, event: ProcessEventRecord) -> None:
        """Events are not kept here (the store holds the history)."""

    def write_health(self, health: ProcessHealthRecord) -> None:
        self._records[health.name] = health.as_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".health-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"processes": self._records}, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def read_health_file(path: Path) -> dict[str, ProcessHealthRecord]:
    """The snapshot written by :class:`JsonHealthFile` ({} when there is none yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {
        name: ProcessHealthRecord.from_json(rec) for name, rec in data.get("processes", {}).items()
    }


def health_file(data_dir: Path | str) -> Path:
    return Path(data_dir) / "supervisor" / "health.json"


class HealthTracker:
    """The health of every program, kept from events and resyncs, written to the sinks."""

    def __init__(self, sinks: Iterable[HealthSink] = ()) -> None:
        self.sinks = list(sinks)
        self.records: dict[str, ProcessHealthRecord] = {}

    def get(self, name: str) -> ProcessHealthRecord:
        return self.records.get(name) or ProcessHealthRecord(name=name)

    def _write(self, record: ProcessHealthRecord) -> ProcessHealthRecord:
        self.records[record.name] = record
        for sink in self.sinks:
            try:
                sink.write_health(record)
            except Exception:  # a database outage must not stop the listener
                log.exception("could not record the health of %s in %r", record.name, sink)
        return record

    def _event(self, event: ProcessEventRecord) -> None:
        for sink in self.sinks:
            try:
                sink.write_event(event)
            except Exception:
                log.exception("could not record a process event of %s in %r", event.name, sink)

    def on_event(
        self,
        name: str,
        *,
        from_state: str | None,
        to_state: str,
        pid: int | None,
        expected: bool | None,
        at: datetime,
        detail: str | None = None,
    ) -> ProcessHealthRecord:
        """Apply one PROCESS_STATE event."""
        self._event(ProcessEventRecord(name, from_state, to_state, pid, expected, detail, at))
        old = self.get(name)
        new = replace(old, state=to_state, updated_at=at)
        if to_state == "STARTING":
            new = replace(new, pid=None, started_at=None)
            if from_state in _EXITED_STATES:
                new = replace(new, restart_count=old.restart_count + 1, last_restart=at)
        elif to_state == "RUNNING":
            new = replace(new, pid=pid, started_at=at)
        elif to_state in ("EXITED", "BACKOFF", "FATAL", "STOPPED"):
            new = replace(new, pid=None, started_at=None)
            if to_state != "STOPPED" and detail:
                new = replace(new, last_exit=detail)
        elif to_state == "STOPPING" and pid:
            new = replace(new, pid=pid)
        return self._write(new)

    def set_limit(self, name: str, reached: bool, at: datetime, reason: str | None = None) -> None:
        """The restart window (or FATAL) gave up, or a manual start cleared it.

        Giving up is also written as an event (``detail`` = the reason) so the history and
        the live event stream show it, and the reason is appended to ``last_exit``.
        """
        old = self.get(name)
        if old.restart_limit_reached == reached and not reason:
            return
        new = replace(old, restart_limit_reached=reached, updated_at=at)
        if reached and reason:
            self._event(ProcessEventRecord(name, old.state, old.state, None, None, reason, at))
            exit_detail = old.last_exit.split("; ")[0] if old.last_exit else None
            new = replace(new, last_exit=f"{exit_detail}; {reason}" if exit_detail else reason)
        self._write(new)

    def resync(self, infos: Iterable[Any], at: datetime) -> list[ProcessHealthRecord]:
        """Reconcile with ``rpc.status()``; returns the records that changed."""
        changed = []
        for info in infos:
            old = self.get(info.full_name)
            running = info.statename == "RUNNING"
            started = datetime.fromtimestamp(info.start, UTC) if running and info.start else None
            new = replace(
                old,
                state=info.statename,
                pid=info.pid or None,
                started_at=started,
                restart_limit_reached=old.restart_limit_reached or info.statename == "FATAL",
            )
            if info.statename == "FATAL" and not old.last_exit:
                new = replace(new, last_exit=info.spawnerr or "gave up after startretries")
            if new != old or info.full_name not in self.records:
                changed.append(self._write(replace(new, updated_at=at)))
        return changed
