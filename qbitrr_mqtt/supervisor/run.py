"""``qbitrr-mqtt run`` and ``qbitrr-mqtt status``: the stack under supervisord.

:func:`prepare` lays out the data directory::

    <data_dir>/supervisor.sock               the XML-RPC socket (mode 0700, no TCP port)
    <data_dir>/supervisor/supervisord.conf   the packaged supervisord.conf, data dir filled in
    <data_dir>/supervisor/programs.conf      the rendered programs (see render.py)
    <data_dir>/supervisor/supervisord.pid
    <data_dir>/supervisor/health.json        process health written by the events listener
    <data_dir>/logs/<program>.log            one rotated log per program, and supervisord.log

The copy has the data directory written in, so ``supervisorctl -c
<data_dir>/supervisor/supervisord.conf status`` works from any shell without environment.
:func:`run_stack` then runs the ``supervisord`` installed next to this Python (never the
system one, which may import another supervisor version) in the foreground, in its own
process group, and forwards SIGTERM / SIGINT to it, so a container stop or Ctrl-C stops every
program within its ``stopwaitsecs``. SIGHUP (terminal closed) and SIGQUIT also stop the stack:
supervisord would take SIGHUP as "reload", which is `supervisorctl reload`'s job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from ..bridge.health import ProcessHealthRecord, health_file, read_health_file
from ..config.loader import ENV_VALIDATED
from .render import render_main_conf, render_programs, template_text
from .rpc import SOCKET_NAME, ProcessInfo, SupervisorClient, SupervisorError

#: Linux's sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


class StackError(RuntimeError):
    """The stack cannot start (message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class StackPaths:
    data_dir: Path
    conf: Path
    programs: Path
    socket: Path
    pidfile: Path
    log_dir: Path


def paths(data_dir: Path | str) -> StackPaths:
    data_dir = Path(data_dir).resolve()
    sup = data_dir / "supervisor"
    return StackPaths(
        data_dir=data_dir,
        conf=sup / "supervisord.conf",
        programs=sup / "programs.conf",
        socket=data_dir / SOCKET_NAME,
        pidfile=sup / "supervisord.pid",
        log_dir=data_dir / "logs",
    )


def supervisord_executable() -> Path:
    """The ``supervisord`` of this Python's environment (the venv's, not /usr/bin's)."""
    for candidate in (
        Path(sys.executable).parent / "supervisord",
        Path(sys.prefix) / "bin" / "supervisord",
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise StackError(
        f"supervisord is not installed next to {sys.executable}; "
        "reinstall qbitrr-mqtt (it depends on supervisor) in this environment"
    )


def prepare(
    config: Any,
    *,
    config_path: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    python: str | None = None,
) -> StackPaths:
    """Create the data directory and write supervisord.conf and programs.conf."""
    where = paths(config.settings.data_dir)
    if (config_path or config.source) is None:
        raise StackError(
            "the stack needs a config file: every program reads it (qbitrr-mqtt run -c PATH)"
        )
    if len(os.fsencode(where.socket)) > MAX_SOCKET_PATH:
        raise StackError(
            f"the supervisord socket path {where.socket} is longer than {MAX_SOCKET_PATH} bytes; "
            "set settings.data_dir to a shorter path"
        )
    for directory in (where.data_dir, where.conf.parent, where.log_dir):
        directory.mkdir(parents=True, exist_ok=True)
    _write(where.conf, render_main_conf(template_text(), where.data_dir))
    text = render_programs(config, config_path=config_path, overrides=overrides, python=python)
    _write(where.programs, text)
    return where


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def environment(config: Any, where: StackPaths, config_path: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["QBITRR_DATA_DIR"] = str(where.data_dir)
    source = config_path or config.source
    if source is not None:
        env["QBITRR_MQTT_CONFIG"] = str(Path(source).resolve())
    # The programs read the file this process has just validated: with its digest they skip
    # the JSON Schema pass (and jsonschema's import) when the file is still the same.
    env.pop(ENV_VALIDATED, None)
    if getattr(config, "validated", ""):
        env[ENV_VALIDATED] = config.validated
    return env


def _already_running(where: StackPaths) -> bool:
    try:
        SupervisorClient(where.socket, timeout=3).ping()
    except SupervisorError:
        return False
    return True


def run_stack(
    config: Any,
    *,
    config_path: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    exec_waiter: bool = False,
) -> int:
    """Render the programs and run supervisord in the foreground; its exit code.

    1 when supervisord cannot start (the reason is printed to stderr). ``exec_waiter``
    (``qbitrr-mqtt run``): once supervisord is started, replace this process by the small
    signal forwarder of ``waiter.py`` instead of waiting here; it never returns then.
    """
    try:
        where = prepare(config, config_path=config_path, overrides=overrides)
        executable = supervisord_executable()
        if _already_running(where):
            raise StackError(
                f"a supervisord already serves {where.socket}; stop it first "
                f"(supervisorctl -c {where.conf} shutdown)"
            )
    except (StackError, OSError) as exc:
        print(f"qbitrr-mqtt: {exc}", file=sys.stderr)
        return 1
    env = environment(config, where, config_path)
    # Its own process group: a terminal's Ctrl-C reaches only us and is forwarded once.
    child = subprocess.Popen(
        [str(executable), "-n", "-c", str(where.conf)], env=env, process_group=0
    )
    if exec_waiter:
        exec_forwarder(child.pid)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            try:
                return child.wait()
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exec_forwarder(pid: int) -> NoReturn:
    """Become ``waiter.py``: forward signals to ``pid`` (our child) and exit with its code.

    The forwarded signals are blocked across the ``exec`` (the mask survives it), so one
    arriving in between waits for the waiter's handlers instead of killing us.
    """
    waiter = Path(__file__).with_name("waiter.py")
    argv = [sys.executable, "-I", "-S", str(waiter), "run", f"--pid={pid}"]
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, argv)
    except OSError as exc:  # cannot happen with a working interpreter; wait here instead
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        print(f"qbitrr-mqtt: cannot exec {waiter}: {exc}; waiting in this process", file=sys.stderr)
        from .waiter import main

        sys.exit(main([f"--pid={pid}"]))


def refresh_programs(
    config: Any,
    *,
    config_path: Path | None = None,
    client: SupervisorClient | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Any:
    """After a config change: re-render programs.conf and apply it to the running supervisord
    (added / removed / changed instances only; the other programs keep running)."""
    prepare(config, config_path=config_path, overrides=overrides)
    return (client or SupervisorClient.for_config(config)).reread_update()


# --- status ------------------------------------------------------------------------------


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def status_rows(
    live: list[ProcessInfo] | None, health: Mapping[str, ProcessHealthRecord]
) -> list[dict[str, Any]]:
    """One row per program: supervisord's live state merged with the listener's health."""
    names = [p.full_name for p in live] if live is not None else sorted(health)
    infos = {p.full_name: p for p in live or []}
    rows = []
    for name in names:
        info, rec = infos.get(name), health.get(name)
        state = info.statename if info else (rec.state if rec else "UNKNOWN")
        note = ""
        if rec and rec.restart_limit_reached:
            detail = (rec.last_exit or "").replace("restart limit reached: ", "")
            note = f"restart limit reached: {detail}".rstrip(": ")
        elif info and info.statename in ("EXITED", "FATAL", "BACKOFF"):
            note = info.spawnerr or (rec.last_exit if rec else "") or ""
        rows.append(
            {
                "name": name,
                "state": state,
                "pid": (info.pid or None) if info else (rec.pid if rec else None),
                "uptime": info.uptime if info else None,
                "restarts": rec.restart_count if rec else 0,
                "last_restart": rec.last_restart if rec else None,
                "note": note,
            }
        )
    return rows


def status_table(
    config: Any,
    *,
    client: SupervisorClient | None = None,
    now: float | None = None,
) -> str:
    """``qbitrr-mqtt status``'s process table (text). Works when supervisord is down too:
    then the last known health is shown under a line saying so."""
    client = client or SupervisorClient.for_config(config, timeout=5)
    health = read_health_file(health_file(config.settings.data_dir))
    header = ""
    try:
        live: list[ProcessInfo] | None = client.status()
    except SupervisorError as exc:
        live = None
        header = f"{exc}\nLast known state:\n"
    rows = status_rows(live, health)
    now = now if now is not None else time.time()
    table = [("PROGRAM", "STATE", "PID", "UPTIME", "RESTARTS", "LAST RESTART", "NOTE")]
    for row in rows:
        last = row["last_restart"]
        ago = _duration(now - last.timestamp()) + " ago" if isinstance(last, datetime) else "-"
        table.append(
            (
                row["name"],
                row["state"],
                str(row["pid"] or "-"),
                _duration(row["uptime"]),
                str(row["restarts"]),
                ago,
                row["note"],
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in table
    ]
    return header + "\n".join(line.rstrip() for line in lines) + "\n"
