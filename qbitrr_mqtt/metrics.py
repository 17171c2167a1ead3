"""Prometheus metrics (prometheus-client), served by the WebUI as ``GET /metrics``.

The managers and the bridge are separate processes and the WebUI serves the scrape, so the
numbers travel through the store:

- :class:`ProcessMetrics` lives in a manager or the bridge: counters and a histogram in a
  private registry (cycles, cycle durations, strikes, MQTT messages and reconnects). The
  process calls :meth:`ProcessMetrics.save` at the end of every cycle (a manager) or every
  few seconds (the bridge); it writes a JSON snapshot to ``meta`` under
  ``metrics:<process>``. Counters restart from zero with the process, which Prometheus
  reads as a counter reset, as it would for any restarted exporter.
- :class:`StoreCollector` lives in the WebUI: on each scrape it reads the snapshots and
  derives the rest from the store's own rows: actions by type and result from the journal
  (plus the totals retention pruned, so the counter never goes down), torrents by state,
  current strikes, process restarts and state from process health, each instance's last
  cycle and heartbeat, the outbox and the database size.
- :class:`ApiMetrics` counts the WebUI's own requests by route template and status.

Every metric is prefixed ``qbitrr_``; ``instance`` is the Arr instance name, ``process`` the
supervisord program name.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlmodel import col

#: The Prometheus text format ``generate_latest`` writes (every scraper reads 0.0.4; newer
#: prometheus-client versions label the same bytes 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SNAPSHOT_PREFIX = "metrics:"
#: Cycle durations (seconds): from a quiet instance to a slow Arr app.
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, math.inf)


class ProcessMetrics:
    """The counters one manager (``instance`` set) or the bridge keeps, saved to the store."""

    def __init__(self, process: str, instance: str | None = None) -> None:
        self.process = process
        self.instance = instance or ""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._strikes = Counter(
            "qbitrr_strikes", "Strikes given to torrents.", ["instance", "reason"], registry=r
        )
        self._messages = Counter(
            "qbitrr_mqtt_messages",
            "MQTT messages sent (published) and received.",
            ["process", "direction"],
            registry=r,
        )
        self._reconnects = Counter(
            "qbitrr_mqtt_reconnects",
            "MQTT connections re-established after a loss.",
            ["process"],
            registry=r,
        ).labels(process)
        self._cycles: Any = None
        self._duration: Any = None
        if instance is not None:  # a manager; the bridge runs no cycles
            self._cycles = Counter(
                "qbitrr_cycles", "Check cycles run.", ["instance"], registry=r
            ).labels(self.instance)
            self._duration = Histogram(
                "qbitrr_cycle_duration_seconds",
                "Check cycle duration.",
                ["instance"],
                buckets=CYCLE_BUCKETS,
                registry=r,
            ).labels(self.instance)

    def cycle(self, duration: float) -> None:
        """One check cycle ended after ``duration`` seconds (managers only)."""
        if self._cycles is None:
            raise RuntimeError(f"{self.process} has no instance: it runs no cycles")
        self._cycles.inc()
        self._duration.observe(duration)

    def strike(self, reason: str) -> None:
        self._strikes.labels(self.instance, reason).inc()

    def mqtt_message(self, direction: str = "sent", n: int = 1) -> None:
        """``n`` MQTT messages ``sent`` or ``received``."""
        self._messages.labels(self.process, direction).inc(n)

    def mqtt_reconnect(self) -> None:
        self._reconnects.inc()

    def snapshot(self) -> list[dict[str, Any]]:
        """The registry's families as plain data (``_created`` samples left out)."""
        families = []
        for family in self.registry.collect():
            samples = [
                [s.name, s.labels, s.value]
                for s in family.samples
                if not s.name.endswith("_created")
            ]
            families.append(
                {
                    "name": family.name,
                    "type": family.type,
                    "help": family.documentation,
                    "samples": samples,
                }
            )
        return families

    def save(self, store: Any) -> None:
        """Write the snapshot to the store (``meta`` key ``metrics:<process>``)."""
        from .store.models import Meta

        value = json.dumps({"at": time.time(), "families": self.snapshot()}, sort_keys=True)
        key = SNAPSHOT_PREFIX + self.process
        with store.session(write=True) as s:
            row = s.get(Meta, key)
            if row is None:
                s.add(Meta(key=key, value=value))
            else:
                row.value = value
            s.commit()


def _family(name: str, kind: str, doc: str) -> Metric:
    return Metric(name, doc, kind)


class StoreCollector(Collector):
    """Every number ``/metrics`` shows that comes from the store (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        yield from self._snapshots()
        yield self._actions()
        yield from self._torrents()
        yield from self._processes()
        yield from self._instances()
        yield from self._storage()

    # --- process snapshots -------------------------------------------------------------

    def _snapshots(self) -> Iterator[Metric]:
        from .store.models import Meta

        with self.store.session(write=False) as s:
            rows = list(
                s.execute(select(col(Meta.value)).where(col(Meta.key).startswith(SNAPSHOT_PREFIX)))
            )
        merged: dict[str, Metric] = {}
        for (value,) in rows:
            for fam in json.loads(value).get("families", []):
                metric = merged.get(fam["name"])
                if metric is None:
                    metric = merged[fam["name"]] = _family(fam["name"], fam["type"], fam["help"])
                for name, labels, sample in fam["samples"]:
                    metric.add_sample(name, labels, sample)
        yield from merged.values()

    # --- rows --------------------------------------------------------------------------

    def _actions(self) -> Metric:
        from .store.models import Action
        from .store.retention import pruned_action_totals

        totals: dict[tuple[str, str, str], int] = dict(pruned_action_totals(self.store))
        query = select(
            col(Action.instance), col(Action.action), col(Action.status), func.count()
        ).group_by(Action.instance, Action.action, Action.status)
        with self.store.session(write=False) as s:
            for instance, action, status, n in s.execute(query):
                key = (instance, action, status)
                totals[key] = totals.get(key, 0) + int(n)
        metric = _family(
            "qbitrr_actions",
            "counter",
            "Actions journalled, by type and result (intent, done, failed, skipped).",
        )
        for (instance, action, status), n in sorted(totals.items()):
            metric.add_sample(
                "qbitrr_actions_total",
                {"instance": instance, "action": action, "result": status},
                n,
            )
        return metric

    def _torrents(self) -> Iterator[Metric]:
        from .store.models import Torrent

        query = (
            select(
                col(Torrent.instance),
                col(Torrent.health),
                func.count(),
                func.sum(col(Torrent.strikes)),
            )
            .where(col(Torrent.gone_at).is_(None))
            .group_by(col(Torrent.instance), col(Torrent.health))
        )
        with self.store.session(write=False) as s:
            rows = list(s.execute(query))
        by_state = _family(
            "qbitrr_torrents", "gauge", "Tracked torrents by state (our health class)."
        )
        strikes: dict[str, int] = {}
        for instance, health, n, struck in rows:
            by_state.add_sample(
                "qbitrr_torrents", {"instance": instance, "state": health or "unknown"}, n
            )
            strikes[instance] = strikes.get(instance, 0) + int(struck or 0)
        yield by_state
        current = _family(
            "qbitrr_torrent_strikes", "gauge", "Strikes currently held by tracked torrents."
        )
        for instance, n in sorted(strikes.items()):
            current.add_sample("qbitrr_torrent_strikes", {"instance": instance}, n)
        yield current

    def _processes(self) -> Iterator[Metric]:
        rows = self.store.list_process_health()
        restarts = _family(
            "qbitrr_process_restarts",
            "counter",
            "Restarts of each supervisord program after an exit.",
        )
        up = _family("qbitrr_process_up", "gauge", "1 when the program is RUNNING.")
        limit = _family(
            "qbitrr_process_restart_limit_reached",
            "gauge",
            "1 when supervisord or the restart window gave up restarting the program.",
        )
        for row in rows:
            labels = {"process": row.name}
            restarts.add_sample("qbitrr_process_restarts_total", labels, row.restart_count)
            up.add_sample("qbitrr_process_up", labels, 1 if row.state == "RUNNING" else 0)
            limit.add_sample(
                "qbitrr_process_restart_limit_reached", labels, int(row.restart_limit_reached)
            )
        yield from (restarts, up, limit)

    def _instances(self) -> Iterator[Metric]:
        rows = self.store.list_instance_states()
        duration = _family(
            "qbitrr_last_cycle_duration_seconds", "gauge", "Duration of the last check cycle."
        )
        last = _family(
            "qbitrr_last_cycle_timestamp_seconds",
            "gauge",
            "When the last check cycle ended (Unix time).",
        )
        beat = _family(
            "qbitrr_heartbeat_timestamp_seconds",
            "gauge",
            "The manager's last heartbeat (Unix time).",
        )
        queue = _family("qbitrr_arr_queue_size", "gauge", "Records in the Arr download queue.")
        connected = _family(
            "qbitrr_connected", "gauge", "1 when the manager reached the service last cycle."
        )
        for st in rows:
            labels = {"instance": st.instance}
            if st.last_cycle_duration is not None:
                duration.add_sample(duration.name, labels, st.last_cycle_duration)
            if st.last_cycle_at is not None:
                last.add_sample(last.name, labels, st.last_cycle_at.timestamp())
            if st.heartbeat_at is not None:
                beat.add_sample(beat.name, labels, st.heartbeat_at.timestamp())
            queue.add_sample(queue.name, labels, st.queue_size)
            for service, ok in (("qbittorrent", st.qbit_connected), ("arr", st.arr_connected)):
                connected.add_sample(connected.name, {**labels, "service": service}, int(ok))
        yield from (duration, last, beat, queue, connected)

    def _storage(self) -> Iterator[Metric]:
        from .store.retention import db_size, last_report

        size = _family("qbitrr_db_size_bytes", "gauge", "Database size on disk.")
        size.add_sample("qbitrr_db_size_bytes", {}, db_size(self.store))
        yield size
        outbox = _family(
            "qbitrr_mqtt_outbox_messages", "gauge", "MQTT messages waiting for the broker."
        )
        outbox.add_sample("qbitrr_mqtt_outbox_messages", {}, self.store.outbox_size())
        yield outbox
        report = last_report(self.store)
        if report is not None:
            ran = _family(
                "qbitrr_maintenance_timestamp_seconds",
                "gauge",
                "When retention last ran (Unix time).",
            )
            ran.add_sample(ran.name, {}, datetime.fromisoformat(report["started_at"]).timestamp())
            yield ran


class ApiMetrics:
    """The WebUI's own counters: API requests by route template, method and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "qbitrr_api_requests",
            "HTTP requests answered by the WebUI, by route template and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )

    def request(self, route: str, method: str, status: int) -> None:
        self._requests.labels(route, method, str(status)).inc()


def scrape_registry(store: Any, api: ApiMetrics | None = None) -> CollectorRegistry:
    """A registry with the store's numbers and (when given) the WebUI's request counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    if api is not None:
        registry.register(_Forward(api.registry))
    return registry


class _Forward(Collector):
    """Re-exports another registry's families."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


def render(store: Any, api: ApiMetrics | None = None) -> bytes:
    """The ``/metrics`` body in the Prometheus text format (blocking: reads the store)."""
    return generate_latest(scrape_registry(store, api))
