"""``LeanStore``: the store's methods a manager and the event listener use, on plain DB-API.

Why a second implementation: ``import sqlalchemy`` costs ~28 MB of RSS and sqlmodel with
pydantic ~16 MB more, in every process that imports them, while the issue's budget for a
manager holding 10,000 torrents is 80 MB, and the stack runs one manager per Arr instance.
The managers, the bridge and the event listener run on it all day with a fixed set of
statements; the WebUI and the CLI keep :class:`~qbitrr_mqtt.store.Store` (their queries are
many and varied), and so do the short-lived children that migrate the schema and run the
hourly maintenance (``python -m qbitrr_mqtt.store migrate|maintain``).

It reads and writes the same tables as ``Store`` and returns rows with the same attribute
names (``tables.py``), so the manager's code is the same on both; the
``tests/integration/test_store_lean_*.py`` files run each method against ``Store`` on SQLite
and PostgreSQL and compare.

It never creates or migrates the schema: :meth:`LeanStore.open` finds the version, and when
the database is new or older it runs ``python -m qbitrr_mqtt.store migrate`` (which uses
``Store``) in a child process, so the SQLAlchemy imports never stay in this one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import TracebackType
from typing import Self

from ..common import SCHEMA_VERSION, VERSION_KEY, SchemaError, SchemaTooNew, too_new_message
from .db import Database, UnsupportedDatabase
from .health import HealthPart
from .inbox import InboxPart
from .journal import JournalPart
from .outbox import OUTBOX_LIMIT, OutboxPart
from .size import SizePart
from .torrents import TorrentsPart

__all__ = ["LeanStore", "UnsupportedDatabase"]

#: How the child process that migrates (or maintains) is told the URL (not argv: ps shows it).
URL_ENV = "QBITRR_MQTT_MIGRATE_URL"
#: How the maintenance child is told ``settings.retention_days``.
RETENTION_ENV = "QBITRR_MQTT_RETENTION_DAYS"


class LeanStore(TorrentsPart, JournalPart, InboxPart, HealthPart, OutboxPart, SizePart):
    def __init__(self, db: Database, outbox_limit: int = OUTBOX_LIMIT) -> None:
        super().__init__(db)
        self.outbox_limit = outbox_limit
        self.outbox_dropped = {}

    @classmethod
    def open(cls, url: str, *, outbox_limit: int = OUTBOX_LIMIT) -> Self:
        """Connect to ``url``; a database that is new or at an older schema version is
        migrated first (in a child process), SchemaTooNew when it is newer than this code."""
        db = Database(url)
        try:
            version = read_version(db)
            if version is None or version < SCHEMA_VERSION:
                _migrate_in_child(url)
                version = read_version(db)
            if version is None:
                raise SchemaError("the migration left the database without a schema version")
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(too_new_message(version, SCHEMA_VERSION))
        except BaseException:
            db.close()
            raise
        return cls(db, outbox_limit=outbox_limit)

    def schema_version(self) -> int | None:
        return read_version(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_version(db: Database) -> int | None:
    """``meta.schema_version``, or None when the database has no ``meta`` table yet."""
    if db.dialect == "sqlite":
        exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    else:
        exists = "SELECT 1 FROM information_schema.tables WHERE table_name = 'meta'"
    with db.read() as tx:
        if tx.scalar(exists) is None:
            return None
        value = tx.scalar('SELECT value FROM meta WHERE "key" = :key', {"key": VERSION_KEY})
    if value is None or not str(value).isdigit():
        raise SchemaError(f"the meta table has no usable {VERSION_KEY} (found {value!r})")
    return int(value)


def _migrate_in_child(url: str) -> None:
    """Create or migrate the schema with ``Store`` in a child process; its error, if any,
    becomes ours (SchemaError with the child's last line, which names the problem)."""
    env = {**os.environ, URL_ENV: url}
    done = subprocess.run(
        [sys.executable, "-m", "qbitrr_mqtt.store", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise SchemaError(lines[-1] if lines else f"migration exited with {done.returncode}")
