"""The one place that speaks XML-RPC to supervisord (over its unix socket, never TCP).

Every call opens a fresh connection with a timeout, so one client can be shared by threads
(the WebUI calls it from a thread pool) and a hung supervisord costs a timeout, not a hang.
Every failure is a :class:`SupervisorError` whose message says what happened in words a user
can act on ("unknown program 'manager-x' (known: ...)", "manager-x is not running",
"supervisord is not reachable at /data/supervisor.sock: no such socket; is `qbitrr-mqtt run`
running?"). :class:`SupervisorUnreachable` is the same type (a subclass that is also a
``ConnectionError``) for callers that answer "unreachable" differently from "refused".
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from supervisor.xmlrpc import Faults, SupervisorTransport

#: States in which supervisord considers a process started (stop is possible, start is not).
RUNNING_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF"})
#: The socket's name inside the data directory (kept short: unix socket paths max ~107 bytes).
SOCKET_NAME = "supervisor.sock"

T = TypeVar("T")


class SupervisorError(Exception):
    """A supervisord call failed; ``kind`` says how (``unknown_program``, ``not_running``,
    ``already_started``, ``spawn_error``, ``failed``, ``unreachable``, ``shutting_down``)."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


class SupervisorUnreachable(SupervisorError, ConnectionError):
    """supervisord did not answer: no socket, connection refused, or a timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unreachable")


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One entry of ``supervisor.getAllProcessInfo`` (same field names)."""

    name: str
    group: str
    statename: str
    state: int
    pid: int
    start: int
    stop: int
    now: int
    exitstatus: int
    spawnerr: str
    description: str

    @classmethod
    def from_rpc(cls, data: dict[str, Any]) -> ProcessInfo:
        return cls(**{k: data.get(k, d) for k, d in _DEFAULTS.items()})

    @property
    def full_name(self) -> str:
        """``group:name``, or just ``name`` when they are the same (the usual case here)."""
        return self.name if self.group == self.name else f"{self.group}:{self.name}"

    @property
    def running(self) -> bool:
        return self.statename in RUNNING_STATES

    @property
    def uptime(self) -> int | None:
        """Seconds since start while RUNNING, else None."""
        if self.statename != "RUNNING" or not self.start:
            return None
        return max(0, self.now - self.start)


_DEFAULTS: dict[str, Any] = {
    "name": "",
    "group": "",
    "statename": "UNKNOWN",
    "state": 1000,
    "pid": 0,
    "start": 0,
    "stop": 0,
    "now": 0,
    "exitstatus": 0,
    "spawnerr": "",
    "description": "",
}


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What :meth:`SupervisorClient.reread_update` changed (program group names)."""

    added: list[str]
    changed: list[str]
    removed: list[str]


class _TimeoutUnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class _Transport(SupervisorTransport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__(None, None, f"unix://{path}")
        self._get_connection = lambda: _TimeoutUnixConnection(path, timeout)


class SupervisorClient:
    """XML-RPC client of one supervisord, addressed by its unix socket."""

    def __init__(self, socket_path: Path | str, timeout: float = 10.0) -> None:
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    @classmethod
    def for_data_dir(cls, data_dir: Path | str, timeout: float = 10.0) -> SupervisorClient:
        return cls(Path(data_dir) / SOCKET_NAME, timeout)

    @classmethod
    def for_config(cls, config: Any, timeout: float = 10.0) -> SupervisorClient:
        """The client of the supervisord that ``qbitrr-mqtt run`` starts for ``config``."""
        return cls.for_data_dir(config.settings.data_dir, timeout)

    # --- plumbing ------------------------------------------------------------------------

    def _call(self, fn: Callable[[Any], T], what: str, name: str | None = None) -> T:
        transport = _Transport(str(self.socket_path), self.timeout)
        proxy = xmlrpc.client.ServerProxy("http://localhost", transport=transport)
        try:
            return fn(proxy)
        except xmlrpc.client.Fault as fault:
            raise self._fault(fault, what, name) from None
        except FileNotFoundError:
            raise self._unreachable("no such socket") from None
        except ConnectionRefusedError:
            raise self._unreachable("connection refused (stale socket)") from None
        except TimeoutError:
            raise self._unreachable(f"no answer within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
            raise self._unreachable(str(exc) or type(exc).__name__) from None
        finally:
            transport.close()

    def _unreachable(self, why: str) -> SupervisorUnreachable:
        return SupervisorUnreachable(
            f"supervisord is not reachable at {self.socket_path}: {why}; "
            "is `qbitrr-mqtt run` running with this config?"
        )

    def _fault(self, fault: xmlrpc.client.Fault, what: str, name: str | None) -> SupervisorError:
        code, text = fault.faultCode, fault.faultString
        if code == Faults.BAD_NAME:
            return SupervisorError(f"unknown program {name!r}{self._known()}", "unknown_program")
        if code == Faults.NOT_RUNNING:
            return SupervisorError(f"{name} is not running (already stopped)", "not_running")
        if code == Faults.ALREADY_STARTED:
            return SupervisorError(f"{name} is already running", "already_started")
        if code in (Faults.SPAWN_ERROR, Faults.ABNORMAL_TERMINATION, Faults.NO_FILE):
            return SupervisorError(f"{name} could not be started: {text}", "spawn_error")
        if code == Faults.SHUTDOWN_STATE:
            return SupervisorError("supervisord is shutting down", "shutting_down")
        return SupervisorError(f"supervisord refused to {what}: {text}", "failed")

    def _known(self) -> str:
        try:
            names = sorted(p.full_name for p in self.status())
        except SupervisorError:
            return ""
        return f" (known: {', '.join(names) or 'none'})"

    # --- queries -------------------------------------------------------------------------

    def ping(self) -> str:
        """supervisord's state name (``RUNNING``, ``SHUTDOWN`` ...); raises when unreachable."""
        state: dict[str, Any] = self._call(lambda p: p.supervisor.getState(), "get its state")
        return str(state["statename"])

    def pid(self) -> int:
        """supervisord's own pid."""
        return int(self._call(lambda p: p.supervisor.getPID(), "get its pid"))

    def status(self) -> list[ProcessInfo]:
        """Every program and event listener, in supervisord's order."""
        infos = self._call(lambda p: p.supervisor.getAllProcessInfo(), "list processes")
        return [ProcessInfo.from_rpc(i) for i in infos]

    def info(self, name: str) -> ProcessInfo:
        data = self._call(lambda p: p.supervisor.getProcessInfo(name), "describe", name)
        return ProcessInfo.from_rpc(data)

    # --- control -------------------------------------------------------------------------

    def start(self, name: str, wait: bool = True) -> int:
        """Start a program; its pid (0 when ``wait`` is false and it has not forked yet).

        With ``wait`` supervisord answers once the program stayed up ``startsecs`` (or
        gave up: then ``spawn_error``).
        """
        self._call(lambda p: p.supervisor.startProcess(name, wait), "start", name)
        return self.info(name).pid

    def stop(self, name: str, wait: bool = True) -> None:
        """Stop a program (``not_running`` when it is already stopped)."""
        self._call(lambda p: p.supervisor.stopProcess(name, wait), "stop", name)

    def restart(self, name: str) -> int:
        """Stop the program when it runs, start it again, and return the new pid."""
        if self.info(name).running:
            try:
                self.stop(name)
            except SupervisorError as exc:
                if exc.kind != "not_running":  # it exited by itself meanwhile
                    raise
        return self.start(name)

    def signal(self, name: str, sig: str) -> None:
        """Send a signal (``"TERM"``, ``"KILL"``, ``"HUP"`` ...) to a running program."""
        self._call(lambda p: p.supervisor.signalProcess(name, sig), f"signal {sig}", name)

    def reread_update(self) -> UpdateResult:
        """Re-read the program files and apply the differences, like ``supervisorctl update``.

        Added groups are added (and started when ``autostart``); changed ones are stopped,
        removed and added again; removed ones are stopped and removed. Unchanged programs
        keep running untouched.
        """
        result = self._call(lambda p: p.supervisor.reloadConfig(), "re-read its config")
        added, changed, removed = (list(x) for x in result[0])
        for name in removed + changed:
            self._stop_group(name)
            self._group_call("removeProcessGroup", name, "remove")
        for name in changed + added:
            self._group_call("addProcessGroup", name, "add")
        return UpdateResult(sorted(added), sorted(changed), sorted(removed))

    def _group_call(self, method: str, name: str, what: str) -> None:
        self._call(lambda p: getattr(p.supervisor, method)(name), what, name)

    def _stop_group(self, name: str) -> None:
        try:
            self._call(lambda p: p.supervisor.stopProcessGroup(name, True), "stop", name)
        except SupervisorError as exc:
            if exc.kind != "not_running":
                raise

    def shutdown(self) -> None:
        """Stop every program and supervisord itself."""
        self._call(lambda p: p.supervisor.shutdown(), "shut down")
