"""``lean/tables.py`` mirrors ``models.py``: table names, columns in order, kinds, defaults.

LeanStore selects ``Table.columns`` and builds rows positionally, and decodes datetimes and
booleans by the dataclass field's kind; a column added to a model and not to its row class
(or in another place) would shift every value after it. The defaults a lean insert writes
must be the model's, since the database has no server defaults.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from sqlalchemy import Boolean, DateTime
from sqlalchemy.types import TypeDecorator

from qbitrr_mqtt.store import Store, models
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.lean import health as lean_health
from qbitrr_mqtt.store.lean import torrents as lean_torrents
from qbitrr_mqtt.store.lean.tables import TABLES, Table
from qbitrr_mqtt.store.testing import store_pair_fixture, store_url_fixture  # noqa: F401


def column_kind(type_: Any) -> str:
    """``datetime``, ``bool`` or ``other`` for a model column's SQLAlchemy type."""
    impl = type_.impl if isinstance(type_, TypeDecorator) else type_
    if isinstance(impl, DateTime):
        return "datetime"
    return "bool" if isinstance(impl, Boolean) else "other"


def field_kind(annotation: Any) -> str:
    """The same for a row dataclass field, read as ``Table`` reads it to pick a decoder."""
    text = str(annotation)
    return "datetime" if "datetime" in text else "bool" if "bool" in text else "other"


MODEL_TABLES = [m.__table__ for m in models.TABLES if m is not models.Meta]  # type: ignore[attr-defined]


def test_every_model_table_but_meta_has_a_lean_table_in_the_same_order() -> None:
    assert [t.name for t in TABLES] == [t.name for t in MODEL_TABLES]


@pytest.mark.parametrize("lean", TABLES, ids=lambda t: t.name)
def test_columns_match_in_order_and_kind(lean: Table[Any]) -> None:
    model = next(t for t in MODEL_TABLES if t.name == lean.name)
    assert lean.names == tuple(c.name for c in model.columns)
    lean_kinds = {f.name: field_kind(f.type) for f in fields(lean.record)}
    model_kinds = {c.name: column_kind(c.type) for c in model.columns}
    assert lean_kinds == model_kinds
    # A nullable column is Optional in the row class (primary keys are never NULL in a row).
    lean_null = {f.name: "None" in str(f.type) for f in fields(lean.record)}
    model_null = {c.name: bool(c.nullable) and not c.primary_key for c in model.columns}
    assert lean_null == model_null


def test_kinds_are_told_apart() -> None:
    """The helper itself: a wrong kind must be visible (else the test above proves nothing)."""
    torrent = models.Torrent.__table__.c  # type: ignore[attr-defined]
    assert column_kind(torrent.first_seen.type) == "datetime"
    assert column_kind(torrent.protected.type) == "bool"
    assert column_kind(torrent.size.type) == "other"
    assert field_kind("datetime | None") == "datetime" and field_kind("bool | None") == "bool"
    assert field_kind("int") == "other"


def model_defaults(model: type[Any], skip: set[str]) -> dict[str, Any]:
    """The value a field gets when the constructor is not given it (None for a factory)."""
    out = {}
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        out[name] = None if info.default_factory is not None else info.default
    return out


@pytest.mark.parametrize(
    ("model", "defaults", "skip"),
    [
        (
            models.Torrent,
            lean_torrents.TORRENT_DEFAULTS,
            {"instance", "hash", "first_seen", "last_seen"},
        ),
        (models.ProcessHealth, lean_health.HEALTH_DEFAULTS, {"name", "updated_at"}),
        (models.InstanceState, lean_health.STATE_DEFAULTS, {"instance"}),
    ],
    ids=["torrent", "process_health", "instance_state"],
)
def test_lean_insert_defaults_are_the_models(
    model: type[Any], defaults: dict[str, Any], skip: set[str]
) -> None:
    expected = model_defaults(model, skip)
    assert defaults == expected
    # ``==`` takes 0 for False: the types must match too (a bool column stays bool).
    assert {k: type(v) for k, v in defaults.items()} == {k: type(v) for k, v in expected.items()}


def test_datetime_fields_are_the_models_utc_columns() -> None:
    """Every lean datetime field is a ``UTCDateTime`` column (bound and decoded as UTC)."""
    for lean in TABLES:
        model = next(t for t in MODEL_TABLES if t.name == lean.name)
        for column in model.columns:
            if column_kind(column.type) == "datetime":
                assert type(column.type).__name__ == "UTCDateTime", (lean.name, column.name)
                assert field_kind(lean.record.__annotations__[column.name]) == "datetime"


def test_few_valued_torrent_columns_share_one_string_object(
    store_pair: tuple[Store, LeanStore],
) -> None:
    """The manager keeps every torrent row in memory: equal states, categories... are one
    object, while values that differ per torrent (names) stay their own."""
    store, lean = store_pair
    rows = [
        {"hash": f"{i:040x}", "name": f"Movie {i}", "state": "stalledDL", "category": "films"}
        for i in range(3)
    ]
    store.upsert_torrents("radarr", rows)
    got = list(lean.torrent_rows("radarr").values())
    assert len(got) == 3
    assert got[0].state == "stalledDL" and got[0].category == "films"
    assert all(r.state is got[0].state and r.category is got[0].category for r in got)
    assert all(r.instance is got[0].instance for r in got)
    assert len({r.name for r in got}) == 3


def test_each_sqlite_connection_keeps_a_small_page_cache(tmp_path: Any) -> None:
    """Every thread of a manager has its own connection: each keeps SQLITE_CACHE_KIB of
    pages, not SQLite's 2 MB default (the OS keeps the file's pages anyway)."""
    import threading

    from qbitrr_mqtt.store.lean.db import SQLITE_CACHE_KIB
    from qbitrr_mqtt.store.testing import sqlite_url

    url = sqlite_url(tmp_path)
    Store.open(url).close()
    lean = LeanStore.open(url)
    try:
        sizes: list[int] = []

        def read() -> None:
            with lean.db.read() as tx:
                sizes.append(tx.scalar("PRAGMA cache_size"))

        read()
        other = threading.Thread(target=read)
        other.start()
        other.join()
        assert sizes == [-SQLITE_CACHE_KIB, -SQLITE_CACHE_KIB]
    finally:
        lean.close()
