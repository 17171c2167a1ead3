"""Schema version and the ordered migration steps (no alembic: a list and a version row).

``meta.schema_version`` says which shape a database has. :func:`migrate` runs when a store
opens:

- a database without our tables gets the current shape (``create_all``) and the current
  version;
- an older one gets each step above its version, in order, then any table the code added
  since (``create_all`` only creates what is missing);
- a newer one is refused with :class:`SchemaTooNew`, so an old binary never writes a shape it
  does not know.

Everything happens in one transaction (both backends have transactional DDL): a step that
fails leaves the database at its old version, untouched. Processes that start together
(supervisord starts every program at once) take turns: PostgreSQL through an advisory
transaction lock, SQLite through ``BEGIN IMMEDIATE``.

History:

1. The tables as ``docs/ARCHITECTURE.md`` lists them, without ``action.published``.
2. ``action.published`` (+ index), so the MQTT event for a finished action is sent exactly
   once even across restarts. Actions finished before the upgrade count as published: the
   upgrade must not replay the whole audit trail as new events.
3. ``torrent.last_recheck_at``, ``torrent.rechecks`` and ``torrent.kept_for_hnr``: what the
   missing-files and hit-and-run rules must remember across manager restarts (a recheck
   already tried; a torrent left in the client to finish its seeding obligation).
   ``outbox.owner`` (+ index): every program keeps its own waiting MQTT messages, so two
   processes never send (or trim) each other's.
4. ``ix_torrent_listing`` on ``torrent (instance, first_seen DESC, hash, gone_at)`` and
   ``ix_torrent_listing_all`` on ``torrent (first_seen DESC, instance, hash, gone_at)``, both
   partial (``WHERE gone_at IS NULL``): the WebUI's torrent list (tracked torrents newest
   first, of one instance or of all) is read in index order, so a page costs its offset +
   limit index entries instead of a sort of every row, and its total is counted from the
   index alone. Partial, because PostgreSQL does not treat ``gone_at IS NULL`` as fixing
   ``gone_at`` the way ``=`` would, so an index led by ``gone_at`` would not give it the
   order; the trailing ``gone_at`` lets SQLite count and skip rows without reading them.

A step is ``(version, fn)``; ``fn(connection)`` turns version-1 into ``version``. Steps
alter existing tables; a brand-new table needs no step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import MetaData, Table, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from . import models
from .common import SCHEMA_VERSION, VERSION_KEY, SchemaError, SchemaTooNew, too_new_message
from .db import writer

Step = tuple[int, Callable[[Connection], None]]

#: Any fixed 64-bit number; every process migrating the same PostgreSQL db takes this lock.
_PG_LOCK_ID = 0x71B17_5702E


def _v2_action_published(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE action ADD COLUMN published BOOLEAN NOT NULL DEFAULT false"))
    conn.execute(text("UPDATE action SET published = true WHERE status <> 'intent'"))
    conn.execute(text("CREATE INDEX ix_action_published ON action (published, status)"))


def _v3_torrent_memory(conn: Connection) -> None:
    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(text(f"ALTER TABLE torrent ADD COLUMN last_recheck_at {timestamp}"))
    conn.execute(text("ALTER TABLE torrent ADD COLUMN rechecks INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text("ALTER TABLE torrent ADD COLUMN kept_for_hnr BOOLEAN NOT NULL DEFAULT false"))


_V4_LISTING = (
    ("ix_torrent_listing", "instance, first_seen DESC, hash, gone_at"),
    ("ix_torrent_listing_all", "first_seen DESC, instance, hash, gone_at"),
)


def _v4_torrent_listing(conn: Connection) -> None:
    for name, columns in _V4_LISTING:
        conn.execute(text(f"CREATE INDEX {name} ON torrent ({columns}) WHERE gone_at IS NULL"))


STEPS: list[Step] = [
    (2, _v2_action_published),
    (3, _v3_torrent_memory),
    (4, _v4_torrent_listing),
]


def _check_steps(steps: Sequence[Step], target: int) -> None:
    versions = [v for v, _ in steps]
    if versions != sorted(set(versions)) or (versions and versions[0] < 2):
        raise ValueError(f"migration steps must have increasing versions >= 2, got {versions}")
    if versions and versions[-1] != target:
        raise ValueError(f"last migration step is {versions[-1]}, schema version is {target}")


def _meta_table() -> Table:
    return SQLModel.metadata.tables[str(models.Meta.__tablename__)]


def read_version(conn: Connection) -> int | None:
    """The database's schema version, or None when it has no ``meta`` table."""
    if not inspect(conn).has_table("meta"):
        return None
    table = _meta_table()
    value = conn.execute(
        select(table.c.value).where(table.c.key == VERSION_KEY)
    ).scalar_one_or_none()
    if value is None or not value.isdigit():
        raise SchemaError(f"the meta table has no usable {VERSION_KEY} (found {value!r})")
    return int(value)


def _write_version(conn: Connection, version: int, fresh: bool) -> None:
    table = _meta_table()
    if fresh:
        conn.execute(table.insert().values(key=VERSION_KEY, value=str(version)))
    else:
        conn.execute(update(table).where(table.c.key == VERSION_KEY).values(value=str(version)))


def migrate(
    engine: Engine,
    steps: Sequence[Step] = STEPS,
    target: int = SCHEMA_VERSION,
    metadata: MetaData = SQLModel.metadata,
) -> int:
    """Bring the database at ``engine`` to ``target``; returns the version it had before
    (0 for a fresh database). SchemaTooNew / SchemaError when it cannot be opened."""
    _check_steps(steps, target)
    ours = set(metadata.tables)
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        version = read_version(conn)
        if version is None:
            present = sorted(ours & set(inspect(conn).get_table_names()))
            if present:
                raise SchemaError(
                    f"the database has tables {', '.join(present)} but no meta.{VERSION_KEY}: "
                    "it was not created by qbitrr-mqtt; point database.url at an empty database"
                )
            metadata.create_all(conn)
            _write_version(conn, target, fresh=True)
            return 0
        if version > target:
            raise SchemaTooNew(too_new_message(version, target))
        for step_version, step in steps:
            if step_version > version:
                step(conn)
        metadata.create_all(conn)  # tables added since `version`; existing ones are kept
        if version != target:
            _write_version(conn, target, fresh=False)
        return version
