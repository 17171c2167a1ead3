"""``GET /metrics`` against a real store (SQLite and PostgreSQL): the output parsed by
prometheus-client's own parser, its values checked against the rows written, and changed by
a cycle with actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.metrics import ProcessMetrics
from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.retention import run_maintenance
from qbitrr_mqtt.store.testing import store_fixture, store_url_fixture  # noqa: F401
from qbitrr_mqtt.webui import create_app

TOKEN = "metrics-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = """\
settings: {{data_dir: ./data}}
webui: {{metrics_public: {public}}}
arr:
  radarr: {{type: radarr, url: "http://127.0.0.1:7878", api_key: k-radarr}}
"""
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def make_client(aiohttp_client: Any, tmp_path: Path, store: Store, public: bool) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(public=str(public).lower()), encoding="utf-8")
    app = create_app(load_config(path, env={}), store, None, token=TOKEN)
    return await aiohttp_client(app)


async def scrape(client: Any) -> Samples:
    resp = await client.get("/metrics", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def one_cycle(store: Store, metrics: ProcessMetrics, n: int, at: datetime) -> None:
    """What a manager cycle leaves behind: actions journalled, strikes, state, metrics."""
    for i in range(n):
        action = store.record_intent("radarr", f"{i:040x}", "x", "remove", "stalled", at=at)
        store.mark_done(action.id, at=at)  # type: ignore[arg-type]
    failed = store.record_intent("radarr", None, None, "re_search", "stalled", at=at)
    store.mark_failed(failed.id, "arr down", at=at)  # type: ignore[arg-type]
    store.upsert_instance_state(
        "radarr", qbit_connected=True, arr_connected=True, queue_size=4,
        last_cycle_at=at, last_cycle_duration=1.5, heartbeat_at=at,
    )  # fmt: skip
    metrics.cycle(1.5)
    metrics.strike("stalled")
    metrics.mqtt_message("sent", 3)
    metrics.save(store)


async def test_metrics_follow_the_store(aiohttp_client: Any, tmp_path: Path, store: Store) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0)
    store.upsert_torrents(
        "radarr",
        [
            {"hash": "a" * 40, "health": "stalled"},
            {"hash": "b" * 40, "health": "stalled"},
            {"hash": "c" * 40, "health": "downloading"},
            {"hash": "d" * 40, "health": "seeding"},
        ],
    )
    store.mark_gone("radarr", ["d" * 40])
    store.add_strike("radarr", "a" * 40, "stalled")
    store.add_strike("radarr", "a" * 40, "stalled")
    store.add_strike("radarr", "b" * 40, "stalled")
    store.upsert_process_health("manager-radarr", state="RUNNING", pid=10, restart_count=3)
    store.upsert_process_health("webui", state="BACKOFF", restart_limit_reached=True)
    manager = ProcessMetrics("manager-radarr", "radarr")
    bridge = ProcessMetrics("bridge")
    bridge.mqtt_message("received", 2)
    bridge.mqtt_reconnect()
    bridge.save(store)
    one_cycle(store, manager, 2, t0)
    client = await make_client(aiohttp_client, tmp_path, store, public=False)

    first = await scrape(client)
    assert (
        value(first, "qbitrr_actions_total", instance="radarr", action="remove", result="done") == 2
    )
    assert (
        value(first, "qbitrr_actions_total", instance="radarr", action="re_search", result="failed")
        == 1
    )
    assert value(first, "qbitrr_torrents", instance="radarr", state="stalled") == 2
    assert value(first, "qbitrr_torrents", instance="radarr", state="downloading") == 1
    assert (
        "qbitrr_torrents",
        frozenset({("instance", "radarr"), ("state", "seeding")}),
    ) not in first
    assert value(first, "qbitrr_torrent_strikes", instance="radarr") == 3
    assert value(first, "qbitrr_process_restarts_total", process="manager-radarr") == 3
    assert value(first, "qbitrr_process_up", process="manager-radarr") == 1
    assert value(first, "qbitrr_process_up", process="webui") == 0
    assert value(first, "qbitrr_process_restart_limit_reached", process="webui") == 1
    assert value(first, "qbitrr_cycles_total", instance="radarr") == 1
    assert value(first, "qbitrr_cycle_duration_seconds_count", instance="radarr") == 1
    assert value(first, "qbitrr_cycle_duration_seconds_bucket", instance="radarr", le="1.0") == 0
    assert value(first, "qbitrr_cycle_duration_seconds_bucket", instance="radarr", le="2.5") == 1
    assert value(first, "qbitrr_strikes_total", instance="radarr", reason="stalled") == 1
    assert (
        value(first, "qbitrr_mqtt_messages_total", process="manager-radarr", direction="sent") == 3
    )
    assert value(first, "qbitrr_mqtt_messages_total", process="bridge", direction="received") == 2
    assert value(first, "qbitrr_mqtt_reconnects_total", process="bridge") == 1
    assert value(first, "qbitrr_last_cycle_duration_seconds", instance="radarr") == 1.5
    assert value(first, "qbitrr_heartbeat_timestamp_seconds", instance="radarr") == t0.timestamp()
    assert value(first, "qbitrr_connected", instance="radarr", service="arr") == 1
    assert value(first, "qbitrr_arr_queue_size", instance="radarr") == 4
    assert value(first, "qbitrr_db_size_bytes") > 0
    assert value(first, "qbitrr_mqtt_outbox_messages") == 0

    # Another cycle with actions: the counters move.
    one_cycle(store, manager, 3, t0 + timedelta(minutes=1))
    second = await scrape(client)
    assert (
        value(second, "qbitrr_actions_total", instance="radarr", action="remove", result="done")
        == 5
    )
    assert value(second, "qbitrr_cycles_total", instance="radarr") == 2
    assert value(second, "qbitrr_cycle_duration_seconds_sum", instance="radarr") == 3.0
    assert value(second, "qbitrr_strikes_total", instance="radarr", reason="stalled") == 2
    # The first scrape itself was counted, by route template and status.
    assert (
        value(second, "qbitrr_api_requests_total", route="/metrics", method="GET", status="200")
        >= 1
    )

    # Retention prunes the old actions; the counter does not go down.
    later = t0 + timedelta(days=60)
    report = run_maintenance(
        store, SimpleNamespace(settings=SimpleNamespace(retention_days=30)), now=later
    )
    assert report.pruned["actions"].rows == 7
    third = await scrape(client)
    assert (
        value(third, "qbitrr_actions_total", instance="radarr", action="remove", result="done") == 5
    )
    assert value(third, "qbitrr_maintenance_timestamp_seconds") == later.timestamp()


async def test_metrics_need_the_token_unless_public(
    aiohttp_client: Any, tmp_path: Path, store: Store
) -> None:
    client = await make_client(aiohttp_client, tmp_path, store, public=False)
    resp = await client.get("/metrics")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    resp = await client.get("/metrics", headers={"X-API-Token": "wrong-token-000000"})
    assert resp.status == 401
    assert (await client.get("/no/such/page")).status == 404
    assert (await client.get("/api/v1/instances/nope/torrents-x", headers=AUTH)).status == 404
    samples = await scrape(client)
    assert (
        value(samples, "qbitrr_api_requests_total", route="/metrics", method="GET", status="401")
        == 2
    )
    assert (
        value(samples, "qbitrr_api_requests_total", route="unmatched", method="GET", status="404")
        == 2
    )

    (tmp_path / "public").mkdir()
    public = await make_client(aiohttp_client, tmp_path / "public", store, public=True)
    resp = await public.get("/metrics")
    assert resp.status == 200
    assert "qbitrr_db_size_bytes" in await resp.text()
    assert (await public.get("/api/v1/instances")).status == 401  # only /metrics is public


@pytest.mark.parametrize("process", ["bridge"])
def test_a_process_without_an_instance_runs_no_cycles(process: str) -> None:
    metrics = ProcessMetrics(process)
    with pytest.raises(RuntimeError, match="runs no cycles"):
        metrics.cycle(1.0)
    assert {f["name"] for f in metrics.snapshot()} == {
        "qbitrr_strikes",
        "qbitrr_mqtt_messages",
        "qbitrr_mqtt_reconnects",
    }
