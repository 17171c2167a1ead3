"""The hung-process watchdog: supervisord restarts programs that exit, this restarts the
ones that stop working without exiting.

- A **manager** is hung when it is RUNNING and its last sign of life is older than
  ``hang_timeout`` (``settings.hang_timeout``, default 5 check intervals and at least 300 s).
  Its sign of life is the ``heartbeat_at`` it writes to ``instance_state`` every cycle, or the
  time supervisord started it when that is later (a restarted manager gets a full timeout
  before its first heartbeat counts). A slow cycle is fine as long as it ends within the
  timeout.
- The **WebUI** is hung when ``GET /api/health`` gets no answer within ``webui_timeout`` on
  ``webui_failures`` consecutive checks. Any answer counts as alive, 503 (degraded) too: a
  degraded WebUI is reporting a problem elsewhere, restarting it would not help.

For each hung program :meth:`Watchdog.handle` asks for a stack dump (SIGUSR1, which the
managers and the WebUI hand to ``faulthandler``; then SIGCONT, so a stopped process wakes up
to write it), waits ``dump_wait`` seconds, restarts the program through supervisord, and
records a ``process_event`` (``to_state='HUNG'``, the reason and the new pid in ``detail``),
which the WebUI's history and event stream show. The returned :class:`HangReport` is what
the bridge publishes (the ``process`` topic and the instance's event).

The decision (:func:`hung_managers`, :class:`WebUIProbe`) is pure apart from the HTTP probe;
the clock and the sleep are injectable.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..supervisor.rpc import ProcessInfo, SupervisorError

log = logging.getLogger("qbitrr.watchdog")

HUNG_STATE = "HUNG"
WEBUI_PROGRAM = "webui"
#: Seconds to give faulthandler to write the dump before the restart.
DUMP_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class Hang:
    """A program found hung: which, its pid, why."""

    program: str
    pid: int
    reason: str


@dataclass(frozen=True, slots=True)
class HangReport:
    """What the watchdog did about one hang (``error`` when the restart failed)."""

    program: str
    old_pid: int
    new_pid: int | None
    reason: str
    at: datetime
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "old_pid": self.old_pid,
            "new_pid": self.new_pid,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "error": self.error,
        }


def _started(info: ProcessInfo) -> datetime | None:
    return datetime.fromtimestamp(info.start, UTC) if info.start else None


def hung_managers(
    config: Any,
    heartbeats: Mapping[str, datetime | None],
    processes: Mapping[str, ProcessInfo],
    now: datetime,
    timeout: float,
) -> list[Hang]:
    """The RUNNING managers whose last sign of life (heartbeat, or start when later) is
    older than ``timeout`` seconds at ``now``. ``heartbeats`` maps instance -> heartbeat_at,
    ``processes`` program name -> supervisord's info."""
    hung = []
    for name, instance in config.arr.items():
        info = processes.get(instance.program)
        if not instance.enabled or info is None or info.statename != "RUNNING":
            continue
        signs = [t for t in (heartbeats.get(name), _started(info)) if t is not None]
        if not signs:
            continue
        silent = (now - max(signs)).total_seconds()
        if silent > timeout:
            what = "no heartbeat" if heartbeats.get(name) else "no heartbeat since it started"
            hung.append(
                Hang(
                    instance.program,
                    info.pid,
                    f"{what} for {silent:.0f} s (hang_timeout {timeout:.0f} s)",
                )
            )
    return hung


def probe_health(url: str, timeout: float) -> str | None:
    """None when ``url`` answers at all (any HTTP status), else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read(1)
    except urllib.error.HTTPError:
        return None  # it answered (503 degraded, 401 ...): alive
    except (TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"{url} did not answer within {timeout:g} s: {reason}"
    return None


def webui_health_url(config: Any) -> str:
    host = config.webui.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.webui.port}/api/health"


class WebUIProbe:
    """Counts consecutive failed health probes of the running WebUI."""

    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        failures: int = 3,
        probe: Callable[[str, float], str | None] = probe_health,
    ) -> None:
        self.url, self.timeout, self.failures_needed, self.probe = url, timeout, failures, probe
        self.failures = 0
        self._pid: int | None = None

    def check(self, info: ProcessInfo | None) -> Hang | None:
        """Probe once; a Hang after ``failures`` failures in a row of the same process."""
        if info is None or info.statename != "RUNNING":
            self.failures, self._pid = 0, None
            return None
        if info.pid != self._pid:  # a new process starts with a clean slate
            self.failures, self._pid = 0, info.pid
        problem = self.probe(self.url, self.timeout)
        if problem is None:
            self.failures = 0
            return None
        self.failures += 1
        log.warning(
            "WebUI health probe failed (%d/%d): %s", self.failures, self.failures_needed, problem
        )
        if self.failures < self.failures_needed:
            return None
        self.failures = 0
        return Hang(WEBUI_PROGRAM, info.pid, f"{problem} ({self.failures_needed} times in a row)")


class Watchdog:
    """Finds hung programs and dumps, restarts and records them (one :meth:`check` per call;
    the bridge calls it every ``interval`` seconds, see :func:`check_interval`)."""

    def __init__(
        self,
        config: Any,
        store: Any,
        rpc: Any,
        *,
        hang_timeout: float | None = None,
        dump_wait: float = DUMP_WAIT,
        webui: WebUIProbe | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config, self.store, self.rpc = config, store, rpc
        self.hang_timeout = (
            hang_timeout if hang_timeout is not None else config.settings.effective_hang_timeout
        )
        self.dump_wait = dump_wait
        self.webui = webui if webui is not None else WebUIProbe(webui_health_url(config))
        self.clock, self.sleep = clock, sleep

    def find(self) -> list[Hang]:
        """The hung programs now (no action taken)."""
        try:
            processes = {p.full_name: p for p in self.rpc.status()}
        except SupervisorError as exc:
            log.warning("watchdog: cannot list the processes: %s", exc)
            return []
        heartbeats = {s.instance: s.heartbeat_at for s in self.store.list_instance_states()}
        hangs = hung_managers(self.config, heartbeats, processes, self.clock(), self.hang_timeout)
        webui = self.webui.check(processes.get(WEBUI_PROGRAM))
        return [*hangs, *([webui] if webui else [])]

    def check(self) -> list[HangReport]:
        """Find the hung programs and handle each; returns what was done."""
        return [self.handle(hang) for hang in self.find()]

    def handle(self, hang: Hang) -> HangReport:
        """Stack dump, restart, record (see the module docstring)."""
        log.error(
            "%s (pid %d) is hung: %s; dumping its stack and restarting it",
            hang.program,
            hang.pid,
            hang.reason,
        )
        self._dump(hang.program)
        new_pid: int | None = None
        error = None
        try:
            new_pid = self.rpc.restart(hang.program)
        except SupervisorError as exc:
            error = str(exc)
            log.error("could not restart hung %s: %s", hang.program, exc)
        report = HangReport(hang.program, hang.pid, new_pid, hang.reason, self.clock(), error)
        outcome = f"restarted as pid {new_pid}" if error is None else f"restart failed: {error}"
        try:
            self.store.record_process_event(
                hang.program,
                "RUNNING",
                HUNG_STATE,
                pid=hang.pid,
                expected=False,
                detail=f"hung: {hang.reason}; stack dumped to its log; {outcome}",
                at=report.at,
            )
        except Exception:  # the store may be what hangs; the restart already happened
            log.exception("could not record the hang of %s", hang.program)
        return report

    def _dump(self, program: str) -> None:
        for sig in ("USR1", "CONT"):
            try:
                self.rpc.signal(program, sig)
            except SupervisorError as exc:
                log.warning("could not send SIG%s to %s: %s", sig, program, exc)
                return
        self.sleep(self.dump_wait)


def check_interval(config: Any) -> float:
    """How often the bridge should call :meth:`Watchdog.check`: often enough to act within
    a fifth of the timeout, at most every 60 s, at least every 5 s."""
    return float(min(60.0, max(5.0, config.settings.effective_hang_timeout / 5)))


def run_forever(
    watchdog: Watchdog,
    interval: float,
    stop: Callable[[], bool],
    on_hang: Callable[[HangReport], None] | None = None,
) -> None:
    """The bridge's watchdog loop (run it in a thread): check, report, wait, until ``stop()``."""
    while not stop():
        for report in watchdog.check():
            if on_hang is not None:
                on_hang(report)
        deadline = time.monotonic() + interval
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(1.0, interval))
