"""Pure parts of the store: the UTC column type, JSON text, engine URLs, step lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from qbitrr_mqtt.store import NaiveDatetimeError, UnsupportedDatabase, make_engine
from qbitrr_mqtt.store.migrations import SCHEMA_VERSION, STEPS, _check_steps
from qbitrr_mqtt.store.types import UTCDateTime, dump_json, load_json, to_utc

SQLITE = sqlite.dialect()
PG = postgresql.psycopg.dialect()
COLUMN = UTCDateTime()


def test_sqlite_binds_naive_utc_and_reads_aware_utc() -> None:
    local = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    bound = COLUMN.process_bind_param(local, SQLITE)
    assert bound == datetime(2024, 1, 1, 17, 0) and bound.tzinfo is None
    back = COLUMN.process_result_value(bound, SQLITE)
    assert back == local and back.tzinfo is UTC


def test_postgres_binds_aware_utc_and_normalises_results() -> None:
    local = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=9)))
    bound = COLUMN.process_bind_param(local, PG)
    assert bound == local and bound.tzinfo is UTC
    back = COLUMN.process_result_value(local, PG)  # as psycopg returns it in a Tokyo session
    assert back == local and back.tzinfo is UTC


def test_text_written_by_hand_on_sqlite_is_read_as_utc() -> None:
    assert COLUMN.process_result_value("2024-05-01 12:00:00", SQLITE) == datetime(
        2024, 5, 1, 12, tzinfo=UTC
    )


def test_none_passes_and_wrong_types_fail() -> None:
    assert COLUMN.process_bind_param(None, SQLITE) is None
    assert COLUMN.process_result_value(None, PG) is None
    with pytest.raises(TypeError, match="expected a datetime"):
        COLUMN.process_bind_param("2024-01-01", SQLITE)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused_with_advice() -> None:
    with pytest.raises(NaiveDatetimeError, match=r"datetime\.now\(UTC\)"):
        to_utc(datetime(2024, 1, 1))
    with pytest.raises(NaiveDatetimeError):
        COLUMN.process_bind_param(datetime(2024, 1, 1), PG)


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.timezones(),
    )
)
def test_every_aware_datetime_survives_the_sqlite_round_trip(value: datetime) -> None:
    if value.utcoffset() is None:  # an impossible local time: refused, nothing to round-trip
        return
    back = COLUMN.process_result_value(COLUMN.process_bind_param(value, SQLITE), SQLITE)
    # Same instant (compared in UTC: PEP 495 makes inter-zone == False for times in a DST
    # fold or gap, even when the instant matches).
    assert back == value.astimezone(UTC) and back.tzinfo is UTC


def test_json_text_is_compact_and_stable() -> None:
    assert dump_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert dump_json(None) is None
    assert load_json('{"a":1}') == {"a": 1}
    assert load_json("") is None and load_json(None) is None


def test_engine_urls(tmp_path: Path) -> None:
    pg = make_engine("postgresql://postgres@127.0.0.1:1/none")  # nothing connects yet
    assert pg.dialect.driver == "psycopg"
    assert pg.pool._pre_ping is True  # type: ignore[attr-defined]
    pg.dispose()
    db = tmp_path / "a" / "b" / "q.db"
    lite = make_engine(f"sqlite:///{db}")
    assert db.parent.is_dir() and not db.exists()
    lite.dispose()
    with pytest.raises(UnsupportedDatabase, match="mysql"):
        make_engine("mysql://root@localhost/db")


def test_the_real_step_list_ends_at_the_schema_version() -> None:
    _check_steps(STEPS, SCHEMA_VERSION)
    assert STEPS[-1][0] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("versions", "target"),
    [([3, 2], 3), ([2, 2], 2), ([1, 2], 2), ([2, 3], 4)],
)
def test_bad_step_lists_are_rejected(versions: list[int], target: int) -> None:
    steps = [(v, lambda conn: None) for v in versions]
    with pytest.raises(ValueError, match="step"):
        _check_steps(steps, target)
