"""The benchmark harness works end to end (``python -m bench --smoke``: N = 200, 1 repeat).

Speeds are not asserted (benchmarks are not timed tests); the result file must hold every
figure of every scenario, each actually measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

STEADY_FIGURES = [
    f"{kind}.{fig}"
    for kind in ("cold", "idle", "change")
    for fig in ("wall_ms", "cpu_ms", "qbit_requests", "qbit_bytes", "arr_requests",
                "arr_bytes", "sql_statements", "sql_writes", "mqtt_messages")
] + ["rss_mb", "wait_sql_per_min", "wait_cpu_ms_per_min"]  # fmt: skip
STACK_FIGURES = [
    "rss_total_mb", "idle_cpu_s_per_min", "mqtt.run_now.p95_s", "mqtt.search.p95_s",
    "restart.p95_s", "stall.seconds", "stall.intervals", "stall.max_s", "stall.intervals_max",
    "stall.samples", "import.seconds",
    "api.torrents.p50_ms", "api.torrents.p95_ms", "api.processes.p95_ms",
    "sse.delivered", "sse.p95_ms",
]  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench-results")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    files = list(out.glob("*-smoke.json"))
    assert len(files) == 1, f"one result file expected, found {files}"
    return json.loads(files[0].read_text())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_steady_state_has_every_figure(results: dict) -> None:
    (steady,) = results["steady"]
    assert steady["n"] == 200
    assert sum(steady["mix"].values()) == 200 and all(steady["mix"].values())
    missing = [k for k in STEADY_FIGURES if steady["summary"].get(k, {}).get("median") is None]
    assert not missing, f"figures not measured: {missing}"
    run = steady["runs"][0]
    assert run["idle.cycles"] >= 1 and run["change.cycles"] >= 1 and run["cold.cycles"] == 1


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_stack_has_every_figure(results: dict) -> None:
    stack = results["stack"]
    missing = [k for k in STACK_FIGURES if stack["summary"].get(k, {}).get("median") is None]
    assert not missing, f"figures not measured: {missing}"
    assert len(stack["runs"][0]["stall"]["each_s"]) == 3, "several stall samples per run"
    procs = stack["runs"][0]["rss_by_process_mb"]
    assert sum("supervisord" in p for p in procs) == 1
    assert len(procs) >= 7, procs  # run, supervisord, events, bridge, webui, 4 managers


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_budgets_and_machine_are_recorded(results: dict) -> None:
    assert results["machine"]["cores"] and results["versions"]["qbittorrent-nox"]
    names = " ".join(b["budget"] for b in results["budgets"])
    for part in ("CPU < 50 ms", "< 80 MB", "RSS < 400 MB", "restart", "p95 < 50 ms"):
        assert part in names
    assert all(b["measured"] is not None for b in results["budgets"])
