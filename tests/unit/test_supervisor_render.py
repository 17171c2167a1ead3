"""Rendering supervisord's files, read back with supervisord's own config parser."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.supervisor.render import programs, render_main_conf, render_programs
from qbitrr_mqtt.supervisor.run import StackError, paths, prepare

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, arr: dict[str, Any], data_dir: Path | None = None) -> Path:
    doc = {
        "settings": {"data_dir": str(data_dir or tmp_path / "data")},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
        "arr": {
            name: {
                "type": "radarr",
                "url": "http://127.0.0.1:7878",
                "api_key": "k" * 32,
                "category": name,
                **extra,
            }
            for name, extra in arr.items()
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def parse(conf: Path, env: dict[str, str] | None = None) -> ServerOptions:
    """supervisord's own reading of a config file (what `supervisord -c` would run)."""
    options = ServerOptions()
    if env:
        options.environ_expansions.update({f"ENV_{k}": v for k, v in env.items()})
    options.realize(args=["-c", str(conf)])
    return options


def by_name(options: ServerOptions) -> dict[str, Any]:
    return {g.name: g for g in options.process_group_configs}


@pytest.fixture
def two_instances(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        {
            "radarr-4k": {
                "supervisor": {
                    "autorestart": "unexpected",
                    "startretries": 7,
                    "startsecs": 2,
                    "stopwaitsecs": 45,
                    "stopsignal": "INT",
                    "stopasgroup": False,
                }
            },
            "sonarr": {},
            "lidarr": {"enabled": False},
        },
    )


def test_programs_read_back_by_supervisord(two_instances: Path) -> None:
    config = load_config(two_instances)
    where = prepare(config)
    groups = by_name(parse(where.conf))
    assert set(groups) == {"events", "bridge", "manager-radarr-4k", "manager-sonarr", "webui"}

    tuned = groups["manager-radarr-4k"].process_configs[0]
    assert (tuned.startretries, tuned.startsecs, tuned.stopwaitsecs) == (7, 2, 45)
    assert tuned.stopsignal == signal.SIGINT
    assert tuned.stopasgroup is False and tuned.killasgroup is False
    # The events listener applies `autorestart` (and the restart window) itself.
    assert tuned.autorestart is False
    assert tuned.exitcodes == [0]
    assert tuned.command.split() == [
        sys.executable,
        "-m",
        "qbitrr_mqtt",
        "manager",
        "radarr-4k",
        "-c",
        str(two_instances.resolve()),
    ]
    assert tuned.environment["QBITRR_MQTT_CONFIG"] == str(two_instances.resolve())
    assert tuned.redirect_stderr is True
    assert tuned.stdout_logfile == str(where.log_dir / "manager-radarr-4k.log")
    assert tuned.stdout_logfile_maxbytes == 10 * 1024 * 1024
    assert tuned.stdout_logfile_backups == 5

    default = groups["manager-sonarr"].process_configs[0]
    assert (default.startretries, default.startsecs, default.stopwaitsecs) == (3, 10, 30)
    assert default.stopsignal == signal.SIGTERM
    assert default.stopasgroup is True and default.killasgroup is True

    bridge = groups["bridge"].process_configs[0]
    assert bridge.autorestart is RestartUnconditionally
    assert bridge.command.split()[1:4] == ["-m", "qbitrr_mqtt", "bridge"]
    assert groups["webui"].process_configs[0].command.split()[3] == "webui"

    listener = groups["events"]
    assert type(listener).__name__ == "EventListenerPoolConfig"
    assert [e.__name__ for e in listener.pool_events] == ["ProcessStateEvent"]
    assert listener.process_configs[0].command.split()[1:3] == ["-m", "qbitrr_mqtt.bridge.events"]
    # Start order: the listener first, the WebUI last.
    order = sorted(groups, key=lambda n: groups[n].priority)
    assert order[0] == "events" and order[-1] == "webui"


def test_main_conf_socket_logs_and_no_tcp(two_instances: Path) -> None:
    config = load_config(two_instances)
    where = prepare(config)
    options = parse(where.conf)
    assert options.nodaemon is True
    assert options.logfile == str(where.log_dir / "supervisord.log")
    assert options.pidfile == str(where.pidfile)
    [server] = options.server_configs  # only the unix socket: no inet_http_server
    assert server["section"] == "unix_http_server"
    assert server["file"] == str(where.socket)
    assert server["chmod"] == 0o700
    assert where.socket == config.settings.data_dir / "supervisor.sock"
    assert "inet_http_server" not in where.conf.read_text()


def test_top_level_file_is_the_packaged_template() -> None:
    top = (REPO / "supervisord.conf").read_text(encoding="utf-8")
    packaged = (REPO / "qbitrr_mqtt" / "supervisor" / "supervisord.conf").read_text("utf-8")
    assert top == packaged


def test_top_level_file_works_with_the_environment(two_instances: Path) -> None:
    config = load_config(two_instances)
    where = prepare(config)
    env = {"QBITRR_DATA_DIR": str(where.data_dir)}
    from_env = parse(REPO / "supervisord.conf", env)
    rendered = parse(where.conf)
    assert from_env.server_configs == rendered.server_configs
    assert set(by_name(from_env)) == set(by_name(rendered))
    assert from_env.logfile == rendered.logfile


def test_disabled_instances_get_no_program(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"a": {"enabled": False}, "b": {}}))
    names = [p.name for p in programs(config)]
    assert names == ["events", "bridge", "manager-b", "webui"]


def test_percent_in_paths_is_escaped(tmp_path: Path) -> None:
    odd = tmp_path / "100%data"
    config = load_config(write_config(tmp_path, {"a": {}}, data_dir=odd))
    where = prepare(config)
    groups = by_name(parse(where.conf))
    assert groups["manager-a"].process_configs[0].stdout_logfile == str(
        odd.resolve() / "logs" / "manager-a.log"
    )
    assert groups["events"].process_configs[0].stderr_logfile == str(
        odd.resolve() / "logs" / "events.log"
    )
    assert groups["bridge"].process_configs[0].environment["QBITRR_DATA_DIR"] == str(odd.resolve())
    options = parse(where.conf)
    assert options.server_configs[0]["file"] == str(odd.resolve() / "supervisor.sock")
    assert options.logfile == str(odd.resolve() / "logs" / "supervisord.log")


def test_overrides_replace_commands(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"a": {}}))
    text = render_programs(config, overrides={"manager-a": "/bin/sleep 100"})
    assert "command=/bin/sleep 100" in text
    assert "command=/bin/sleep 100" not in text.split("[program:webui]")[1]


def test_prepare_refuses_a_socket_path_too_long(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    config = load_config(write_config(tmp_path, {"a": {}}, data_dir=deep))
    with pytest.raises(StackError, match="shorter path"):
        prepare(config)


def test_render_main_conf_fills_in_the_data_dir() -> None:
    text = render_main_conf("file=%(ENV_QBITRR_DATA_DIR)s/x.sock\n", Path("/srv/q%d"))
    assert text == "file=/srv/q%%d/x.sock\n"
    assert paths("/srv/q").programs == Path("/srv/q/supervisor/programs.conf")
