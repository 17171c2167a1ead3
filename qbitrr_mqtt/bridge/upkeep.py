"""The bridge's background upkeep: the hung-process watchdog and hourly store maintenance.

They run in daemon threads next to the bridge's MQTT loop, and also when MQTT is disabled
(the bridge then only idles and keeps house). Each loop survives its own errors: a failed
round is logged and retried on the next one, never the end of the thread.

Maintenance (``store.retention.run_maintenance``: prune, vacuum, record the report) is written
with the ORM ``Store``, and the bridge runs on ``LeanStore`` so that it never imports
SQLAlchemy, sqlmodel and pydantic (~44 MB of RSS for the bridge's whole life, for a job of a
few seconds an hour). So each round runs in a short-lived child process,
``python -m qbitrr_mqtt.store maintain``, which prints the report as one JSON line; the child
is killed when it outlives :data:`MAINTENANCE_TIMEOUT` or the bridge stops.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("qbitrr.bridge")

#: Seconds between two store maintenance rounds (retention, vacuum, db size).
MAINTENANCE_EVERY = 3600.0
#: Seconds after start before the first maintenance round (let the stack settle first).
MAINTENANCE_FIRST = 60.0
#: Seconds one round's child process may take (the first round on an old SQLite database runs
#: a full VACUUM) before it is killed; the next round an hour later tries again.
MAINTENANCE_TIMEOUT = 1800.0
#: How often a waiting round looks at the stop event (a stopping bridge kills the child).
_STOP_POLL = 0.5


class MaintenanceFailed(RuntimeError):
    """The maintenance child failed, timed out or was stopped; the message says which (for a
    failure: the child's own error line)."""


def maintain_in_child(
    url: str,
    retention_days: int,
    stop: threading.Event | None = None,
    timeout: float = MAINTENANCE_TIMEOUT,
) -> dict[str, Any]:
    """Run one maintenance round on ``url`` in ``python -m qbitrr_mqtt.store maintain``;
    its report (``MaintenanceReport.as_dict()``). MaintenanceFailed when the child fails
    (with its error line), outlives ``timeout`` seconds, or ``stop`` is set meanwhile."""
    from ..store.lean import RETENTION_ENV, URL_ENV

    env = {**os.environ, URL_ENV: url, RETENTION_ENV: str(retention_days)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbitrr_mqtt.store", "maintain"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = _wait_child(proc, stop, timeout)
    lines = [line for line in err.splitlines() if line.strip()]
    if proc.returncode != 0:
        raise MaintenanceFailed(lines[-1] if lines else f"the child exited with {proc.returncode}")
    for line in lines:  # warnings the child logged on its way to a report
        log.warning("store maintenance: %s", line)
    try:
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise MaintenanceFailed(f"the child printed no report: {out[-200:]!r}") from exc
    return report


def _wait_child(
    proc: subprocess.Popen[str], stop: threading.Event | None, timeout: float
) -> tuple[str, str]:
    """The child's stdout and stderr once it exits; killed (MaintenanceFailed) after
    ``timeout`` seconds or when ``stop`` is set. ``communicate`` may be called again after
    its timeout without losing output."""
    deadline = time.monotonic() + timeout
    while True:
        stopping = stop is not None and stop.is_set()
        left = deadline - time.monotonic()
        if stopping or left <= 0:
            break
        try:
            return proc.communicate(timeout=min(_STOP_POLL, left))
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.communicate()
    if stopping:
        raise MaintenanceFailed("the bridge is stopping; the round was cut short")
    raise MaintenanceFailed(f"the child took longer than {timeout:.0f} s and was killed")


class Upkeep:
    """Starts and stops the upkeep threads of one bridge process."""

    def __init__(
        self,
        config: Any,
        store: Any,
        supervisor: Any,
        on_hang: Callable[[Any], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.supervisor = supervisor
        self.on_hang = on_hang
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.store is None:
            log.warning("no database: the watchdog and retention are off until the bridge restarts")
            return
        for name, target in (
            ("watchdog", self._watchdog),
            ("maintenance", self._maintenance),
        ):
            thread = threading.Thread(target=target, name=f"bridge-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)

    def _watchdog(self) -> None:
        from .watchdog import Watchdog, check_interval

        if self.supervisor is None:
            return
        watchdog = Watchdog(self.config, self.store, self.supervisor)
        interval = check_interval(self.config)
        while not self.stop_event.wait(interval):
            try:
                reports = watchdog.check()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("watchdog round failed")
                continue
            for report in reports:
                if self.on_hang is not None:
                    try:
                        self.on_hang(report)
                    except Exception:  # noqa: BLE001
                        log.exception("could not report the hang of %s", report.program)

    def _maintenance(self) -> None:
        wait = MAINTENANCE_FIRST
        while not self.stop_event.wait(wait):
            wait = MAINTENANCE_EVERY
            try:
                report = maintain_in_child(
                    self.config.database.url,
                    self.config.settings.retention_days,
                    self.stop_event,
                )
            except MaintenanceFailed as exc:  # a locked or full disk: next hour
                if not self.stop_event.is_set():
                    log.error("store maintenance failed; retrying in an hour: %s", exc)
                continue
            except Exception:  # noqa: BLE001 - cannot start a process (memory, fds): next hour
                log.exception("store maintenance failed; retrying in an hour")
                continue
            log.info("store maintenance: %s", report)
