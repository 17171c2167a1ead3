"""The event-listener protocol, process health records and the status table (no supervisord)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbitrr_mqtt.bridge.events import EventParser, ProcessStateEvent, parse_tokens
from qbitrr_mqtt.bridge.health import (
    HealthTracker,
    JsonHealthFile,
    ProcessEventRecord,
    ProcessHealthRecord,
    StoreSink,
    read_health_file,
)
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.supervisor.rpc import ProcessInfo, SupervisorClient, SupervisorError
from qbitrr_mqtt.supervisor.run import status_rows, status_table

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def frame(eventname: str, payload: str, serial: int = 1) -> bytes:
    body = payload.encode()
    header = (
        f"ver:3.0 server:supervisor serial:{serial} pool:events poolserial:{serial} "
        f"eventname:{eventname} len:{len(body)}\n"
    )
    return header.encode() + body


def test_parse_tokens() -> None:
    assert parse_tokens("a:1 b:two c:") == {"a": "1", "b": "two", "c": ""}


def test_parser_handles_split_and_joined_frames() -> None:
    data = frame(
        "PROCESS_STATE_EXITED",
        "processname:manager-a groupname:manager-a from_state:RUNNING expected:0 pid:4242",
        7,
    ) + frame("PROCESS_STATE_STARTING", "processname:x groupname:x from_state:EXITED tries:0", 8)
    parser = EventParser()
    got = []
    for i in range(0, len(data), 5):  # dribble five bytes at a time
        got += list(parser.feed(data[i : i + 5]))
    assert [h["serial"] for h, _ in got] == ["7", "8"]
    exited = ProcessStateEvent.parse(*got[0])
    assert exited.state == "EXITED" and exited.program == "manager-a"
    assert exited.pid == 4242 and exited.expected is False and exited.from_state == "RUNNING"
    assert exited.serial == 7
    starting = ProcessStateEvent.parse(*got[1])
    assert starting.state == "STARTING" and starting.tries == 0 and starting.expected is None


def test_group_and_process_names_combine() -> None:
    header = {"eventname": "PROCESS_STATE_FATAL", "serial": "1"}
    event = ProcessStateEvent.parse(header, "processname:p_01 groupname:pool from_state:BACKOFF")
    assert event.program == "pool:p_01" and event.pid is None


class Recorder:
    """A sink that keeps what it was given, to check what the tracker writes."""

    def __init__(self) -> None:
        self.events: list[ProcessEventRecord] = []
        self.health: list[ProcessHealthRecord] = []

    def write_event(self, event: ProcessEventRecord) -> None:
        self.events.append(event)

    def write_health(self, health: ProcessHealthRecord) -> None:
        self.health.append(health)


def feed(tracker: HealthTracker, name: str, steps: list[tuple[str, str, int | None]]) -> None:
    for i, (old, new, pid) in enumerate(steps):
        tracker.on_event(
            name,
            from_state=old,
            to_state=new,
            pid=pid,
            expected=False if new == "EXITED" else None,
            at=T0 + timedelta(seconds=i),
            detail="exit code 3 (unexpected)" if new == "EXITED" else None,
        )


def test_tracker_counts_restarts_after_exits_only() -> None:
    sink = Recorder()
    tracker = HealthTracker([sink])
    feed(
        tracker,
        "manager-a",
        [
            ("STOPPED", "STARTING", None),  # first start: not a restart
            ("STARTING", "RUNNING", 100),
            ("RUNNING", "EXITED", 100),
            ("EXITED", "STARTING", None),  # restart 1
            ("STARTING", "BACKOFF", None),
            ("BACKOFF", "STARTING", None),  # restart 2 (supervisord's retry)
            ("STARTING", "RUNNING", 101),
            ("RUNNING", "STOPPING", 101),
            ("STOPPING", "STOPPED", 101),
            ("STOPPED", "STARTING", None),  # manual restart: not counted
            ("STARTING", "RUNNING", 102),
        ],
    )
    rec = tracker.get("manager-a")
    assert rec.state == "RUNNING" and rec.pid == 102
    assert rec.restart_count == 2
    assert rec.last_restart == T0 + timedelta(seconds=5)
    assert rec.started_at == T0 + timedelta(seconds=10)
    assert rec.last_exit == "exit code 3 (unexpected)"
    assert len(sink.events) == 11 and sink.events[2].to_state == "EXITED"
    assert sink.health[-1] == rec


def test_limit_is_reported_with_its_reason_and_cleared() -> None:
    sink = Recorder()
    tracker = HealthTracker([sink])
    feed(tracker, "manager-a", [("STARTING", "RUNNING", 5), ("RUNNING", "EXITED", 5)])
    tracker.set_limit("manager-a", True, T0, "restart limit reached: exited 3 times")
    rec = tracker.get("manager-a")
    assert rec.restart_limit_reached is True
    assert rec.last_exit == "exit code 3 (unexpected); restart limit reached: exited 3 times"
    assert sink.events[-1].detail == "restart limit reached: exited 3 times"
    tracker.set_limit("manager-a", False, T0)
    assert tracker.get("manager-a").restart_limit_reached is False


def test_resync_fills_missing_programs_and_marks_fatal() -> None:
    tracker = HealthTracker([])
    infos = [
        ProcessInfo.from_rpc(
            {"name": "bridge", "group": "bridge", "statename": "RUNNING", "pid": 9, "start": 100}
        ),
        ProcessInfo.from_rpc(
            {"name": "webui", "group": "webui", "statename": "FATAL", "spawnerr": "Exited too"}
        ),
    ]
    changed = tracker.resync(infos, T0)
    assert {r.name for r in changed} == {"bridge", "webui"}
    assert tracker.get("bridge").pid == 9 and tracker.get("bridge").started_at is not None
    assert tracker.get("webui").restart_limit_reached is True
    assert tracker.get("webui").last_exit == "Exited too"
    assert tracker.resync(infos, T0 + timedelta(seconds=1)) == []  # nothing new


def test_a_failing_sink_does_not_stop_the_tracker(tmp_path: Path) -> None:
    class Broken:
        def write_event(self, event: ProcessEventRecord) -> None:
            raise RuntimeError("database is down")

        def write_health(self, health: ProcessHealthRecord) -> None:
            raise RuntimeError("database is down")

    snapshot = JsonHealthFile(tmp_path / "health.json")
    tracker = HealthTracker([Broken(), snapshot])
    feed(tracker, "manager-a", [("STARTING", "RUNNING", 7)])
    assert read_health_file(tmp_path / "health.json")["manager-a"].pid == 7


def test_health_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "health.json"
    sink = JsonHealthFile(path)
    rec = ProcessHealthRecord(
        "manager-a", "RUNNING", 4, T0, 2, "exit code 1 (unexpected)", T0, True, T0
    )
    sink.write_health(rec)
    sink.write_health(ProcessHealthRecord("bridge", updated_at=T0))
    assert read_health_file(path) == {
        "manager-a": rec,
        "bridge": ProcessHealthRecord("bridge", updated_at=T0),
    }
    assert read_health_file(tmp_path / "missing.json") == {}


def test_store_sink_writes_store_rows(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    tracker = HealthTracker([StoreSink(store)])
    feed(
        tracker,
        "manager-a",
        [("STARTING", "RUNNING", 5), ("RUNNING", "EXITED", 5), ("EXITED", "STARTING", None)],
    )
    tracker.set_limit("manager-a", True, T0 + timedelta(seconds=9), "restart limit reached")
    [row] = store.list_process_health()
    assert row.name == "manager-a" and row.state == "STARTING" and row.restart_count == 1
    assert row.restart_limit_reached is True and "restart limit reached" in row.last_exit
    assert row.last_restart == T0 + timedelta(seconds=2)
    events, total = store.list_process_events("manager-a")
    assert total == 4
    assert events[0].detail == "restart limit reached"  # newest first
    assert [e.to_state for e in events[1:]] == ["STARTING", "EXITED", "RUNNING"]


def test_status_rows_merge_live_and_health() -> None:
    live = [
        ProcessInfo.from_rpc(
            {"name": "manager-a", "group": "manager-a", "statename": "RUNNING", "pid": 3,
             "start": 100, "now": 160}
        ),
        ProcessInfo.from_rpc({"name": "manager-b", "group": "manager-b", "statename": "EXITED"}),
    ]  # fmt: skip
    health = {
        "manager-a": ProcessHealthRecord("manager-a", restart_count=2, last_restart=T0),
        "manager-b": ProcessHealthRecord(
            "manager-b", restart_limit_reached=True, last_exit="exit code 3; restart limit reached"
        ),
    }
    rows = {r["name"]: r for r in status_rows(live, health)}
    assert rows["manager-a"]["uptime"] == 60 and rows["manager-a"]["restarts"] == 2
    assert rows["manager-b"]["note"].startswith("restart limit reached: exit code 3")
    assert [r["name"] for r in status_rows(None, health)] == ["manager-a", "manager-b"]


def test_status_table_when_supervisord_is_down(tmp_path: Path) -> None:
    class Cfg:
        class settings:  # noqa: N801 - shaped like Config.settings
            data_dir = tmp_path

    JsonHealthFile(tmp_path / "supervisor" / "health.json").write_health(
        ProcessHealthRecord("manager-a", "RUNNING", 12, restart_count=1, updated_at=T0)
    )
    client = SupervisorClient(tmp_path / "supervisor.sock", timeout=2)
    with pytest.raises(SupervisorError) as err:
        client.status()
    assert err.value.kind == "unreachable" and "no such socket" in str(err.value)
    text = status_table(Cfg, client=client)
    assert "not reachable" in text and "Last known state" in text
    assert "manager-a" in text and "RUNNING" in text and " 12 " in text
