"""The supervisord event listener: PROCESS_STATE events -> health records and restarts.

Run by supervisord as ``[eventlistener:events]`` (``python -m qbitrr_mqtt.bridge.events``).
It is a process of its own because an event listener's stdin/stdout belong to supervisord's
protocol, which the ``bridge`` program (MQTT client, request router) cannot share. The
listener writes health to the store and ``health.json``; the bridge publishes from the store
and sends its commands through XML-RPC (``qbitrr_mqtt.supervisor.rpc``).

The protocol (supervisord docs, "Events"): write ``READY\\n``; read one header line of
``key:value`` tokens whose ``len`` gives the payload size; read the payload (more tokens);
answer ``RESULT 2\\nOK``; write ``READY\\n`` again. supervisord sends nothing while we are not
READY and buffers events meanwhile, so the loop below never blocks on anything but stdin,
with a timeout that wakes it for due restarts (``restart_delay``) and the periodic resync.

The restart window's history lives in this process: if the listener itself is restarted
(supervisord does that, ``autorestart=true``) the counts start again from zero and a restart
that was pending is not issued; the first resync still records every program's state.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..supervisor.rpc import SupervisorClient, SupervisorError
from .health import HealthSink, HealthTracker, JsonHealthFile, health_file, open_store_sink
from .restart_window import RestartWindow, Verdict, WindowPolicy, policies

log = logging.getLogger("qbitrr.events")

READY = b"READY\n"
OK = b"RESULT 2\nOK"
FAIL = b"RESULT 4\nFAIL"
#: Seconds between full resyncs with ``getAllProcessInfo``.
RESYNC_INTERVAL = 15.0


def parse_tokens(text: str) -> dict[str, str]:
    """``a:1 b:two`` -> ``{"a": "1", "b": "two"}`` (supervisord's header and payload format)."""
    out = {}
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep:
            out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class ProcessStateEvent:
    """A PROCESS_STATE_<STATE> event: which program went from which state to which."""

    eventname: str
    processname: str
    groupname: str
    from_state: str | None
    pid: int | None
    expected: bool | None
    tries: int | None
    serial: int | None

    @property
    def state(self) -> str:
        return self.eventname.removeprefix("PROCESS_STATE_")

    @property
    def program(self) -> str:
        """The name XML-RPC takes (``name``, or ``group:name`` for a multi-process group)."""
        g, n = self.groupname, self.processname
        return n if g == n or not g else f"{g}:{n}"

    @classmethod
    def parse(cls, header: dict[str, str], payload: str) -> ProcessStateEvent:
        body = parse_tokens(payload.split("\n", 1)[0])

        def number(key: str) -> int | None:
            value = body.get(key)
            return int(value) if value and value.lstrip("-").isdigit() else None

        expected = number("expected")
        serial = header.get("serial", "")
        return cls(
            eventname=header["eventname"],
            processname=body.get("processname", ""),
            groupname=body.get("groupname", ""),
            from_state=body.get("from_state"),
            pid=number("pid"),
            expected=None if expected is None else bool(expected),
            tries=number("tries"),
            serial=int(serial) if serial.isdigit() else None,
        )


class EventParser:
    """Incremental parser: bytes from stdin in, complete (header, payload) pairs out."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[tuple[dict[str, str], str]]:
        self._buffer += data
        while True:
            line_end = self._buffer.find(b"\n")
            if line_end < 0:
                return
            header = parse_tokens(self._buffer[:line_end].decode("utf-8", "replace"))
            length = int(header.get("len", "0"))
            if len(self._buffer) < line_end + 1 + length:
                return
            payload = self._buffer[line_end + 1 : line_end + 1 + length]
            self._buffer = self._buffer[line_end + 1 + length :]
            yield header, payload.decode("utf-8", "replace")


class Supervision:
    """Applies events: health records, the restart window, restarts through XML-RPC."""

    def __init__(
        self,
        client: SupervisorClient,
        tracker: HealthTracker,
        window: RestartWindow,
        *,
        clock: Callable[[], float] = time.time,
        reload: Callable[[], dict[str, WindowPolicy] | None] | None = None,
        resync_interval: float = RESYNC_INTERVAL,
    ) -> None:
        self.client, self.tracker, self.window = client, tracker, window
        self.clock, self.reload, self.resync_interval = clock, reload, resync_interval
        self._next_resync = 0.0

    def _at(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, UTC)

    def _exit_detail(self, event: ProcessStateEvent) -> str | None:
        state = event.state
        if state == "BACKOFF":
            return f"exited before startsecs (start attempt {event.tries or 0})"
        if state != "EXITED":
            return None
        kind = "expected" if event.expected else "unexpected"
        try:
            status = self.client.info(event.program).exitstatus
        except SupervisorError:
            return f"exited ({kind})"
        how = "killed by a signal" if status < 0 else f"exit code {status}"
        return f"{how} ({kind})"

    def handle(self, event: ProcessStateEvent) -> None:
        if self.reload is not None and (fresh := self.reload()) is not None:
            self.window.set_policies(fresh)
        now = self.clock()
        at = self._at(now)
        name, state = event.program, event.state
        detail = self._exit_detail(event)
        self.tracker.on_event(
            name,
            from_state=event.from_state,
            to_state=state,
            pid=event.pid,
            expected=event.expected,
            at=at,
            detail=detail,
        )
        decision = None
        if state == "EXITED":
            decision = self.window.exited(name, expected=bool(event.expected), now=now)
        elif state == "FATAL":
            decision = self.window.fatal(name, now=now)
        elif state == "STOPPED":
            self.window.stopped(name, now=now)
        elif state == "STARTING":
            cleared = self.window.started(name, from_state=event.from_state, now=now)
            if not self.window.manages(name) and event.from_state != "BACKOFF":
                cleared = self.tracker.get(name).restart_limit_reached  # FATAL, started by hand
            if cleared:
                log.info("%s started by hand: restart limit cleared", name)
                self.tracker.set_limit(name, False, at)
        if decision is None:
            return
        if decision.verdict is Verdict.GIVE_UP:
            log.error("%s: %s; not restarting it", name, decision.reason)
            self.tracker.set_limit(name, True, at, decision.reason)
        elif decision.verdict is Verdict.RESTART:
            log.warning("%s %s: %s", name, detail or "exited", decision.reason)
        else:
            log.info("%s %s: %s", name, detail or "exited", decision.reason)

    def tick(self) -> None:
        """Issue due restarts and, when it is time, resync with supervisord."""
        now = self.clock()
        for name in self.window.due(now):
            try:
                self.client.start(name, wait=False)
                log.info("%s restarted by the restart window", name)
            except SupervisorError as exc:
                self.window.cancel_issue(name)
                if exc.kind not in ("already_started", "shutting_down"):
                    log.error("could not restart %s: %s", name, exc)
        if now >= self._next_resync:
            self._next_resync = now + self.resync_interval
            try:
                self.tracker.resync(self.client.status(), self._at(now))
            except SupervisorError as exc:
                log.warning("resync skipped: %s", exc)

    def timeout(self) -> float:
        """Seconds until :meth:`tick` has work."""
        due = [self._next_resync]
        if (pending := self.window.next_due()) is not None:
            due.append(pending)
        return max(0.0, min(due) - self.clock())


def listen(stdin: BinaryIO, stdout: BinaryIO, supervision: Supervision) -> None:
    """The protocol loop; returns when supervisord closes stdin (it is shutting down)."""
    parser = EventParser()
    fd = stdin.fileno()
    stdout.write(READY)
    stdout.flush()
    while True:
        supervision.tick()
        readable, _, _ = select.select([fd], [], [], supervision.timeout())
        if not readable:
            continue
        data = os.read(fd, 65536)
        if not data:
            return
        for header, payload in parser.feed(data):
            result = OK
            if header.get("eventname", "").startswith("PROCESS_STATE_"):
                try:
                    supervision.handle(ProcessStateEvent.parse(header, payload))
                except Exception:  # one bad event must not kill the listener
                    log.exception("could not handle event %r %r", header, payload)
                    result = FAIL
            stdout.write(result)
            stdout.write(READY)
            stdout.flush()


def open_sinks(config: Any) -> list[HealthSink]:
    """The JSON snapshot, plus the store when this build has one and it opens."""
    sinks: list[HealthSink] = [JsonHealthFile(health_file(config.settings.data_dir))]
    try:
        sinks.append(open_store_sink(config))
    except ImportError:
        pass  # a build without the store: health.json only
    except Exception as exc:
        log.warning("process health goes to health.json only; the store did not open: %s", exc)
    return sinks


def _reloader(path: Path | None) -> Callable[[], dict[str, WindowPolicy] | None]:
    """Re-read the config when its file changed (new instances, changed limits)."""
    stamp = [path.stat().st_mtime_ns if path and path.exists() else 0]

    def reload() -> dict[str, WindowPolicy] | None:
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        if mtime == stamp[0]:
            return None
        stamp[0] = mtime
        from ..config import ConfigError, load_config

        try:
            return policies(load_config(path))
        except ConfigError as exc:
            log.error("config changed but is invalid; keeping the old limits: %s", exc)
            return None

    return reload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="qbitrr-mqtt supervisord event listener")
    parser.add_argument("-c", "--config", type=Path, default=None)
    args = parser.parse_args(argv)
    from ..config import ConfigError, load_config
    from ..logs import config_secrets, setup_logging

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"qbitrr-mqtt events: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        "events", config.settings.log_level, config.settings.log_format, config_secrets(config)
    )
    supervision = Supervision(
        SupervisorClient.for_config(config),
        HealthTracker(open_sinks(config)),
        RestartWindow(policies(config)),
        reload=_reloader(config.source),
    )
    log.info("listening for supervisord process events")
    listen(sys.stdin.buffer, sys.stdout.buffer, supervision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
