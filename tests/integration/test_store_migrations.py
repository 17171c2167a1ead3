"""Schema versions: fresh databases, the real step 1 → 2, refusing newer schemas, and the
step framework (order, atomicity) with synthetic steps, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from qbitrr_mqtt.store import SCHEMA_VERSION, SchemaError, SchemaTooNew, Store, make_engine
from qbitrr_mqtt.store.lean import LeanStore
from qbitrr_mqtt.store.migrations import migrate
from qbitrr_mqtt.store.models import TABLES
from qbitrr_mqtt.store.testing import store_url_fixture  # noqa: F401  (fixture)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    made = make_engine(store_url)
    yield made
    made.dispose()


def _version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()


def _set_version(engine: Engine, version: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)}
        )


def test_fresh_database_gets_every_table_and_the_current_version(engine: Engine) -> None:
    assert migrate(engine) == 0
    assert set(inspect(engine).get_table_names()) >= {m.__tablename__ for m in TABLES}
    assert _version(engine) == str(SCHEMA_VERSION)
    assert migrate(engine) == SCHEMA_VERSION  # a second run changes nothing
    assert _version(engine) == str(SCHEMA_VERSION)


def _make_version_1(engine: Engine) -> None:
    """The v1 shape by hand: today's tables without action.published and its index."""
    migrate(engine)
    with engine.begin() as conn:
        for index in ("ix_torrent_listing", "ix_torrent_listing_all"):  # added by version 4
            conn.execute(text(f"DROP INDEX {index}"))
        conn.execute(text("DROP INDEX ix_action_published"))
        conn.execute(text("ALTER TABLE action DROP COLUMN published"))
        for column in ("last_recheck_at", "rechecks", "kept_for_hnr"):  # added by version 3
            conn.execute(text(f"ALTER TABLE torrent DROP COLUMN {column}"))
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
        ts = "2024-05-01 12:00:00"
        conn.execute(
            text(
                "INSERT INTO torrent (instance, hash, name, state, health, progress, size, "
                "downloaded, first_seen, last_seen, last_progress_bytes, strikes, protected, "
                "private, imported) VALUES ('radarr', :h, 'Movie', 'stalledDL', 'stalled', 0.5, "
                "100, 50, :ts, :ts, 50, 0, false, false, false)"
            ),
            {"h": "a" * 40, "ts": ts},
        )
        for i, status in enumerate(("done", "failed", "intent")):
            conn.execute(
                text(
                    "INSERT INTO action (instance, hash, name, action, reason, status, dry_run, "
                    "key, created_at) VALUES ('radarr', :h, 'Movie', 'remove', 'stalled', "
                    ":status, false, :key, :ts)"
                ),
                {"h": "a" * 40, "status": status, "key": f"k{i}", "ts": ts},
            )


def test_version_1_is_migrated_to_latest_without_losing_rows(
    engine: Engine, store_url: str
) -> None:
    _make_version_1(engine)
    assert "published" not in {c["name"] for c in inspect(engine).get_columns("action")}
    assert "rechecks" not in {c["name"] for c in inspect(engine).get_columns("torrent")}

    with Store.open(store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 4
        torrent = store.get_torrent("radarr", "a" * 40)
        assert torrent is not None
        assert (torrent.name, torrent.downloaded, torrent.first_seen) == ("Movie", 50, T0)
        # Version 3: the manager's memory starts empty for old rows, and can be written.
        assert (torrent.rechecks, torrent.kept_for_hnr, torrent.last_recheck_at) == (0, False, None)
        store.upsert_torrents("radarr", [{"hash": "a" * 40, "rechecks": 2, "kept_for_hnr": True}])
        again = store.get_torrent("radarr", "a" * 40)
        assert again is not None and (again.rechecks, again.kept_for_hnr) == (2, True)
        actions, total = store.list_actions(instance="radarr")
        assert total == 3
        by_status = {a.status: a for a in actions}
        # Finished before the upgrade: already told, so not replayed as new MQTT events.
        assert by_status["done"].published and by_status["failed"].published
        assert not by_status["intent"].published
        assert store.unpublished_actions() == []
        assert [a.key for a in store.pending_intents("radarr")] == ["k2"]
        # The new column works: finishing the old intent makes it publishable once.
        intent_id = by_status["intent"].id
        assert intent_id is not None
        store.mark_done(intent_id)
        assert [a.key for a in store.unpublished_actions()] == ["k2"]
    indexes = {i["name"] for i in inspect(engine).get_indexes("action")}
    assert "ix_action_published" in indexes
    torrent_indexes = {i["name"] for i in inspect(engine).get_indexes("torrent")}
    assert {"ix_torrent_listing", "ix_torrent_listing_all"} <= torrent_indexes


def _listing_indexes(engine: Engine) -> dict[str, str]:
    """The listing indexes' definitions as the database reports them."""
    if engine.dialect.name == "sqlite":
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'torrent'"
    else:
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'torrent'"
    with engine.connect() as conn:
        found = {str(n): str(d) for n, d in conn.execute(text(sql))}
    return {n: d for n, d in found.items() if n.startswith("ix_torrent_listing")}


def test_version_3_gets_the_listing_indexes(engine: Engine, store_url: str) -> None:
    """Step 4 builds on a v3 database the same indexes a fresh database gets."""
    migrate(engine)
    fresh = _listing_indexes(engine)
    assert set(fresh) == {"ix_torrent_listing", "ix_torrent_listing_all"}
    with engine.begin() as conn:
        for index in fresh:
            conn.execute(text(f"DROP INDEX {index}"))
    _set_version(engine, 3)
    with Store.open(store_url) as store:
        store.upsert_torrents("radarr", [{"hash": "a" * 40, "name": "Movie"}], at=T0)
        store.upsert_torrents(
            "radarr", [{"hash": "b" * 40, "name": "Newer"}], at=T0.replace(hour=13)
        )
        assert store.schema_version() == 4
        page, total = store.torrent_page("radarr", columns=("hash",))
        assert (page, total) == ([{"hash": "b" * 40}, {"hash": "a" * 40}], 2)
    assert _listing_indexes(engine) == fresh
    assert all("gone_at IS NULL" in d and "first_seen DESC" in d for d in fresh.values()), fresh


def test_a_newer_database_is_refused_and_left_alone(engine: Engine, store_url: str) -> None:
    migrate(engine)
    _set_version(engine, SCHEMA_VERSION + 1)
    with pytest.raises(SchemaTooNew) as raised:
        Store.open(store_url)
    message = str(raised.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    assert "upgrade qbitrr-mqtt" in message
    assert _version(engine) == str(SCHEMA_VERSION + 1)


def test_our_tables_without_a_version_are_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE torrent (hash VARCHAR PRIMARY KEY)"))
    with pytest.raises(SchemaError, match="no meta.schema_version"):
        migrate(engine)
    assert "meta" not in inspect(engine).get_table_names()


def test_unrelated_tables_do_not_stop_a_fresh_schema(engine: Engine) -> None:
    """A shared PostgreSQL database may hold other applications' tables."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    assert migrate(engine) == 0
    assert "someone_elses" in inspect(engine).get_table_names()


def test_steps_run_in_order_above_the_stored_version(engine: Engine) -> None:
    migrate(engine, steps=[], target=1)
    ran: list[int] = []

    def step(version: int) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            ran.append(version)
            conn.execute(
                text("INSERT INTO meta (key, value) VALUES (:k, 'x')"), {"k": f"step{version}"}
            )

        return run

    steps = [(2, step(2)), (3, step(3)), (4, step(4))]
    _set_version(engine, 2)
    assert migrate(engine, steps=steps, target=4) == 2
    assert ran == [3, 4]
    assert _version(engine) == "4"
    with engine.connect() as conn:
        keys = set(conn.execute(text("SELECT key FROM meta")).scalars())
    assert keys == {"schema_version", "step3", "step4"}


def test_a_failing_step_leaves_the_database_at_its_old_version(engine: Engine) -> None:
    migrate(engine, steps=[], target=1)

    def add_table(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE added_in_2 (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('touched', 'yes')"))

    def broken(conn: Connection) -> None:
        conn.execute(text("SELECT no_such_column FROM torrent"))

    with pytest.raises(Exception, match="no_such_column"):
        migrate(engine, steps=[(2, add_table), (3, broken)], target=3)
    assert _version(engine) == "1"
    assert "added_in_2" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM meta")).scalar() == 1


# --- LeanStore.open: it never migrates in its own process --------------------------------


def test_lean_store_creates_a_fresh_database_through_a_child_process(
    engine: Engine, store_url: str
) -> None:
    with LeanStore.open(store_url) as lean:
        assert lean.schema_version() == SCHEMA_VERSION
        lean.upsert_torrents("radarr", [{"hash": "a" * 40, "name": "Movie"}], at=T0)
    assert set(inspect(engine).get_table_names()) >= {m.__tablename__ for m in TABLES}
    with Store.open(store_url) as store:
        assert store.get_torrent("radarr", "a" * 40).name == "Movie"  # type: ignore[union-attr]


def test_lean_store_brings_an_older_database_up_to_date(engine: Engine, store_url: str) -> None:
    _make_version_1(engine)
    with LeanStore.open(store_url) as lean:
        assert lean.schema_version() == SCHEMA_VERSION
        # a v4 column the v1 shape lacked: the child's migration added it
        lean.upsert_torrents("radarr", [{"hash": "c" * 40, "kept_for_hnr": True}], at=T0)
        assert lean.get_torrent("radarr", "c" * 40).kept_for_hnr is True  # type: ignore[union-attr]
    assert _version(engine) == str(SCHEMA_VERSION)


def test_lean_store_refuses_a_newer_database_and_leaves_it_alone(
    engine: Engine, store_url: str
) -> None:
    migrate(engine)
    _set_version(engine, SCHEMA_VERSION + 1)
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}"):
        LeanStore.open(store_url)
    assert _version(engine) == str(SCHEMA_VERSION + 1)


def test_lean_store_reports_the_child_migrations_error(engine: Engine, store_url: str) -> None:
    """Our tables without a version row: the child refuses, and its one line is the error."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE torrent (hash VARCHAR PRIMARY KEY)"))
    with pytest.raises(SchemaError, match="no meta.schema_version"):
        LeanStore.open(store_url)
