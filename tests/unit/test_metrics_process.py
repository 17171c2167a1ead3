"""``ProcessMetrics`` without prometheus-client: its snapshot is what prometheus-client's own
Counters and Histogram give for the same events (the WebUI turns snapshots back into metrics)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from qbitrr_mqtt.metrics import CYCLE_BUCKETS, ProcessMetrics


class Reference:
    """The same counters built with prometheus-client, as metrics.py did before."""

    def __init__(self, process: str, instance: str | None = None) -> None:
        self.process, self.instance = process, instance or ""
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.strikes = Counter(
            "qbitrr_strikes", "Strikes given to torrents.", ["instance", "reason"], registry=r
        )
        self.messages = Counter(
            "qbitrr_mqtt_messages",
            "MQTT messages sent (published) and received.",
            ["process", "direction"],
            registry=r,
        )
        self.reconnects = Counter(
            "qbitrr_mqtt_reconnects",
            "MQTT connections re-established after a loss.",
            ["process"],
            registry=r,
        ).labels(process)
        if instance is not None:
            self.cycles = Counter(
                "qbitrr_cycles", "Check cycles run.", ["instance"], registry=r
            ).labels(self.instance)
            self.duration = Histogram(
                "qbitrr_cycle_duration_seconds",
                "Check cycle duration.",
                ["instance"],
                buckets=CYCLE_BUCKETS,
                registry=r,
            ).labels(self.instance)

    def cycle(self, duration: float) -> None:
        self.cycles.inc()
        self.duration.observe(duration)

    def strike(self, reason: str) -> None:
        self.strikes.labels(self.instance, reason).inc()

    def mqtt_message(self, direction: str = "sent", n: int = 1) -> None:
        self.messages.labels(self.process, direction).inc(n)

    def mqtt_reconnect(self) -> None:
        self.reconnects.inc()

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "name": f.name,
                "type": f.type,
                "help": f.documentation,
                "samples": [
                    [s.name, s.labels, s.value]
                    for s in f.samples
                    if not s.name.endswith("_created")
                ],
            }
            for f in self.registry.collect()
        ]


def events(m: Any, cycles: bool) -> None:
    m.strike("stalled")
    m.mqtt_message("sent", 3)
    m.strike("slow")
    m.mqtt_message("received")
    m.strike("stalled")
    m.mqtt_reconnect()
    m.mqtt_message("sent", 0)
    if cycles:
        for d in (0.0, 0.1, 0.10000001, 0.3, 1.0, 2.5, 7.25, 300.0, 300.5, 1e6):
            m.cycle(d)


@pytest.mark.parametrize(("process", "instance"), [("manager-radarr", "radarr"), ("bridge", None)])
def test_snapshots_match_prometheus_client(process: str, instance: str | None) -> None:
    ours, ref = ProcessMetrics(process, instance), Reference(process, instance)
    assert ours.snapshot() == ref.snapshot()  # nothing counted yet
    events(ours, instance is not None)
    events(ref, instance is not None)
    assert ours.snapshot() == ref.snapshot()


def test_negative_counts_and_cycles_without_an_instance_are_refused() -> None:
    with pytest.raises(ValueError):
        ProcessMetrics("manager-a", "a").mqtt_message("sent", -1)
    with pytest.raises(RuntimeError, match="runs no cycles"):
        ProcessMetrics("bridge").cycle(1.0)


def test_process_metrics_do_not_load_prometheus_client() -> None:
    code = (
        "import sys; from qbitrr_mqtt.metrics import ProcessMetrics; "
        "m = ProcessMetrics('manager-a', 'a'); m.cycle(1.0); m.snapshot(); "
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
