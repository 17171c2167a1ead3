"""The SQL store: sqlmodel tables, engine set-up, migrations and the ``Store`` repository.

``store = Store.open(config.database.url)`` (or ``open_store(url)``) is all a process needs;
see ``store.py`` for the methods, ``models.py`` for the schema, ``db.py`` for the SQLite and
PostgreSQL settings and ``migrations.py`` for schema versions.
"""

from __future__ import annotations

from .base import NotFound, StorageFull
from .db import DEFAULT_URL, UnsupportedDatabase, make_engine, open_store
from .migrations import SCHEMA_VERSION, SchemaError, SchemaTooNew, migrate
from .models import (
    Action,
    Command,
    InstanceState,
    Meta,
    Outbox,
    ProcessEvent,
    ProcessHealth,
    Search,
    Strike,
    Torrent,
)
from .store import Store
from .types import NaiveDatetimeError, utcnow

__all__ = [
    "DEFAULT_URL",
    "SCHEMA_VERSION",
    "Action",
    "Command",
    "InstanceState",
    "Meta",
    "NaiveDatetimeError",
    "NotFound",
    "Outbox",
    "ProcessEvent",
    "ProcessHealth",
    "Search",
    "StorageFull",
    "SchemaError",
    "SchemaTooNew",
    "Store",
    "Strike",
    "Torrent",
    "UnsupportedDatabase",
    "make_engine",
    "migrate",
    "open_store",
    "utcnow",
]
