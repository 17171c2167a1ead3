"""The restart window: table-driven sequences of events with the time as input."""

from __future__ import annotations

from typing import Any

import pytest

from qbitrr_mqtt.bridge.restart_window import (
    RestartWindow,
    Verdict,
    WindowPolicy,
    policies,
)
from qbitrr_mqtt.config import config_from_dict

P = "manager-a"

# Each step: (time, event, kwargs) -> expected verdict (or None for events without one).
# Events: "exit" (unexpected), "clean" (expected exit), "fatal", "stop", "start" (manual),
# "retry" (supervisord's BACKOFF retry), "ours" (the STARTING of a restart we asked for,
# after due() returned it).
Step = tuple[float, str, Verdict | None]

CASES: dict[str, tuple[WindowPolicy, list[Step], dict[str, Any]]] = {
    "restarts up to max_restarts then gives up": (
        WindowPolicy(max_restarts=2, restart_window=60, restart_delay=5),
        [
            (0, "exit", Verdict.RESTART),
            (10, "exit", Verdict.RESTART),
            (20, "exit", Verdict.GIVE_UP),
        ],
        {"limit": True},
    ),
    "exits outside the window are forgotten": (
        WindowPolicy(max_restarts=2, restart_window=60, restart_delay=5),
        [
            (0, "exit", Verdict.RESTART),
            (30, "exit", Verdict.RESTART),
            (61, "exit", Verdict.RESTART),  # the exit at 0 left the window
            (89, "exit", Verdict.GIVE_UP),  # 30, 61, 89: three within 60 s
        ],
        {"limit": True},
    ),
    "exactly window seconds later no longer counts": (
        WindowPolicy(max_restarts=1, restart_window=60, restart_delay=0),
        [(0, "exit", Verdict.RESTART), (60, "exit", Verdict.RESTART)],
        {"limit": False, "count_at": (60, 1)},
    ),
    "autorestart false never restarts nor gives up": (
        WindowPolicy(autorestart=False, max_restarts=1),
        [(0, "exit", Verdict.LEAVE), (1, "exit", Verdict.LEAVE), (2, "exit", Verdict.LEAVE)],
        {"limit": False},
    ),
    "unexpected: clean exit is left alone and not counted": (
        WindowPolicy(autorestart="unexpected", max_restarts=1, restart_window=60),
        [(0, "clean", Verdict.LEAVE), (1, "exit", Verdict.RESTART), (2, "clean", Verdict.LEAVE)],
        {"limit": False, "count_at": (2, 1)},
    ),
    "true: clean exit restarted but not counted": (
        WindowPolicy(autorestart=True, max_restarts=1, restart_window=60),
        [
            (0, "clean", Verdict.RESTART),
            (1, "clean", Verdict.RESTART),
            (2, "exit", Verdict.RESTART),
            (3, "clean", Verdict.RESTART),
            (4, "exit", Verdict.GIVE_UP),
        ],
        {"limit": True},
    ),
    "manual start clears the limit and the count": (
        WindowPolicy(max_restarts=1, restart_window=600),
        [
            (0, "exit", Verdict.RESTART),
            (1, "exit", Verdict.GIVE_UP),
            (5, "start", None),
            (6, "exit", Verdict.RESTART),
        ],
        {"limit": False, "count_at": (6, 1)},
    ),
    "our own restart does not clear the count": (
        WindowPolicy(max_restarts=1, restart_window=600, restart_delay=2),
        [(0, "exit", Verdict.RESTART), (2, "ours", None), (3, "exit", Verdict.GIVE_UP)],
        {"limit": True},
    ),
    "supervisord BACKOFF retries do not clear the count": (
        WindowPolicy(max_restarts=1, restart_window=600),
        [(0, "exit", Verdict.RESTART), (1, "retry", None), (2, "exit", Verdict.GIVE_UP)],
        {"limit": True},
    ),
    "FATAL is given up at once": (
        WindowPolicy(max_restarts=5),
        [(0, "fatal", Verdict.GIVE_UP)],
        {"limit": True},
    ),
    "FATAL then a manual start clears it": (
        WindowPolicy(max_restarts=5),
        [(0, "fatal", Verdict.GIVE_UP), (9, "start", None)],
        {"limit": False},
    ),
    "after giving up further exits are left alone": (
        WindowPolicy(max_restarts=1, restart_window=600),
        [(0, "exit", Verdict.RESTART), (1, "exit", Verdict.GIVE_UP), (2, "exit", Verdict.LEAVE)],
        {"limit": True},
    ),
}


def apply(window: RestartWindow, now: float, event: str) -> Verdict | None:
    if event in ("exit", "clean"):
        return window.exited(P, expected=event == "clean", now=now).verdict
    if event == "fatal":
        return window.fatal(P, now=now).verdict
    if event == "stop":
        window.stopped(P, now=now)
    elif event == "start":
        window.started(P, from_state="EXITED", now=now)
    elif event == "retry":
        window.started(P, from_state="BACKOFF", now=now)
    elif event == "ours":
        assert window.due(now) == [P]
        window.started(P, from_state="EXITED", now=now)
    return None


@pytest.mark.parametrize("name", list(CASES))
def test_sequences(name: str) -> None:
    policy, steps, expect = CASES[name]
    window = RestartWindow({P: policy})
    for now, event, verdict in steps:
        assert apply(window, now, event) == verdict, f"{name}: at t={now} {event}"
    assert window.limit_reached(P) is expect["limit"]
    if "count_at" in expect:
        at, count = expect["count_at"]
        assert window.restarts_in_window(P, at) == count


def test_restart_delay_is_honoured() -> None:
    window = RestartWindow({P: WindowPolicy(restart_delay=5)})
    decision = window.exited(P, expected=False, now=100)
    assert decision.verdict is Verdict.RESTART and decision.at == 105
    assert window.next_due() == 105
    assert window.due(104.9) == []
    assert window.due(105) == [P]
    assert window.due(106) == []  # issued once
    assert window.next_due() is None


def test_manual_stop_cancels_a_pending_restart() -> None:
    window = RestartWindow({P: WindowPolicy(restart_delay=5)})
    window.exited(P, expected=False, now=0)
    window.stopped(P, now=1)
    assert window.due(10) == [] and window.pending(P) is None


def test_manual_start_cancels_a_pending_restart_and_reports_clearing() -> None:
    window = RestartWindow({P: WindowPolicy(max_restarts=1, restart_delay=5)})
    window.exited(P, expected=False, now=0)
    assert window.started(P, from_state="EXITED", now=1) is False  # nothing was given up
    assert window.due(10) == []
    window.exited(P, expected=False, now=11)
    window.exited(P, expected=False, now=12)
    assert window.limit_reached(P)
    assert window.started(P, from_state="EXITED", now=13) is True


def test_give_up_reason_names_the_numbers() -> None:
    window = RestartWindow({P: WindowPolicy(max_restarts=2, restart_window=120)})
    for t in (0, 1):
        window.exited(P, expected=False, now=t)
    decision = window.exited(P, expected=False, now=2)
    assert decision.verdict is Verdict.GIVE_UP and decision.count == 3
    assert "3 times within 120 s" in decision.reason and "max_restarts 2" in decision.reason
    assert window.reason(P) == decision.reason


def test_programs_without_policy_are_left_to_supervisord() -> None:
    window = RestartWindow({P: WindowPolicy()})
    assert window.exited("bridge", expected=False, now=0).verdict is Verdict.LEAVE
    assert not window.manages("webui")
    assert window.started("bridge", from_state="FATAL", now=1) is False


def test_limits_are_per_program() -> None:
    other = "manager-b"
    window = RestartWindow({P: WindowPolicy(max_restarts=1), other: WindowPolicy(max_restarts=3)})
    for t in range(3):
        window.exited(P, expected=False, now=t)
        window.exited(other, expected=False, now=t)
    assert window.limit_reached(P) and not window.limit_reached(other)


def test_set_policies_keeps_history_of_remaining_programs() -> None:
    window = RestartWindow({P: WindowPolicy(max_restarts=1), "manager-b": WindowPolicy()})
    window.exited(P, expected=False, now=0)
    window.exited("manager-b", expected=False, now=0)
    window.set_policies({P: WindowPolicy(max_restarts=1)})
    assert window.exited(P, expected=False, now=1).verdict is Verdict.GIVE_UP
    assert not window.manages("manager-b") and window.restarts_in_window("manager-b", 1) == 0


def _config(supervisor: dict[str, Any], enabled: bool = True) -> Any:
    return config_from_dict(
        {
            "settings": {"max_restarts": 4, "restart_window": 100, "restart_delay": 7},
            "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
            "arr": {
                "a": {
                    "type": "radarr",
                    "url": "http://127.0.0.1:7878",
                    "api_key": "k" * 32,
                    "category": "a",
                    "supervisor": supervisor,
                },
                "off": {
                    "type": "sonarr",
                    "url": "http://127.0.0.1:8989",
                    "api_key": "k" * 32,
                    "category": "off",
                    "enabled": enabled,
                },
            },
        }
    )


def test_policies_from_config_use_settings_and_instance_overrides() -> None:
    found = policies(_config({"max_restarts": 2, "autorestart": "unexpected"}, enabled=False))
    assert set(found) == {"manager-a"}  # disabled instances have no program
    assert found["manager-a"] == WindowPolicy(
        autorestart="unexpected", max_restarts=2, restart_window=100, restart_delay=7
    )
    defaults = policies(_config({"restart_window": 30}))["manager-off"]
    assert defaults == WindowPolicy(
        autorestart=True, max_restarts=4, restart_window=100, restart_delay=7
    )
    assert policies(_config({"restart_window": 30}))["manager-a"].restart_window == 30
