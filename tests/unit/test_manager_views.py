"""The manager's pure pieces: qBittorrent/Arr data → policy views, and the backoff."""

from __future__ import annotations

import logging

import pytest

from qbitrr_mqtt.manager import views
from qbitrr_mqtt.manager.backoff import Backoff


@pytest.mark.parametrize(
    ("state", "health"),
    [("stalledDL", "stalled"), ("downloading", "downloading"), ("metaDL", "metadata"), ("uploading", "seeding"),
     ("stalledUP", "seeding"), ("pausedUP", "completed"), ("stoppedDL", "paused"), ("queuedDL", "queued"),
     ("checkingResumeData", "checking"), ("missingFiles", "errored"), ("error", "errored"), ("brand-new", "errored")],
)
def test_health_classes(state, health):
    assert views.health_of(state) == health


def test_torrent_view_maps_qbittorrent_fields():
    t = {"name": "Movie", "state": "stalledDL", "progress": 0.5, "size": 100, "downloaded": 50, "amount_left": 50,
         "tags": "a, qbitrr-protected ,", "category": "radarr", "added_on": 1000, "completion_on": -1,
         "availability": 0.2, "eta": 8640000, "tracker": ""}
    v = views.torrent_view("abc", t)
    assert v.tags == ("a", "qbitrr-protected")
    assert v.completion_on == 0.0 and v.availability == 0.2 and v.state == "stalledDL"
    assert views.torrent_view("abc", {**t, "private": True}).private is True
    assert views.torrent_view("abc", t, private=True).private is True


def test_queue_grouped_by_lower_case_hash_one_record_per_episode():
    records = [
        {"id": 1, "downloadId": "ABCDEF", "episodeId": 11, "status": "warning",
         "statusMessages": [{"title": "sample.mkv", "messages": ["Sample"]}]},
        {"id": 2, "downloadId": "ABCDEF", "episodeId": 12, "status": "warning"},
        {"id": 3, "downloadId": "FFFF", "movieId": 5},
        {"id": 4},  # no downloadId: not a torrent of ours
    ]
    grouped = views.queue_by_hash(records)
    assert set(grouped) == {"abcdef", "ffff"}
    assert [q.id for q in grouped["abcdef"]] == [1, 2]
    assert grouped["abcdef"][0].media_ids == (11,)
    assert grouped["abcdef"][0].status_messages == ("Sample",)  # titles (file names) dropped
    assert grouped["ffff"][0].media_ids == (5,)


def test_backoff_doubles_to_the_cap_and_logs_state_changes_once(caplog):
    b = Backoff("qBittorrent", initial=5, maximum=300)
    caplog.set_level(logging.DEBUG, "qbitrr.manager")
    delays = [b.failed("connection refused") for _ in range(9)]
    assert delays == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # not one per attempt
    b.succeeded()
    assert b.healthy and b.delay == 0
    assert any("reachable again after 9" in r.getMessage() for r in caplog.records)


def test_a_kept_row_holds_the_history_and_what_recording_and_publishing_read() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from qbitrr_mqtt.store.lean.tables import TorrentRow

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = TorrentRow(
        instance="radarr", hash="aa", name="n", category="c", state="stalledDL",
        health="stalled", progress=0.5, size=10, downloaded=5, added_on=at, first_seen=at,
        last_seen=at, last_activity=at, last_progress_bytes=5, strikes=2,
        strike_reason="stalled", last_strike_at=at, protected=False, private=False,
        tracker=None, arr_queue_id=None, media_id=None, imported=False,
        import_sent_at=at, last_action="strike", last_action_at=at, gone_at=None,
        last_recheck_at=None, rechecks=0, kept_for_hnr=False,
    )  # fmt: skip
    kept = views.kept_row(row)
    assert kept.history == views.history_of(row)
    assert (kept.downloaded, kept.gone, kept.queued, kept.last_action) == (5, False, True, "strike")
    assert not hasattr(kept, "__dict__")  # slotted: 10,000 of them are kept
    gone = views.kept_row(replace(row, import_sent_at=None, gone_at=at))
    assert (gone.gone, gone.queued) == (True, False)
    samples = [(1.0, 5)]
    assert views.history_with(kept, samples) == views.history_of(row, {"samples": samples})
    assert views.history_with(None, samples) == views.history_of(None, {"samples": samples})
