"""Render supervisord's program sections from the config (SPEC §5).

One ``[program:manager-<instance>]`` per *enabled* Arr instance with that instance's
``startretries`` / ``startsecs`` / ``stopwaitsecs`` / ``stopsignal`` / ``stopasgroup``, plus
``[program:bridge]``, ``[program:webui]`` and ``[eventlistener:events]``.

Who restarts what (see ``qbitrr_mqtt.bridge.restart_window`` for the full reasoning):

* supervisord keeps its own start limits: a manager that dies before ``startsecs`` is retried
  ``startretries`` times (BACKOFF) and then given up (FATAL).
* A manager that exits *after* it started is restarted by the ``events`` listener, not by
  supervisord: its section says ``autorestart=false`` and the listener applies the
  instance's ``autorestart`` value, ``restart_delay`` and the ``max_restarts`` /
  ``restart_window`` limit, restarting through XML-RPC. supervisord's own autorestart would
  restart at once, leaving no room for the delay or the window.
* ``bridge`` and ``webui`` keep plain supervisord autorestart: they have no per-instance limits
  and must come back even when the listener is down.

Every program's stderr goes to its stdout, which supervisord writes to
``<data_dir>/logs/<program>.log`` with rotation (the WebUI's log routes read those files).
Values are escaped for supervisord's ``%(...)s`` expansion, so a ``%`` in a path is safe.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ArrInstance, Config

#: The event listener's program name (``[eventlistener:events]``).
EVENTS_PROGRAM = "events"
#: Rotation of every program log (supervisord's ``*_logfile_maxbytes`` / ``*_backups``).
LOG_MAXBYTES = "10MB"
LOG_BACKUPS = 5
#: Start order (supervisord starts low numbers first and stops them last): the listener
#: before anything it must watch, the bridge before the managers publish, the WebUI last.
PRIORITY = {"events": 10, "bridge": 100, "manager": 200, "webui": 300}


@dataclass(frozen=True, slots=True)
class Program:
    """One supervisord section: its name, command and settings (in file order)."""

    name: str
    kind: str  # "manager", "bridge", "webui" or "events"
    command: str
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def section(self) -> str:
        prefix = "eventlistener" if self.kind == "events" else "program"
        return f"{prefix}:{self.name}"


def escape(value: str) -> str:
    """Escape ``%`` for supervisord's ``%(ENV_X)s`` expansion (which applies to every value)."""
    return value.replace("%", "%%")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _env_value(value: str) -> str:
    # supervisord splits environment= with a non-POSIX shlex: quotes group, nothing escapes.
    if '"' in value or "\n" in value:
        raise ValueError(f"cannot pass {value!r} to supervisord: it contains a quote or newline")
    return f'"{value}"'


def environment(values: Mapping[str, str]) -> str:
    return ",".join(f"{key}={_env_value(val)}" for key, val in values.items())


def cli_command(python: str, args: list[str], config_path: Path | None) -> str:
    """``<python> -m qbitrr_mqtt <args> [-c <config>]`` as one shell-quoted command line."""
    argv = [python, "-m", "qbitrr_mqtt", *args]
    if config_path is not None:
        argv += ["-c", str(config_path)]
    return shlex.join(argv)


def _logging(log_dir: Path, program: str) -> dict[str, str]:
    return {
        "redirect_stderr": "true",
        "stdout_logfile": str(log_dir / f"{program}.log"),
        "stdout_logfile_maxbytes": LOG_MAXBYTES,
        "stdout_logfile_backups": str(LOG_BACKUPS),
    }


def manager_program(
    instance: ArrInstance, command: str, env: Mapping[str, str], log_dir: Path, workdir: Path
) -> Program:
    """The manager of one instance; ``autorestart=false`` because the listener owns restarts."""
    limits = instance.supervisor
    return Program(
        name=instance.program,
        kind="manager",
        command=command,
        settings={
            "directory": str(workdir),
            "environment": environment(env),
            "autostart": "true",
            "autorestart": "false",
            "startretries": str(limits.startretries),
            "startsecs": str(limits.startsecs),
            "stopwaitsecs": str(limits.stopwaitsecs),
            "stopsignal": limits.stopsignal,
            "stopasgroup": _bool(limits.stopasgroup),
            "killasgroup": _bool(limits.stopasgroup),
            "exitcodes": "0",
            "priority": str(PRIORITY["manager"]),
            **_logging(log_dir, instance.program),
        },
    )


def service_program(
    name: str, command: str, env: Mapping[str, str], log_dir: Path, workdir: Path
) -> Program:
    """``bridge`` or ``webui``: plain supervisord autorestart (they must come back on their own)."""
    return Program(
        name=name,
        kind=name,
        command=command,
        settings={
            "directory": str(workdir),
            "environment": environment(env),
            "autostart": "true",
            "autorestart": "true",
            "startretries": "5",
            "startsecs": "3",
            "stopwaitsecs": "30",
            "stopsignal": "TERM",
            "stopasgroup": "true",
            "killasgroup": "true",
            "exitcodes": "0",
            "priority": str(PRIORITY[name]),
            **_logging(log_dir, name),
        },
    )


def events_program(command: str, env: Mapping[str, str], log_dir: Path, workdir: Path) -> Program:
    """The PROCESS_STATE listener: stdout is its protocol channel, so only stderr is logged."""
    return Program(
        name=EVENTS_PROGRAM,
        kind="events",
        command=command,
        settings={
            "events": "PROCESS_STATE",
            # Events wait here while the listener is busy; the default (10) drops them
            # when a crash-looping program and a restart storm coincide.
            "buffer_size": "1024",
            "directory": str(workdir),
            "environment": environment(env),
            "autostart": "true",
            "autorestart": "true",
            "startretries": "10",
            "startsecs": "1",
            "stopwaitsecs": "10",
            "stopsignal": "TERM",
            "priority": str(PRIORITY["events"]),
            "stdout_logfile": "NONE",
            "stderr_logfile": str(log_dir / f"{EVENTS_PROGRAM}.log"),
            "stderr_logfile_maxbytes": LOG_MAXBYTES,
            "stderr_logfile_backups": str(LOG_BACKUPS),
        },
    )


def programs(
    config: Config,
    *,
    config_path: Path | None = None,
    python: str | None = None,
    overrides: Mapping[str, str] | None = None,
    workdir: Path | None = None,
) -> list[Program]:
    """Every program of the stack, in start order. Disabled instances get none.

    ``overrides`` maps a program name to a command line that replaces the real one (the
    tests run stand-in managers; a packager may wrap a command). ``config_path`` defaults
    to the file the config was read from.
    """
    python = python or sys.executable
    config_path = config_path or config.source
    if config_path is not None:
        config_path = Path(config_path).resolve()
    overrides = overrides or {}
    data_dir = Path(config.settings.data_dir)
    log_dir = data_dir / "logs"
    workdir = workdir or (config_path.parent if config_path else data_dir)
    env = {"PYTHONUNBUFFERED": "1", "QBITRR_DATA_DIR": str(data_dir)}
    if config_path is not None:
        env["QBITRR_MQTT_CONFIG"] = str(config_path)

    def command(name: str, default: str) -> str:
        return overrides.get(name, default)

    events_cmd = shlex.join([python, "-m", "qbitrr_mqtt.bridge.events"])
    if config_path is not None:
        events_cmd += " " + shlex.join(["-c", str(config_path)])
    out = [
        events_program(command(EVENTS_PROGRAM, events_cmd), env, log_dir, workdir),
        service_program(
            "bridge",
            command("bridge", cli_command(python, ["bridge"], config_path)),
            env,
            log_dir,
            workdir,
        ),
    ]
    for instance in config.arr.values():
        if not instance.enabled:
            continue
        default = cli_command(python, ["manager", instance.name], config_path)
        out.append(
            manager_program(instance, command(instance.program, default), env, log_dir, workdir)
        )
    out.append(
        service_program(
            "webui",
            command("webui", cli_command(python, ["webui"], config_path)),
            env,
            log_dir,
            workdir,
        )
    )
    return out


#: Keys supervisord expands twice (once as any value, once with the program's names).
_TWICE = frozenset({"stdout_logfile", "stderr_logfile"})


def _lines(program: Program) -> Iterator[str]:
    yield f"[{program.section}]"
    yield f"command={escape(program.command)}"
    for key, value in program.settings.items():
        yield f"{key}={escape(escape(value)) if key in _TWICE else escape(value)}"


def render_programs(
    config: Config,
    *,
    config_path: Path | None = None,
    python: str | None = None,
    overrides: Mapping[str, str] | None = None,
    workdir: Path | None = None,
) -> str:
    """The text of ``programs.conf`` (arguments as for :func:`programs`)."""
    source = config_path or config.source
    header = [
        "; Generated by `qbitrr-mqtt run` from "
        + (str(source) if source else "the environment")
        + ". Do not edit: it is rewritten at every start.",
        "; Managers have autorestart=false on purpose: the `events` listener restarts them",
        "; after settings.restart_delay and gives up after max_restarts within restart_window.",
    ]
    found = programs(
        config, config_path=config_path, python=python, overrides=overrides, workdir=workdir
    )
    blocks = ["\n".join(_lines(p)) for p in found]
    return "\n".join(header) + "\n\n" + "\n\n".join(blocks) + "\n"


def render_main_conf(template: str, data_dir: Path) -> str:
    """The top-level supervisord.conf with the data directory written in (no env needed)."""
    return template.replace("%(ENV_QBITRR_DATA_DIR)s", escape(str(data_dir)))


def template_text() -> str:
    """The supervisord.conf shipped in the package (identical to the repository's)."""
    return (Path(__file__).with_name("supervisord.conf")).read_text(encoding="utf-8")
