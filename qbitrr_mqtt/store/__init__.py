"""The SQL store: sqlmodel tables, engine set-up, migrations and the ``Store`` repository.

``store = Store.open(config.database.url)`` (or ``open_store(url)``) is all a process needs;
see ``store.py`` for the methods, ``models.py`` for the schema, ``db.py`` for the SQLite and
PostgreSQL settings and ``migrations.py`` for schema versions. ``lean/`` is the same store's
SQLAlchemy-free twin for the processes that must stay small (the managers, the event
listener).

The names below load on first use (PEP 562): importing ``qbitrr_mqtt.store.lean`` or
``qbitrr_mqtt.store.common`` must not pull in SQLAlchemy, which this package's own
``__init__`` would otherwise do for every submodule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .common import (
    SCHEMA_VERSION,
    NaiveDatetimeError,
    NotFound,
    SchemaError,
    SchemaTooNew,
    StorageFull,
    utcnow,
)

if TYPE_CHECKING:
    from .db import DEFAULT_URL, UnsupportedDatabase, make_engine, open_store
    from .migrations import migrate
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

_LAZY = {
    "DEFAULT_URL": "db",
    "UnsupportedDatabase": "db",
    "make_engine": "db",
    "open_store": "db",
    "migrate": "migrations",
    "Store": "store",
    **{
        name: "models"
        for name in (
            "Action",
            "Command",
            "InstanceState",
            "Meta",
            "Outbox",
            "ProcessEvent",
            "ProcessHealth",
            "Search",
            "Strike",
            "Torrent",
        )
    },
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
