"""Store rows → the API's JSON objects.

The API's field lists are written out here (and in ``schemas.py``) rather than dumping
whatever the table holds: the HTTP contract stays stable when a table gains a column, and a
column the API promises but the table lacks fails loudly in the tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

TORRENT_FIELDS = (
    "instance", "hash", "name", "category", "state", "health", "progress", "size", "downloaded",
    "added_on", "first_seen", "last_seen", "last_activity", "strikes", "strike_reason",
    "last_strike_at", "protected", "private", "tracker", "media_id", "imported", "last_action",
    "last_action_at", "gone_at",
)  # fmt: skip
ACTION_FIELDS = (
    "id", "instance", "hash", "name", "action", "reason", "media_id", "status", "error",
    "dry_run", "created_at", "finished_at",
)  # fmt: skip
SEARCH_FIELDS = (
    "id",
    "instance",
    "media_id",
    "kind",
    "arr_command_id",
    "status",
    "created_at",
    "finished_at",
)
COMMAND_FIELDS = (
    "id", "command", "instance", "payload", "source", "transaction", "status", "result", "error",
    "created_at", "started_at", "finished_at",
)  # fmt: skip
PROCESS_EVENT_FIELDS = ("id", "name", "from_state", "to_state", "pid", "expected", "detail", "at")
INSTANCE_STATE_FIELDS = (
    "qbit_connected", "arr_connected", "counts", "queue_size", "dry_run", "last_cycle_at",
    "last_cycle_duration", "heartbeat_at", "error",
)  # fmt: skip
#: Columns stored as JSON text.
JSON_TEXT = frozenset({"payload", "result", "counts"})
#: Defaults for columns that are never null in the API.
NOT_NULL = {"strikes": 0, "protected": False, "imported": False, "dry_run": False, "payload": {}}


def iso(value: datetime) -> str:
    """ISO 8601 with an offset; SQLite returns naive datetimes that the store wrote as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def value_of(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return row.get(name)
    return getattr(row, name)


def plain(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if name in JSON_TEXT and isinstance(value, str | bytes):
        try:
            return json.loads(value) if value else None
        except ValueError:
            return value
    if hasattr(value, "value") and type(value).__module__ != "builtins":  # enums
        return value.value
    return value


#: Values that go into JSON as they are (exact types: an enum subclassing str is not one).
_AS_IS = frozenset({str, int, float, bool})


def row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """``fields`` of a model object or dict as JSON values (the list routes call this for
    every row of a page, so the common types are handled inline)."""
    get = obj.get if isinstance(obj, dict) else obj.__getattribute__
    out = {}
    for name in fields:
        value = get(name)
        if value is None:
            value = NOT_NULL.get(name)
        elif type(value) is datetime:
            value = iso(value)
        elif type(value) not in _AS_IS or name in JSON_TEXT:
            value = plain(name, value)
            if value is None:
                value = NOT_NULL.get(name)
        out[name] = value
    return out


def rows(objs: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [row(o, fields) for o in objs]


# --- JSON text straight from the driver's values ----------------------------------------
#
# ``GET /api/v1/torrents`` is polled by every open dashboard; building a dict per row and
# handing the page to ``json.dumps`` cost three times the query. The functions below write
# the same text ``json.dumps(rows(...))`` writes (same key order, separators, escaping and
# number formats; the tests compare them) from the row tuples of
# ``Store.torrent_page_values``, with one encoder per column chosen once.

_FLOAT_SPECIAL = {float("inf"): "Infinity", float("-inf"): "-Infinity"}
_esc = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii)


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    return _FLOAT_SPECIAL.get(value) or float.__repr__(value)


def _generic(name: str) -> Any:
    """The encoder of a column of no special kind: the common types inline, anything else
    (enums, JSON text, datetimes) through :func:`row`, exactly as the dict path does."""
    default = json.dumps(NOT_NULL.get(name))

    def encode(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return _esc(value)
        if value is None:
            return default
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return int.__repr__(value)
        if kind is float:
            return _float(value)
        return json.dumps(row({name: value}, (name,))[name])

    return encode


def _timestamp(name: str) -> Any:
    """The encoder of a timestamp column: SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive
    UTC, as SQLAlchemy writes it) becomes ``datetime.isoformat()``'s text by slicing;
    datetimes (PostgreSQL) and any other text go through ``iso``."""
    generic = _generic(name)

    def encode(value: Any) -> str:
        if (
            type(value) is str
            and len(value) == 26
            and value[10] == " "
            and value[19] == "."
            and value[13] == ":"
            and value[16] == ":"
        ):
            if value.endswith("000000"):  # isoformat leaves out a zero fraction
                return f'"{value[:10]}T{value[11:19]}+00:00"'
            return f'"{value[:10]}T{value[11:]}+00:00"'
        if type(value) is str:
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return f'"{iso(value.astimezone(UTC) if value.tzinfo else value)}"'
        return generic(value)

    return encode


def _flag(name: str) -> Any:
    """The encoder of a boolean column (SQLite's driver answers 0/1)."""
    default = json.dumps(NOT_NULL.get(name))

    def encode(value: Any) -> str:
        if value is None:
            return default
        return "true" if value else "false"

    return encode


def row_encoders(
    fields: tuple[str, ...], timestamps: frozenset[str], flags: frozenset[str] = frozenset()
) -> tuple[str, list[Any]]:
    """A ``%``-template of one row's JSON object and the encoder of each field's value
    (``timestamps`` and boolean ``flags`` name the columns of those kinds)."""
    template = "{" + ", ".join(f"{json.dumps(name)}: %s" for name in fields) + "}"
    encoders = [
        _timestamp(n) if n in timestamps else _flag(n) if n in flags else _generic(n)
        for n in fields
    ]
    return template, encoders


def page_json(
    key: str,
    values: Any,
    encoding: tuple[str, list[Any]],
    total: int,
    limit: int,
    offset: int,
) -> bytes:
    """``json.dumps({key: rows, "total", "limit", "offset"})`` from row tuples, as bytes."""
    template, encoders = encoding
    items = ", ".join(
        [template % tuple([enc(v) for enc, v in zip(encoders, r, strict=True)]) for r in values]
    )
    return (
        f'{{{_esc(key)}: [{items}], "total": {total}, "limit": {limit}, "offset": {offset}}}'
    ).encode("ascii")


def _column(name: str, encode: Any, timestamps: frozenset[str], flags: frozenset[str]) -> Any:
    """A function encoding a whole column with ``encode``'s output, the common values inline
    (a Python call per value was most of the cost) and each distinct timestamp once (the
    torrents of one cycle share ``first_seen`` and ``last_seen``)."""
    default = json.dumps(NOT_NULL.get(name))
    if name in flags:
        return lambda col: [default if v is None else "true" if v else "false" for v in col]
    if name in timestamps:

        def times(col: Any) -> list[str]:
            seen: dict[Any, str] = {None: default}
            found = seen.get
            return [found(v) or seen.setdefault(v, encode(v)) for v in col]

        return times

    def values(col: Any) -> list[str]:
        return [
            _esc(v)
            if (kind := type(v)) is str
            else default
            if v is None
            else int.__repr__(v)
            if kind is int
            else float.__repr__(v)
            if kind is float and v - v == 0  # finite: not NaN nor infinite
            else encode(v)
            for v in col
        ]

    return values


def row_json_encoder(
    fields: tuple[str, ...], timestamps: frozenset[str], flags: frozenset[str] = frozenset()
) -> Any:
    """A function from many row tuples to each row's JSON object as bytes: what
    :func:`page_json` writes for that row, encoded column by column (a whole listing at
    once; ``fields``, ``timestamps`` and ``flags`` as for :func:`row_encoders`)."""
    template, encoders = row_encoders(fields, timestamps, flags)
    columns = [_column(n, e, timestamps, flags) for n, e in zip(fields, encoders, strict=True)]

    def encode(values: Any) -> list[bytes]:
        if not values:
            return []
        encoded = [
            column(col) for column, col in zip(columns, zip(*values, strict=True), strict=True)
        ]
        return [(template % r).encode("ascii") for r in zip(*encoded, strict=True)]

    return encode


def page_of_rows(key: str, rows: list[bytes], total: int, limit: int, offset: int) -> bytes:
    """:func:`page_json`'s text for ``rows[offset:offset + limit]`` of a listing encoded by
    :func:`row_json_encoder` (``total``: the listing's length)."""
    return b"".join(
        (
            b"{%s: [" % _esc(key).encode("ascii"),
            b", ".join(rows[offset : offset + limit]),
            b'], "total": %d, "limit": %d, "offset": %d}' % (total, limit, offset),
        )
    )
