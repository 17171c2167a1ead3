"""What both store implementations share, free of SQLAlchemy so a lean process can import it.

:class:`~.store.Store` (sqlmodel, every process that needs queries of its own) and
:class:`~.lean.LeanStore` (plain DB-API, the manager and the event listener, which must fit in
a few tens of MB) read and write the same tables. The clock, the JSON encoding, the errors,
the chunk size and the schema version they agree on live here; ``import sqlalchemy`` alone
costs ~28 MB of RSS, so nothing in this module may import it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

#: The schema version this code writes (``meta.schema_version``; steps in ``migrations.py``).
SCHEMA_VERSION = 4
VERSION_KEY = "schema_version"
#: At most this many values in one ``IN (...)`` (SQLite limits bound parameters).
CHUNK = 500
MAX_PAGE = 10_000
#: Most MQTT messages one program keeps waiting for the broker (oldest dropped first).
OUTBOX_LIMIT = 10_000


class NotFound(LookupError):
    """The row a call names does not exist."""


class StorageFull(RuntimeError):
    """A write failed because the disk holding the database is full. Nothing was written
    (the transaction rolled back); the same call succeeds once space is freed."""


class SchemaError(RuntimeError):
    """The database is not one this code can open (foreign tables, no version row, ...)."""


class SchemaTooNew(SchemaError):
    """The database was written by a newer qbitrr-mqtt than this one."""


class NaiveDatetimeError(ValueError):
    """A naive datetime reached the store; every timestamp must carry a timezone."""


#: How SQLite ("database or disk is full", SQLITE_FULL) and PostgreSQL (SQLSTATE 53100
#: disk_full: "could not extend file ... No space left on device") say the disk is full.
_FULL_MARKERS = ("database or disk is full", "no space left on device", "could not extend file")


def is_disk_full(exc: BaseException) -> bool:
    """Whether a database error (SQLAlchemy's wrapper or the driver's own) means the disk is
    full."""
    orig = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) == "53100":
        return True
    return any(marker in str(orig).lower() for marker in _FULL_MARKERS)


def full_message(where: str) -> str:
    return (
        f"cannot write to the database: the disk holding {where} is full; "
        "nothing was lost, writes resume once space is freed"
    )


def too_new_message(version: int, target: int) -> str:
    return (
        f"the database is at schema version {version}, newer than this qbitrr-mqtt "
        f"understands (up to {target}); upgrade qbitrr-mqtt, or point database.url at "
        "another database"
    )


class TouchedRows:
    """Which torrent rows this store object wrote, by instance (both stores' base class).

    The manager keeps its torrent rows in memory and re-reads only the ones written
    (``track_torrent_writes`` once, then ``take_touched`` every cycle); every write path of
    either store calls ``_touch`` with the hashes it wrote. Only a process that asked pays.
    """

    def __init__(self) -> None:
        self._touched: dict[str, set[str]] = {}  # instance -> torrent hashes written

    def track_torrent_writes(self, instance: str) -> None:
        """Remember the hashes of ``instance`` whose torrent row this store object writes
        (any method: upserts, strikes, gone marks, an action's ``last_action``), until
        :meth:`take_touched` hands them over."""
        self._touched.setdefault(instance, set())

    def take_touched(self, instance: str) -> set[str]:
        """The hashes written since the last call (tracking must be on for ``instance``)."""
        touched = self._touched.get(instance)
        if touched is None:
            raise RuntimeError(f"torrent writes of {instance!r} are not tracked")
        self._touched[instance] = set()
        return touched

    def _touch(self, instance: str, hashes: Iterable[str]) -> None:
        touched = self._touched.get(instance)
        if touched is not None:
            touched.update(hashes)


class ScopedOutbox:
    """One program's view of the shared outbox (the ``OutboxStore`` protocol of mqtt), on
    either store: each program sends and trims only the messages it queued (``owner``)."""

    def __init__(self, store: Any, owner: str) -> None:
        self.store = store
        self.owner = owner

    def outbox_put(self, topic: str, payload: str, retain: bool) -> int:
        return int(self.store.outbox_put(topic, payload, retain, owner=self.owner))

    def outbox_take(self, limit: int) -> list[Any]:
        return list(self.store.outbox_take(limit, owner=self.owner))

    def outbox_delete(self, ids: Iterable[int]) -> int:
        return int(self.store.outbox_delete(ids))

    @property
    def dropped(self) -> int:
        """This owner's messages the store dropped past its limit (since this process began)."""
        return int(self.store.outbox_dropped.get(self.owner, 0))

    def __repr__(self) -> str:
        return f"ScopedOutbox({self.owner!r})"


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the store's only clock)."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """``value`` converted to UTC; NaiveDatetimeError when it has no timezone."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"naive datetime {value.isoformat()} given to the store: pass an aware datetime "
            "(datetime.now(UTC), or .replace(tzinfo=UTC) when the value is known to be UTC)"
        )
    return value.astimezone(UTC)


def utc_from_db(value: Any) -> datetime | None:
    """A timestamp as a driver returns it, as an aware UTC datetime: SQLite gives naive UTC
    text (or a naive datetime), PostgreSQL an aware datetime in the session's zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value if value.tzinfo is UTC else value.astimezone(UTC)  # type: ignore[no-any-return]


def dump_json(value: Any) -> str | None:
    """JSON text for a JSON-text column (compact, keys sorted so equal values compare equal)."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def load_json(text: str | None) -> Any:
    """The value of a JSON-text column, or None when empty."""
    if not text:
        return None
    return json.loads(text)


def chunks[T](items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def clean(fields: dict[str, Any], allowed: Iterable[str], what: str) -> dict[str, Any]:
    """``fields`` checked against ``allowed`` column names, datetimes made UTC (naive ones
    refused here, with a clear error, rather than deep inside a write)."""
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}")
    return {k: to_utc(v) if isinstance(v, datetime) else v for k, v in fields.items()}
