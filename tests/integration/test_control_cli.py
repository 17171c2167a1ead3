"""``qbitrr-mqtt status`` / ``restart`` / ``run-now`` as a user runs them, against a real
supervisord, events listener and store (managers are stand-ins, see bridge_stack.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from bridge_stack import Stack, make_stack, wait_for

from qbitrr_mqtt.control import run_inbox_command

pytestmark = pytest.mark.slow


@pytest.fixture
def stack() -> Iterator[Stack]:
    with make_stack() as s:
        yield s


def rows(table: str) -> dict[str, list[str]]:
    """First column -> the row's cells, for every table line."""
    return {line.split()[0]: line.split() for line in table.splitlines() if line.strip()}


def test_status_shows_programs_counts_and_restart_limit(stack: Stack) -> None:
    stack.instance("a")
    stack.instance("b", mode="crash", startretries=1)
    stack.start()
    a = stack.pid("manager-a")
    stack.wait_state("manager-b", "FATAL")
    wait_for(
        lambda: (h := stack.store().get_process_health("manager-b")) and h.restart_limit_reached,
        "manager-b given up",
    )
    stack.store().upsert_instance_state(
        "a",
        qbit_connected=True,
        arr_connected=True,
        counts={"downloading": 4, "stalled": 2, "seeding": 7},
        queue_size=6,
    )

    done = stack.cli("status")
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert table["manager-a"][1:3] == ["RUNNING", str(a)]
    assert table["manager-b"][1] == "FATAL" and "restart limit reached" in done.stdout
    assert {"bridge", "webui", "events"} <= set(table)
    # Instance section: qbit, arr, downloading, stalled, seeding, queued, errored, queue.
    assert table["a"][2:10] == ["yes", "yes", "4", "2", "7", "0", "0", "6"]
    assert table["b"][-3:] == ["no", "cycle", "yet"]
    assert done.stdout.count("restart limit reached") == 1 and done.stderr == ""

    # Nothing runs manager-b: a command for it is refused at once, not left queued.
    refused = stack.cli("run-now", "b")
    assert refused.returncode == 1 and "manager-b is FATAL" in refused.stderr
    assert "qbitrr-mqtt restart b" in refused.stderr
    assert stack.store().list_commands("b")[1] == 0


def test_restart_by_instance_or_program_and_errors(stack: Stack) -> None:
    stack.instance("a")
    stack.start()
    old = stack.pid("manager-a")

    done = stack.cli("restart", "manager-a")
    assert done.returncode == 0, done.stderr
    new = stack.pid("manager-a")
    assert new != old and done.stdout.strip() == f"manager-a restarted (pid {new})"

    done = stack.cli("restart", "a")
    assert done.returncode == 0 and stack.pid("manager-a") not in (old, new)

    done = stack.cli("restart", "manager-x")
    assert done.returncode == 2 and done.stdout == ""
    assert "unknown instance 'manager-x' (known: a)" in done.stderr
    assert "Traceback" not in done.stderr

    webui = stack.pid("webui")
    done = stack.cli("restart", "webui")
    assert done.returncode == 0 and stack.pid("webui") != webui


def test_run_now_waits_for_the_manager(stack: Stack) -> None:
    stack.instance("a")
    stack.start()
    store = stack.store()
    stop = threading.Event()
    seen: list[Any] = []

    def consume() -> None:  # what the manager does with its inbox
        while not stop.is_set():
            row = store.claim_next_command("a")
            if row is not None:
                seen.append(row)
                store.finish_command(row.id, {"cycle": 1})
            stop.wait(0.1)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        done = stack.cli("run-now", "a")
        searched = stack.cli("search", "a", "--media-id", "12", "--media-id", "12")
    finally:
        stop.set()
        consumer.join(10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'run_now on a: done: {"cycle": 1}'
    assert searched.returncode == 0, searched.stderr
    assert [(r.command, r.source) for r in seen] == [("run_now", "cli"), ("search", "cli")]
    assert json.loads(seen[1].payload) == {"media_ids": [12]}  # validated: duplicates dropped

    bad = stack.cli("run-now", "nope")
    assert bad.returncode == 2 and "unknown instance 'nope'" in bad.stderr


def test_unanswered_command_times_out_and_stays_queued(stack: Stack, capsys: Any) -> None:
    stack.instance("a")
    stack.render()  # supervisord is not started: nobody takes the command
    store = stack.store()
    code = run_inbox_command(stack.config, "run_now", "a", {}, timeout=0.5, store=store)
    err = capsys.readouterr().err
    assert code == 1
    assert "no outcome within 0.5 s" in err and "supervisord is not reachable" in err
    rows_, total = store.list_commands("a")
    assert total == 1 and rows_[0].status == "pending"


def test_supervisord_not_running(stack: Stack) -> None:
    stack.instance("a")
    stack.render()

    done = stack.cli("status")
    assert done.returncode == 1
    assert "supervisord is not reachable" in done.stdout and "qbitrr-mqtt run" in done.stdout
    assert "no database yet" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr

    done = stack.cli("restart", "a")
    assert done.returncode == 1 and "supervisord is not reachable" in done.stderr
    assert "Traceback" not in done.stderr
