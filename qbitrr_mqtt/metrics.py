"""Prometheus metrics (prometheus-client), served by the WebUI as ``GET /metrics``.

The managers and the bridge are separate processes and the WebUI serves the scrape, so the
numbers travel through the store:

- :class:`ProcessMetrics` lives in a manager or the bridge: counters and a histogram kept in
  plain Python (cycles, cycle durations, strikes, MQTT messages and reconnects; those
  processes never load prometheus-client, which only the WebUI needs). The
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
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # prometheus-client is loaded only where /metrics is served (the WebUI)
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

#: The Prometheus text format ``generate_latest`` writes (every scraper reads 0.0.4; newer
#: prometheus-client versions label the same bytes 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SNAPSHOT_PREFIX = "metrics:"
#: Cycle durations (seconds): from a quiet instance to a slow Arr app.
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, math.inf)


class ProcessMetrics:
    """The counters one manager (``instance`` set) or the bridge keeps, saved to the store.

    Plain Python, without prometheus-client (the managers and the bridge never serve a
    scrape): :meth:`snapshot` gives the families exactly as prometheus-client's
    ``CollectorRegistry.collect()`` would for the same Counters and Histogram (names, help,
    sample names and labels, float values, ``le`` as Go formats it; ``_created`` left out),
    which :class:`StoreCollector` turns back into metrics in the WebUI.
    """

    def __init__(self, process: str, instance: str | None = None) -> None:
        self.process = process
        self.instance = instance or ""
        self._lock = threading.Lock()
        self._strikes: dict[tuple[str, str], float] = {}
        self._messages: dict[tuple[str, str], float] = {}
        self._reconnects = 0.0
        self._has_cycles = instance is not None  # a manager; the bridge runs no cycles
        self._cycles = 0.0
        self._buckets = [0.0] * len(CYCLE_BUCKETS)  # per bucket, not cumulative
        self._duration_sum = 0.0

    def cycle(self, duration: float) -> None:
        """One check cycle ended after ``duration`` seconds (managers only)."""
        if not self._has_cycles:
            raise RuntimeError(f"{self.process} has no instance: it runs no cycles")
        with self._lock:
            self._cycles += 1.0
            self._duration_sum += float(duration)
            for i, bound in enumerate(CYCLE_BUCKETS):
                if duration <= bound:
                    self._buckets[i] += 1.0
                    break

    def strike(self, reason: str) -> None:
        self._inc(self._strikes, (self.instance, str(reason)), 1.0)

    def mqtt_message(self, direction: str = "sent", n: int = 1) -> None:
        """``n`` MQTT messages ``sent`` or ``received``."""
        self._inc(self._messages, (self.process, str(direction)), n)

    def mqtt_reconnect(self) -> None:
        with self._lock:
            self._reconnects += 1.0

    def _inc(self, counter: dict[tuple[str, str], float], key: tuple[str, str], n: float) -> None:
        if n < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        with self._lock:
            counter[key] = counter.get(key, 0.0) + float(n)

    def snapshot(self) -> list[dict[str, Any]]:
        """The families as plain data, in prometheus-client's order and layout."""
        with self._lock:
            families = [
                _counter(
                    "qbitrr_strikes",
                    "Strikes given to torrents.",
                    [({"instance": i, "reason": r}, v) for (i, r), v in self._strikes.items()],
                ),
                _counter(
                    "qbitrr_mqtt_messages",
                    "MQTT messages sent (published) and received.",
                    [({"process": p, "direction": d}, v) for (p, d), v in self._messages.items()],
                ),
                _counter(
                    "qbitrr_mqtt_reconnects",
                    "MQTT connections re-established after a loss.",
                    [({"process": self.process}, self._reconnects)],
                ),
            ]
            if self._has_cycles:
                labels = {"instance": self.instance}
                families.append(
                    _counter("qbitrr_cycles", "Check cycles run.", [(labels, self._cycles)])
                )
                name = "qbitrr_cycle_duration_seconds"
                samples: list[list[Any]] = []
                total = 0.0
                for bound, n in zip(CYCLE_BUCKETS, self._buckets, strict=True):
                    total += n
                    samples.append([f"{name}_bucket", {**labels, "le": _go_float(bound)}, total])
                samples.append([f"{name}_count", dict(labels), total])
                samples.append([f"{name}_sum", dict(labels), self._duration_sum])
                families.append(
                    {
                        "name": name,
                        "type": "histogram",
                        "help": "Check cycle duration.",
                        "samples": samples,
                    }
                )
        return families

    def save(self, store: Any) -> None:
        """Write the snapshot to the store (``meta`` key ``metrics:<process>``)."""
        value = json.dumps({"at": time.time(), "families": self.snapshot()}, sort_keys=True)
        store.put_meta(SNAPSHOT_PREFIX + self.process, value)


def _counter(name: str, doc: str, samples: list[tuple[dict[str, str], float]]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "counter",
        "help": doc,
        "samples": [[f"{name}_total", labels, value] for labels, value in samples],
    }


def _go_float(value: float) -> str:
    """A bucket bound as prometheus-client writes ``le`` (Go's format: ``+Inf``, ``1.0``)."""
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _family(name: str, kind: str, doc: str) -> Metric:
    from prometheus_client.metrics_core import Metric

    return Metric(name, doc, kind)


class StoreCollector:
    """Every number ``/metrics`` shows that comes from the store (see the module docstring).

    A prometheus-client collector by its ``collect`` method (not a subclass, so that this
    module does not load prometheus-client where only :class:`ProcessMetrics` is used)."""

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
        from sqlalchemy import select
        from sqlmodel import col

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
        from sqlalchemy import func, select
        from sqlmodel import col

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
        from sqlalchemy import func, select
        from sqlmodel import col

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
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "qbitrr_api_requests",
            "HTTP requests answered by the WebUI, by route template and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        #: Requests answered since the start (the WebUI's idle sweep reads it).
        self.answered = 0

    def request(self, route: str, method: str, status: int) -> None:
        self._requests.labels(route, method, str(status)).inc()
        self.answered += 1


def scrape_registry(store: Any, api: ApiMetrics | None = None) -> CollectorRegistry:
    """A registry with the store's numbers and (when given) the WebUI's request counters."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(cast("Collector", StoreCollector(store)))
    if api is not None:
        registry.register(cast("Collector", _Forward(api.registry)))
    return registry


class _Forward:
    """Re-exports another registry's families."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


def render(store: Any, api: ApiMetrics | None = None) -> bytes:
    """The ``/metrics`` body in the Prometheus text format (blocking: reads the store)."""
    from prometheus_client import generate_latest

    return generate_latest(scrape_registry(store, api))
