"""The bridge's background upkeep: the hung-process watchdog and hourly store maintenance.

They run in daemon threads next to the bridge's MQTT loop, and also when MQTT is disabled
(the bridge then only idles and keeps house). Each loop survives its own errors: a failed
round is logged and retried on the next one, never the end of the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("qbitrr.bridge")

#: Seconds between two store maintenance rounds (retention, vacuum, db size).
MAINTENANCE_EVERY = 3600.0
#: Seconds after start before the first maintenance round (let the stack settle first).
MAINTENANCE_FIRST = 60.0


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
        from ..store.retention import run_maintenance

        wait = MAINTENANCE_FIRST
        while not self.stop_event.wait(wait):
            wait = MAINTENANCE_EVERY
            try:
                report = run_maintenance(self.store, self.config)
            except Exception:  # noqa: BLE001 - a locked or full disk: next hour
                log.exception("store maintenance failed; retrying in an hour")
                continue
            log.info("store maintenance: %s", report.as_dict())
