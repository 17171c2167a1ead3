"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no timestamp type: SQLAlchemy stores a datetime as ISO text and reads it back
naive, so an aware UTC value written by a manager would come back without its offset and
compare wrongly with ``datetime.now(UTC)``. :class:`UTCDateTime` stores every value as UTC
(naive text on SQLite, ``timestamptz`` on PostgreSQL) and always returns an aware UTC
datetime. Naive input is refused rather than guessed at: a naive value is a bug in the
caller (``datetime.utcnow()`` or a local time), and silently storing it would shift times.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the store's only clock)."""
    return datetime.now(UTC)


class NaiveDatetimeError(ValueError):
    """A naive datetime reached the store; every timestamp must carry a timezone."""


def to_utc(value: datetime) -> datetime:
    """``value`` converted to UTC; NaiveDatetimeError when it has no timezone."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"naive datetime {value.isoformat()} given to the store: pass an aware datetime "
            "(datetime.now(UTC), or .replace(tzinfo=UTC) when the value is known to be UTC)"
        )
    return value.astimezone(UTC)


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
        if value is None:
            return None
        if isinstance(value, str):  # a value written by hand (raw SQL) on SQLite
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def dump_json(value: Any) -> str | None:
    """JSON text for a JSON-text column (compact, keys sorted so equal values compare equal)."""
    if value is None:
        return None
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def load_json(text: str | None) -> Any:
    """The value of a JSON-text column, or None when empty."""
    if not text:
        return None
    return json.loads(text)
