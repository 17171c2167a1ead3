"""Lean twin of ``store/health.py``: process health (the event listener writes it), each
manager's instance state, and ``meta`` values (the metrics snapshots).

The same contract as :class:`~qbitrr_mqtt.store.health.HealthMixin`: an upsert sets only the
fields given and returns the whole row; ``updated_at`` / ``heartbeat_at`` default to now, so
every call is also a sign of life. Each upsert is one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` (SQLite 3.35+ and PostgreSQL both have it): the listener writes on every state
change, and a read-then-write would double its statements.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..common import clean, dump_json, to_utc, utcnow
from .base import LeanBase
from .db import Tx
from .tables import (
    INSTANCE_STATE,
    PROCESS_EVENT,
    PROCESS_HEALTH,
    InstanceStateRow,
    ProcessEventRow,
    ProcessHealthRow,
    Table,
)

HEALTH_FIELDS = frozenset(PROCESS_HEALTH.names) - {"name"}
STATE_FIELDS = frozenset(INSTANCE_STATE.names) - {"instance"}
#: ``models.ProcessHealth`` / ``models.InstanceState`` defaults for a new row (the database
#: has no server defaults; the test compares these with the models).
HEALTH_DEFAULTS: dict[str, Any] = {
    "state": "UNKNOWN",
    "pid": None,
    "started_at": None,
    "restart_count": 0,
    "last_exit": None,
    "last_restart": None,
    "restart_limit_reached": False,
}
STATE_DEFAULTS: dict[str, Any] = {
    "qbit_connected": False,
    "arr_connected": False,
    "counts": "{}",
    "queue_size": 0,
    "dry_run": False,
    "last_cycle_at": None,
    "last_cycle_duration": None,
    "heartbeat_at": None,
    "error": None,
}


class HealthPart(LeanBase):
    def record_process_event(
        self,
        name: str,
        from_state: str | None,
        to_state: str,
        pid: int | None = None,
        expected: bool | None = None,
        detail: str | None = None,
        at: datetime | None = None,
    ) -> ProcessEventRow:
        values: dict[str, Any] = {
            "name": name,
            "from_state": from_state,
            "to_state": to_state,
            "pid": pid,
            "expected": expected,
            "detail": detail,
            "at": to_utc(at) if at is not None else utcnow(),
        }
        names = [n for n in PROCESS_EVENT.names if n != "id"]
        with self.db.write() as tx:
            new_id = tx.scalar(
                f"INSERT INTO process_event ({', '.join(names)}) "
                f"VALUES ({', '.join(':' + n for n in names)}) RETURNING id",
                values,
            )
        return ProcessEventRow(id=int(new_id), **values)

    def upsert_process_health(self, name: str, **fields: Any) -> ProcessHealthRow:
        """Set the given process-health fields of program ``name`` (others keep their
        value); ``updated_at`` defaults to now. ``last_exit`` is stored as text."""
        fields = clean(fields, HEALTH_FIELDS, "upsert_process_health")
        if fields.get("last_exit") is not None:
            fields["last_exit"] = str(fields["last_exit"])
        fields.setdefault("updated_at", utcnow())
        with self.db.write() as tx:
            return _upsert(tx, PROCESS_HEALTH, {"name": name}, HEALTH_DEFAULTS, fields)

    def get_process_health(self, name: str) -> ProcessHealthRow | None:
        with self.db.read() as tx:
            found = tx.row(PROCESS_HEALTH.select("name = :name"), {"name": name})
        return None if found is None else PROCESS_HEALTH.decode(found)

    def list_process_health(self) -> list[ProcessHealthRow]:
        with self.db.read() as tx:
            return [
                PROCESS_HEALTH.decode(r)
                for r in tx.rows(PROCESS_HEALTH.select("", "ORDER BY name"))
            ]

    def upsert_instance_state(self, instance: str, **fields: Any) -> InstanceStateRow:
        """Set the given instance-state fields (``counts`` as a dict); ``heartbeat_at``
        defaults to now, so every call is also a sign of life."""
        fields = clean(fields, STATE_FIELDS, "upsert_instance_state")
        if "counts" in fields and not isinstance(fields["counts"], str):
            fields["counts"] = dump_json(fields["counts"] or {})
        fields.setdefault("heartbeat_at", utcnow())
        with self.db.write() as tx:
            return _upsert(tx, INSTANCE_STATE, {"instance": instance}, STATE_DEFAULTS, fields)

    def get_instance_state(self, instance: str) -> InstanceStateRow | None:
        with self.db.read() as tx:
            found = tx.row(INSTANCE_STATE.select("instance = :instance"), {"instance": instance})
        return None if found is None else INSTANCE_STATE.decode(found)

    def list_instance_states(self) -> list[InstanceStateRow]:
        with self.db.read() as tx:
            found = tx.rows(INSTANCE_STATE.select("", "ORDER BY instance"))
        return [INSTANCE_STATE.decode(r) for r in found]

    def put_meta(self, key: str, value: str) -> None:
        """Set ``meta[key]`` (the metrics snapshots; ``schema_version`` belongs to the
        migrations)."""
        with self.db.write() as tx:
            tx.execute(
                'INSERT INTO meta ("key", value) VALUES (:key, :value) '
                'ON CONFLICT ("key") DO UPDATE SET value = excluded.value',
                {"key": key, "value": value},
            )


def _upsert[R](
    tx: Tx, table: Table[R], key: dict[str, Any], defaults: dict[str, Any], fields: dict[str, Any]
) -> R:
    """Insert the row ``key`` with ``defaults`` and ``fields``, or set only ``fields`` on the
    existing one; the whole row as it now is."""
    values = {**defaults, **fields, **key}
    names = [n for n in table.names if n in values]
    (pk,) = key
    assignments = ", ".join(f'"{n}" = excluded."{n}"' for n in fields)
    found = tx.row(
        f"INSERT INTO {table.name} ({', '.join(f'"{n}"' for n in names)}) "
        f"VALUES ({', '.join(':' + n for n in names)}) "
        f'ON CONFLICT ("{pk}") DO UPDATE SET {assignments} RETURNING {table.columns}',
        values,
    )
    if found is None:
        raise AssertionError(f"INSERT ... RETURNING into {table.name} returned no row")
    return table.decode(found)
