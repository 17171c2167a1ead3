"""The store's tables (schema version 4; see ``migrations.py`` for the history).

All timestamps are aware UTC datetimes (:class:`~.types.UTCDateTime`); ``instance`` is the
Arr instance name. Byte counts and Arr ids are 64-bit. JSON values are kept as compact JSON
text (``payload``, ``result``, ``counts``) so both backends store them alike; the ``*_data``
properties decode them.

``torrent`` (PK ``instance``, ``hash``): what a manager knows about one torrent of its
  category. ``hash`` is lower-case. ``state`` is qBittorrent's state string; ``health`` is our
  class (downloading, stalled, seeding, queued, errored, paused, checking, metadata,
  missing_files, completed). ``strikes`` always equals the number of ``strike`` rows (the
  store keeps both in step). ``gone_at`` is set when the torrent left qBittorrent; a row
  seen again gets ``gone_at`` cleared.
``strike``: one strike against a torrent (reason, time, bytes downloaded then). Deleted when
  strikes are reset; foreign key to ``torrent`` with ON DELETE CASCADE.
``action``: the audit trail and the crash journal. A row is written as ``status='intent'``
  *before* the action runs and moved to ``done`` / ``failed`` / ``skipped`` after it;
  ``key`` (unique) makes recording the same intent twice return the first row. ``published``
  says whether the MQTT event for the finished action went out.
``search``: searches asked of an Arr app (``kind``: missing, cutoff, manual, re_search),
  with the Arr command id and its status (queued, started, completed, failed).
``command``: the inbox. ``id`` is a uuid4 hex (what callers see); ``seq`` is an internal
  autoincrement key that keeps the inbox first-in first-out even when two commands share a
  timestamp. ``status``: pending → running → done | error.
``process_event``: supervisord state changes as the bridge saw them.
``process_health`` (PK ``name``): the latest health of each supervisord program.
``instance_state`` (PK ``instance``): each manager's connection state, counts by health
  (JSON) and last cycle, written every cycle (``heartbeat_at``).
``outbox``: MQTT messages waiting for the broker, sent oldest first (``id`` order). ``owner``
  is the program that queued them (``manager-radarr``, ``bridge``): processes share the
  database, and each sends only its own messages.
``meta`` (PK ``key``): ``schema_version``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Text, column, desc, text
from sqlmodel import Field, SQLModel

from .types import UTCDateTime, load_json, utcnow

#: SQLite reuses the highest rowid after a delete unless AUTOINCREMENT is on; ids here are
#: cursors (the SSE stream, the outbox order), so they must only grow.
_NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def _when(optional: bool = True) -> Any:
    """A UTC timestamp column (None by default, or now when ``optional`` is False)."""
    if optional:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def _big(default: int | None = 0) -> Any:
    return Field(default=default, sa_type=BigInteger)


def _text() -> Any:
    return Field(default=None, sa_type=Text)


class Torrent(SQLModel, table=True):
    __tablename__ = "torrent"
    __table_args__ = (
        Index("ix_torrent_instance_health", "instance", "health"),
        # The WebUI's torrent list (``listing.py``): torrents not gone, newest first, read in
        # index order, of one instance and of every instance (migration step 4).
        Index("ix_torrent_listing", "instance", desc(column("first_seen")), "hash", "gone_at",
              sqlite_where=text("gone_at IS NULL"), postgresql_where=text("gone_at IS NULL")),
        Index("ix_torrent_listing_all", desc(column("first_seen")), "instance", "hash", "gone_at",
              sqlite_where=text("gone_at IS NULL"), postgresql_where=text("gone_at IS NULL")),
    )  # fmt: skip

    instance: str = Field(primary_key=True)
    hash: str = Field(primary_key=True)
    name: str = ""
    category: str | None = None
    state: str = ""
    health: str = ""
    progress: float = 0.0
    size: int = _big()
    downloaded: int = _big()
    added_on: datetime | None = _when()
    first_seen: datetime = _when(optional=False)
    last_seen: datetime = _when(optional=False)
    last_activity: datetime | None = _when()
    last_progress_bytes: int = _big()
    strikes: int = 0
    strike_reason: str | None = None
    last_strike_at: datetime | None = _when()
    protected: bool = False
    private: bool = False
    tracker: str | None = None
    arr_queue_id: int | None = _big(None)
    media_id: int | None = _big(None)
    imported: bool = False
    import_sent_at: datetime | None = _when()
    last_action: str | None = None
    last_action_at: datetime | None = _when()
    gone_at: datetime | None = _when()
    last_recheck_at: datetime | None = _when()
    rechecks: int = 0
    kept_for_hnr: bool = False


class Strike(SQLModel, table=True):
    __tablename__ = "strike"
    __table_args__ = (
        ForeignKeyConstraint(
            ["instance", "hash"], ["torrent.instance", "torrent.hash"], ondelete="CASCADE"
        ),
        Index("ix_strike_torrent", "instance", "hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: str
    hash: str
    reason: str
    at: datetime = _when(optional=False)
    downloaded: int = _big()


class Action(SQLModel, table=True):
    __tablename__ = "action"
    __table_args__ = (
        Index("ix_action_instance_status", "instance", "status"),
        Index("ix_action_instance_hash", "instance", "hash"),
        Index("ix_action_published", "published", "status"),
        _NEVER_REUSE_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: str
    hash: str | None = None
    name: str | None = None
    action: str
    reason: str = ""
    media_id: int | None = _big(None)
    status: str = "intent"
    error: str | None = _text()
    dry_run: bool = False
    key: str = Field(unique=True)
    created_at: datetime = _when(optional=False)
    finished_at: datetime | None = _when()
    published: bool = False


class Search(SQLModel, table=True):
    __tablename__ = "search"
    __table_args__ = (Index("ix_search_instance_media", "instance", "media_id"),)

    id: int | None = Field(default=None, primary_key=True)
    instance: str
    media_id: int | None = _big(None)
    kind: str
    arr_command_id: int | None = _big(None)
    status: str = "queued"
    created_at: datetime = _when(optional=False)
    finished_at: datetime | None = _when()


class Command(SQLModel, table=True):
    __tablename__ = "command"
    __table_args__ = (
        Index("ix_command_instance_status", "instance", "status", "seq"),
        _NEVER_REUSE_IDS,
    )

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True)
    command: str
    instance: str
    payload: str = Field(default="{}", sa_type=Text)
    source: str
    transaction: str | None = None
    status: str = "pending"
    result: str | None = _text()
    error: str | None = _text()
    created_at: datetime = _when(optional=False)
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()

    @property
    def payload_data(self) -> dict[str, Any]:
        return load_json(self.payload) or {}

    @property
    def result_data(self) -> Any:
        return load_json(self.result)


class ProcessEvent(SQLModel, table=True):
    __tablename__ = "process_event"
    __table_args__ = (Index("ix_process_event_name", "name", "id"), _NEVER_REUSE_IDS)

    id: int | None = Field(default=None, primary_key=True)
    name: str
    from_state: str | None = None
    to_state: str
    pid: int | None = None
    expected: bool | None = None
    detail: str | None = _text()
    at: datetime = _when(optional=False)


class ProcessHealth(SQLModel, table=True):
    __tablename__ = "process_health"

    name: str = Field(primary_key=True)
    state: str = "UNKNOWN"
    pid: int | None = None
    started_at: datetime | None = _when()
    restart_count: int = 0
    last_exit: str | None = None
    last_restart: datetime | None = _when()
    restart_limit_reached: bool = False
    updated_at: datetime = _when(optional=False)


class InstanceState(SQLModel, table=True):
    __tablename__ = "instance_state"

    instance: str = Field(primary_key=True)
    qbit_connected: bool = False
    arr_connected: bool = False
    counts: str = Field(default="{}", sa_type=Text)
    queue_size: int = 0
    dry_run: bool = False
    last_cycle_at: datetime | None = _when()
    last_cycle_duration: float | None = None
    heartbeat_at: datetime | None = _when()
    error: str | None = _text()

    @property
    def counts_data(self) -> dict[str, int]:
        return load_json(self.counts) or {}


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_owner", "owner", "id"), _NEVER_REUSE_IDS)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = ""
    topic: str
    payload: str = Field(default="", sa_type=Text)
    retain: bool = False
    created_at: datetime = _when(optional=False)


class Meta(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


TABLES = (
    Torrent,
    Strike,
    Action,
    Search,
    Command,
    ProcessEvent,
    ProcessHealth,
    InstanceState,
    Outbox,
    Meta,
)
