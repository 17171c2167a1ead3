"""Process health (written by the bridge) and per-instance state (written by each manager).

``process_event`` is the history of supervisord state changes; ``process_health`` keeps the
latest picture per program, ``instance_state`` the latest cycle per Arr instance. The
WebUI and ``qbitrr-mqtt status`` read both when supervisord or the managers are busy or down.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from .base import StoreBase, clean
from .models import InstanceState, Meta, ProcessEvent, ProcessHealth
from .types import dump_json, to_utc, utcnow

HEALTH_FIELDS = frozenset(ProcessHealth.model_fields) - {"name"}
STATE_FIELDS = frozenset(InstanceState.model_fields) - {"instance"}


class HealthMixin(StoreBase):
    def record_process_event(
        self,
        name: str,
        from_state: str | None,
        to_state: str,
        pid: int | None = None,
        expected: bool | None = None,
        detail: str | None = None,
        at: datetime | None = None,
    ) -> ProcessEvent:
        row = ProcessEvent(
            name=name,
            from_state=from_state,
            to_state=to_state,
            pid=pid,
            expected=expected,
            detail=detail,
            at=to_utc(at) if at is not None else utcnow(),
        )
        with self._write() as s:
            s.add(row)
        return row

    def list_process_events(
        self, name: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[ProcessEvent], int]:
        """A page of process events, newest first, and the total."""
        query = select(ProcessEvent)
        if name is not None:
            query = query.where(ProcessEvent.name == name)
        with self._read() as s:
            return self._page(s, query, (col(ProcessEvent.id).desc(),), limit, offset)

    def process_events_after(self, after_id: int, limit: int = 200) -> list[ProcessEvent]:
        """Events with an id above ``after_id``, oldest first (the SSE stream's cursor)."""
        query = (
            select(ProcessEvent)
            .where(col(ProcessEvent.id) > after_id)
            .order_by(col(ProcessEvent.id))
        )
        with self._read() as s:
            return list(s.exec(query.limit(limit)))

    def last_process_event_id(self) -> int:
        with self._read() as s:
            return int(s.exec(select(func.max(ProcessEvent.id))).one() or 0)

    def upsert_process_health(self, name: str, **fields: Any) -> ProcessHealth:
        """Set the given ProcessHealth fields of program ``name`` (others keep their value);
        ``updated_at`` defaults to now. ``last_exit`` is stored as text."""
        fields = clean(fields, HEALTH_FIELDS, "upsert_process_health")
        if fields.get("last_exit") is not None:
            fields["last_exit"] = str(fields["last_exit"])
        fields.setdefault("updated_at", utcnow())
        with self._write() as s:
            row = s.get(ProcessHealth, name)
            if row is None:
                row = ProcessHealth(name=name)
                s.add(row)
            for key, value in fields.items():
                setattr(row, key, value)
            return row

    def get_process_health(self, name: str) -> ProcessHealth | None:
        with self._read() as s:
            return s.get(ProcessHealth, name)

    def list_process_health(self) -> list[ProcessHealth]:
        with self._read() as s:
            return list(s.exec(select(ProcessHealth).order_by(col(ProcessHealth.name))))

    def upsert_instance_state(self, instance: str, **fields: Any) -> InstanceState:
        """Set the given InstanceState fields (``counts`` as a dict); ``heartbeat_at``
        defaults to now, so every call is also a sign of life."""
        fields = clean(fields, STATE_FIELDS, "upsert_instance_state")
        if "counts" in fields and not isinstance(fields["counts"], str):
            fields["counts"] = dump_json(fields["counts"] or {})
        fields.setdefault("heartbeat_at", utcnow())
        with self._write() as s:
            row = s.get(InstanceState, instance)
            if row is None:
                row = InstanceState(instance=instance)
                s.add(row)
            for key, value in fields.items():
                setattr(row, key, value)
            return row

    def get_instance_state(self, instance: str) -> InstanceState | None:
        with self._read() as s:
            return s.get(InstanceState, instance)

    def list_instance_states(self) -> list[InstanceState]:
        with self._read() as s:
            return list(s.exec(select(InstanceState).order_by(col(InstanceState.instance))))

    def put_meta(self, key: str, value: str) -> None:
        """Set ``meta[key]`` (the metrics snapshots; ``schema_version`` belongs to the
        migrations)."""
        with self._write() as s:
            row = s.get(Meta, key)
            if row is None:
                s.add(Meta(key=key, value=value))
            else:
                row.value = value
