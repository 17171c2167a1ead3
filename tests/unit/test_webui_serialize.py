"""A whole listing encoded column by column (``serialize.row_json_encoder``) writes what a page
written row by row (``serialize.page_json``) and ``json.dumps`` write, for the values the
inline fast paths could get wrong: NaN and infinities, negative zero, huge numbers, booleans
and enums outside the flag columns, non-ASCII text, aware and naive datetimes."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta, timezone

from qbitrr_mqtt.store.listing import BOOL_COLUMNS, TIME_COLUMNS
from qbitrr_mqtt.webui.serialize import (
    TORRENT_FIELDS,
    page_json,
    page_of_rows,
    row_encoders,
    row_json_encoder,
    rows,
)


class Health(enum.StrEnum):
    STALLED = "stalled"


ODD = [
    float("nan"), float("inf"), float("-inf"), -0.0, 1e300, 5e-324, 0.1 + 0.2, 2**70, -(2**63),
    True, False, None, "", 'q"\\\t\n', "Фильм 电影 🎬\u2028", Health.STALLED, 7,
]  # fmt: skip
TIMES = [
    None,
    "2024-05-01 12:00:00.000000",
    "2024-05-01 12:00:00.123456",
    "2024-05-01T12:00:00",
    datetime(2024, 5, 1, 12, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(2024, 5, 1, 12),
]


def _values() -> list[tuple[object, ...]]:
    """Rows whose every column takes each odd value (or timestamp, or flag) in turn."""
    found = []
    for i in range(len(ODD) * 2):
        row = []
        for n, name in enumerate(TORRENT_FIELDS):
            if name in TIME_COLUMNS:
                row.append(TIMES[(i + n) % len(TIMES)])
            elif name in BOOL_COLUMNS:
                row.append([None, 0, 1, True, False][(i + n) % 5])
            else:
                row.append(ODD[(i + n) % len(ODD)])
        found.append(tuple(row))
    return found


def test_a_listing_encoded_by_column_is_the_page_encoded_by_row() -> None:
    values = _values()
    encoded = row_json_encoder(TORRENT_FIELDS, TIME_COLUMNS, BOOL_COLUMNS)(values)
    encoding = row_encoders(TORRENT_FIELDS, TIME_COLUMNS, BOOL_COLUMNS)
    for limit, offset in ((1000, 0), (1, 0), (5, 3), (7, len(values) - 3), (3, 500)):
        window = values[offset : offset + limit]
        want = page_json("torrents", window, encoding, len(values), limit, offset)
        assert page_of_rows("torrents", encoded, len(values), limit, offset) == want


def test_rows_without_timestamp_text_are_what_json_dumps_writes() -> None:
    values = [
        tuple(None if n in TIME_COLUMNS else v for n, v in zip(TORRENT_FIELDS, r, strict=True))
        for r in _values()
    ]
    encoded = row_json_encoder(TORRENT_FIELDS, TIME_COLUMNS, frozenset())(values)
    dicts = rows([dict(zip(TORRENT_FIELDS, r, strict=True)) for r in values], TORRENT_FIELDS)
    assert encoded == [json.dumps(d).encode() for d in dicts]
    assert row_json_encoder(TORRENT_FIELDS, TIME_COLUMNS, BOOL_COLUMNS)([]) == []
