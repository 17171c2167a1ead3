"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no timestamp type: SQLAlchemy stores a datetime as ISO text and reads it back
naive, so an aware UTC value written by a manager would come back without its offset and
compare wrongly with ``datetime.now(UTC)``. :class:`UTCDateTime` stores every value as UTC
(naive text on SQLite, ``timestamptz`` on PostgreSQL) and always returns an aware UTC
datetime. Naive input is refused rather than guessed at: a naive value is a bug in the
caller (``datetime.utcnow()`` or a local time), and silently storing it would shift times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator

from .common import NaiveDatetimeError, dump_json, load_json, to_utc, utc_from_db, utcnow

__all__ = ["NaiveDatetimeError", "UTCDateTime", "dump_json", "load_json", "to_utc", "utcnow"]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (see the module docstring)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return utc_from_db(value)  # text only when written by hand (raw SQL) on SQLite
