"""The store's rows as the lean store returns them: slotted dataclasses, one per table.

Field names, order and kinds mirror ``store/models.py``
(``tests/integration/test_store_lean_tables.py`` compares them with the SQLModel metadata,
so the two cannot drift).
A row's attributes read like the SQLModel object's, so code written against either works
with both. Only the decoding differs from SQLAlchemy's: on SQLite a datetime comes back as
text and a boolean as 0/1, and :meth:`Table.decode` turns them into aware UTC datetimes and
bools as ``UTCDateTime`` and ``Boolean`` do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ..common import load_json, utc_from_db


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


#: Distinct strings a table's shared columns remember at most (then they start again).
SHARED_MAX = 4096


class _Shared:
    """One string object per distinct value of a column with few values (a torrent's
    instance, state, health, category, tracker): the manager keeps 10,000 rows in memory,
    and a copy of each such string per row was ~3 MB of its budget."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        known = self.known.get(value)
        if known is None:
            if len(self.known) >= SHARED_MAX:
                self.known.clear()
            known = self.known[value] = value
        return known


class Table[R]:
    """A table's name, its columns (quoted for SQL) and how to turn a result row into ``R``."""

    def __init__(self, name: str, record: type[R], shared: tuple[str, ...] = ()) -> None:
        self.name = name
        self.record = record
        self.names = tuple(f.name for f in fields(record))  # type: ignore[arg-type]
        self.columns = ", ".join(f'"{n}"' for n in self.names)
        converters: list[Callable[[Any], Any] | None] = []
        for f in fields(record):  # type: ignore[arg-type]
            kind = str(f.type)
            if f.name in shared:
                converters.append(_Shared())
            else:
                converters.append(
                    utc_from_db if "datetime" in kind else _bool if "bool" in kind else None
                )
        self._converters = tuple(converters)
        self._plain = all(c is None for c in converters)

    def decode(self, row: Sequence[Any]) -> R:
        if self._plain:
            return self.record(*row)
        return self.record(
            *(v if c is None else c(v) for c, v in zip(self._converters, row, strict=True))
        )

    def select(self, where: str = "", tail: str = "") -> str:
        """``SELECT <every column> FROM <table> [WHERE ...] [tail]``."""
        sql = f"SELECT {self.columns} FROM {self.name}"
        if where:
            sql += f" WHERE {where}"
        return f"{sql} {tail}" if tail else sql


@dataclass(slots=True)
class TorrentRow:
    instance: str
    hash: str
    name: str
    category: str | None
    state: str
    health: str
    progress: float
    size: int
    downloaded: int
    added_on: datetime | None
    first_seen: datetime
    last_seen: datetime
    last_activity: datetime | None
    last_progress_bytes: int
    strikes: int
    strike_reason: str | None
    last_strike_at: datetime | None
    protected: bool
    private: bool
    tracker: str | None
    arr_queue_id: int | None
    media_id: int | None
    imported: bool
    import_sent_at: datetime | None
    last_action: str | None
    last_action_at: datetime | None
    gone_at: datetime | None
    last_recheck_at: datetime | None
    rechecks: int
    kept_for_hnr: bool


@dataclass(slots=True)
class StrikeRow:
    id: int
    instance: str
    hash: str
    reason: str
    at: datetime
    downloaded: int


@dataclass(slots=True)
class ActionRow:
    id: int
    instance: str
    hash: str | None
    name: str | None
    action: str
    reason: str
    media_id: int | None
    status: str
    error: str | None
    dry_run: bool
    key: str
    created_at: datetime
    finished_at: datetime | None
    published: bool


@dataclass(slots=True)
class SearchRow:
    id: int
    instance: str
    media_id: int | None
    kind: str
    arr_command_id: int | None
    status: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(slots=True)
class CommandRow:
    seq: int
    id: str
    command: str
    instance: str
    payload: str
    source: str
    transaction: str | None
    status: str
    result: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def payload_data(self) -> dict[str, Any]:
        return load_json(self.payload) or {}

    @property
    def result_data(self) -> Any:
        return load_json(self.result)


@dataclass(slots=True)
class ProcessEventRow:
    id: int
    name: str
    from_state: str | None
    to_state: str
    pid: int | None
    expected: bool | None
    detail: str | None
    at: datetime


@dataclass(slots=True)
class ProcessHealthRow:
    name: str
    state: str
    pid: int | None
    started_at: datetime | None
    restart_count: int
    last_exit: str | None
    last_restart: datetime | None
    restart_limit_reached: bool
    updated_at: datetime


@dataclass(slots=True)
class InstanceStateRow:
    instance: str
    qbit_connected: bool
    arr_connected: bool
    counts: str
    queue_size: int
    dry_run: bool
    last_cycle_at: datetime | None
    last_cycle_duration: float | None
    heartbeat_at: datetime | None
    error: str | None

    @property
    def counts_data(self) -> dict[str, int]:
        return load_json(self.counts) or {}


@dataclass(slots=True)
class OutboxRow:
    id: int
    owner: str
    topic: str
    payload: str
    retain: bool
    created_at: datetime


TORRENT = Table(
    "torrent",
    TorrentRow,
    shared=("instance", "category", "state", "health", "tracker", "strike_reason", "last_action"),
)
STRIKE = Table("strike", StrikeRow)
ACTION = Table("action", ActionRow)
SEARCH = Table("search", SearchRow)
COMMAND = Table("command", CommandRow)
PROCESS_EVENT = Table("process_event", ProcessEventRow)
PROCESS_HEALTH = Table("process_health", ProcessHealthRow)
INSTANCE_STATE = Table("instance_state", InstanceStateRow)
OUTBOX = Table("outbox", OutboxRow)
TABLES: tuple[Table[Any], ...] = (
    TORRENT,
    STRIKE,
    ACTION,
    SEARCH,
    COMMAND,
    PROCESS_EVENT,
    PROCESS_HEALTH,
    INSTANCE_STATE,
    OUTBOX,
)
