"""What the manager compares to decide whether a torrent's row needs writing again."""

from __future__ import annotations

from datetime import UTC, datetime

from qbitrr_mqtt.manager.loop import _stable


def test_activity_fields_are_not_compared_and_only_an_int_is_kept() -> None:
    base = {"hash": "aa", "state": "stalledUP", "downloaded": 5, "added_on": None}
    first = _stable({**base, "last_activity": datetime.now(UTC), "last_progress_bytes": 5})
    again = _stable(dict(base))
    assert first == again and type(first) is int  # not the values: 10,000 of them are kept


def test_any_other_field_or_a_missing_key_is_a_difference() -> None:
    base = {"hash": "aa", "state": "stalledUP", "downloaded": 5}
    assert _stable({**base, "downloaded": 6}) != _stable(base)
    assert _stable({**base, "state": "pausedUP"}) != _stable(base)
    assert _stable({**base, "arr_queue_id": None}) != _stable(base)  # a key with None
