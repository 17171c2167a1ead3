"""A torrent's note is prose that counts time: on its own it must not cost a message per
cycle (the idle-cycle budget of issue 8), but it rides along with any real change."""

from __future__ import annotations

import json

from qbitrr_mqtt.mqtt.publisher import StatePublisher
from qbitrr_mqtt.mqtt.topics import Topics


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def publish(self, topic: str, payload: object = None, *, retain: bool = False) -> bool:
        self.sent.append((topic, str(payload)))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def torrent(note: str, state: str = "stalledDL") -> dict[str, object]:
    return {"name": "A", "state": state, "strikes": 0, "note": note}


def test_a_note_that_only_counts_time_is_sent_at_most_every_volatile_interval() -> None:
    rec, clock = Recorder(), Clock()
    pub = StatePublisher(rec, Topics(), volatile_interval=300, clock=clock)
    assert pub.publish_torrent("radarr", "abc", torrent("stalled for 1 min"))
    for minute in range(2, 5):
        clock.now += 60
        assert not pub.publish_torrent("radarr", "abc", torrent(f"stalled for {minute} min"))
    clock.now += 240
    assert pub.publish_torrent("radarr", "abc", torrent("stalled for 9 min"))
    assert len(rec.sent) == 2
    assert json.loads(rec.sent[-1][1])["note"] == "stalled for 9 min"


def test_a_real_change_is_sent_at_once_with_the_newest_note() -> None:
    rec, clock = Recorder(), Clock()
    pub = StatePublisher(rec, Topics(), volatile_interval=300, clock=clock)
    pub.publish_torrent("radarr", "abc", torrent("stalled for 1 min"))
    clock.now += 60
    assert pub.publish_torrent("radarr", "abc", torrent("stalled for 2 min", state="pausedDL"))
    body = json.loads(rec.sent[-1][1])
    assert body["state"] == "pausedDL" and body["note"] == "stalled for 2 min"
