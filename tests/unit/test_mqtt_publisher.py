"""Change-only publishing: an idle cycle sends nothing; changes, clears and events do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from qbitrr_mqtt.mqtt.payloads import EventPayload, ProcessPayload, StatePayload
from qbitrr_mqtt.mqtt.publisher import StatePublisher
from qbitrr_mqtt.mqtt.topics import Topics

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
H1, H2 = "a" * 40, "b" * 40


class Recorder:
    """Stands in for the connection: keeps what would go to the broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bool]] = []

    def publish(self, topic: str, payload: object = None, *, retain: bool = False) -> bool:
        self.sent.append((topic, str(payload), retain))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[StatePublisher, Recorder, Clock]:
    rec, clock = Recorder(), Clock()
    return StatePublisher(rec, Topics(), volatile_interval=300, clock=clock), rec, clock


def state(at: datetime, **kw: object) -> StatePayload:
    return StatePayload(counts={"seeding": 3}, last_cycle_at=at, last_cycle_duration=0.5, **kw)  # type: ignore[arg-type]


def test_idle_cycle_publishes_nothing():
    pub, rec, clock = make()
    assert pub.publish_state("radarr", state(T0))
    assert pub.sync_torrents("radarr", {H1: {"state": "seeding"}}) == 1
    before = pub.sent
    # the next cycle a minute later finds the same queue: nothing goes out
    clock.now += 60
    assert not pub.publish_state("radarr", state(T0 + timedelta(minutes=1)))
    assert pub.sync_torrents("radarr", {H1: {"state": "seeding"}}) == 0
    assert pub.sent == before and len(rec.sent) == before
    topic, payload, retain = rec.sent[0]
    assert topic == "qbitrr/radarr/state" and retain
    assert json.loads(payload)["counts"] == {
        "downloading": 0,
        "stalled": 0,
        "seeding": 3,
        "queued": 0,
        "errored": 0,
    }


def test_real_changes_are_published_at_once_and_volatile_ones_at_most_every_interval():
    pub, rec, clock = make()
    pub.publish_state("radarr", state(T0))
    clock.now += 10
    assert pub.publish_state("radarr", state(T0, dry_run=True))  # a real change
    clock.now += 299
    assert not pub.publish_state("radarr", state(T0 + timedelta(minutes=5), dry_run=True))
    clock.now += 2
    assert pub.publish_state("radarr", state(T0 + timedelta(minutes=6), dry_run=True))
    assert len(rec.sent) == 3
    assert json.loads(rec.sent[-1][1])["last_cycle_at"] == (T0 + timedelta(minutes=6)).isoformat()


def test_gone_torrents_are_cleared_once_with_an_empty_retained_payload():
    pub, rec, _ = make()
    pub.sync_torrents("radarr", {H1: {"p": 1}, H2.upper(): {"p": 2}})
    pub.sync_torrents("radarr", {H2: {"p": 2}})
    assert rec.sent[-1] == (f"qbitrr/radarr/torrents/{H1}", "", True)
    n = len(rec.sent)
    assert not pub.clear_torrent("radarr", H1)
    assert pub.sync_torrents("radarr", {H2: {"p": 2}}) == 0 and len(rec.sent) == n
    # a torrent coming back is published again
    assert pub.publish_torrent("radarr", H1, {"p": 1})


def test_adopting_retained_state_after_a_restart():
    pub, rec, _ = make()
    pub.adopt(
        {f"qbitrr/radarr/torrents/{H1}": b'{"p":1}', f"qbitrr/radarr/torrents/{H2}": '{"p":2}'}
    )
    assert pub.sync_torrents("radarr", {H1: {"p": 1}}) == 1  # only the clear of H2
    assert rec.sent == [(f"qbitrr/radarr/torrents/{H2}", "", True)]


def test_events_are_never_retained_and_always_sent():
    pub, rec, _ = make()
    ev = EventPayload("removed", hash=H1.upper(), name="x", reason="stalled", media_id=5, at=T0)
    pub.publish_event("radarr", ev)
    pub.publish_event("radarr", ev)
    assert [r[2] for r in rec.sent] == [False, False]
    body = json.loads(rec.sent[0][1])
    assert body == {
        "event_type": "removed",
        "hash": H1,
        "name": "x",
        "reason": "stalled",
        "media_id": 5,
        "at": T0.isoformat(),
        "dry_run": False,
    }


def test_republish_sends_latest_values_and_process_uptime_is_volatile():
    pub, rec, clock = make()
    pub.publish_process("radarr", ProcessPayload("RUNNING", pid=1, uptime=5))
    clock.now += 30
    assert not pub.publish_process("radarr", ProcessPayload("RUNNING", pid=1, uptime=35))
    assert pub.publish_process("radarr", ProcessPayload("EXITED", pid=None, uptime=None))
    pub.clear_torrent("radarr", H1)
    rec.sent.clear()
    assert pub.republish() == 1  # cleared topics are not re-sent
    assert json.loads(rec.sent[0][1])["state"] == "EXITED"


def test_one_bytes_object_per_torrent_topic_holds_what_was_sent():
    """Two digests side by side (what was sent, and it without the volatile keys): 10,000
    torrent topics keep one small object each, and an equal payload keeps its text object."""
    pub, rec, clock = make()
    pub.publish_torrent("radarr", H1, {"state": "seeding", "note": None})
    topic = Topics().torrent("radarr", H1)
    assert len(pub._sent[topic]) == 32
    text = pub._latest[topic]
    assert not pub.publish_torrent("radarr", H1, {"state": "seeding", "note": None})
    assert pub._latest[topic] is text
    assert not hasattr(pub, "_last") and not hasattr(pub, "_stable")
