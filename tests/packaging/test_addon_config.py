"""``qbitrr-mqtt addon-config``: add-on options + the Supervisor's MQTT service → config file.

The Supervisor API is a real HTTP server (tests/packaging/fake_supervisor.py); the written
file must be accepted by the project's own config loader.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_supervisor import BROKER, TOKEN, fake_supervisor

from qbitrr_mqtt.addon import INGRESS_PORT, INGRESS_PROXY, write_addon_config
from qbitrr_mqtt.config import load_config

ADDON_DIR = Path(__file__).resolve().parents[2] / "ha_addon"


def good_options() -> dict[str, Any]:
    """The add-on's default options with the blanks a user must fill in filled."""
    manifest = yaml.safe_load((ADDON_DIR / "config.yaml").read_text(encoding="utf-8"))
    options = copy.deepcopy(manifest["options"])
    options["arr"] = [
        {
            "name": "radarr-4k",
            "type": "radarr",
            "url": "http://192.168.1.10:7878",
            "api_key": "0123456789abcdef",
            "category": "radarr-4k",
        },
        {
            "name": "sonarr",
            "type": "sonarr",
            "url": "http://192.168.1.10:8989",
            "api_key": "fedcba9876543210",
        },
    ]
    options["qbittorrent"]["password"] = "qbit-secret"
    return options


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path, Path]:
    return tmp_path / "options.json", tmp_path / "out" / "config.yaml", tmp_path / "data"


def run(
    options: dict[str, Any] | str,
    paths: tuple[Path, Path, Path],
    api: str | None,
    token: str | None = TOKEN,
) -> int:
    options_path, output, data_dir = paths
    text = options if isinstance(options, str) else json.dumps(options)
    options_path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in {"SUPERVISOR_API": api, "SUPERVISOR_TOKEN": token}.items() if v}
    return write_addon_config(options_path, output, env=env, data_dir=data_dir)


def test_good_options_give_a_config_the_loader_accepts(paths, capsys):
    with fake_supervisor() as supervisor:
        code = run(good_options(), paths, supervisor.url)
    assert code == 0, capsys.readouterr().err
    assert supervisor.requests[0]["Authorization"] == f"Bearer {TOKEN}"
    output, data_dir = paths[1], paths[2]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # it holds passwords

    cfg = load_config(output, env={})
    assert list(cfg.arr) == ["radarr-4k", "sonarr"]
    assert cfg.arr["sonarr"].category == "sonarr"
    assert cfg.arr["radarr-4k"].api_key == "0123456789abcdef"
    assert (cfg.mqtt.host, cfg.mqtt.port) == (BROKER["host"], BROKER["port"])
    assert (cfg.mqtt.username, cfg.mqtt.password) == (BROKER["username"], BROKER["password"])
    assert cfg.mqtt.protocol == "3.1.1"
    assert (cfg.webui.host, cfg.webui.port) == ("0.0.0.0", INGRESS_PORT)
    assert cfg.webui.ingress_proxy == INGRESS_PROXY
    assert cfg.settings.data_dir == data_dir.resolve()
    assert cfg.settings.dry_run is True
    assert cfg.qbittorrent["default"].password == "qbit-secret"
    assert cfg.settings.policy.stalled_strikes == 3
    assert "Wrote" in capsys.readouterr().out


def test_policy_log_level_and_choices_are_carried_over(paths):
    options = good_options()
    options["policy"].update(stalled_strikes=5, remove_torrent="3", hit_and_run="or")
    options.update(log_level="DEBUG", dry_run=False, api_token="token-of-the-user")
    options["qbittorrent"].update(username="", password="")
    with fake_supervisor() as supervisor:
        assert run(options, paths, supervisor.url) == 0
    cfg = load_config(paths[1], env={})
    policy = cfg.arr["sonarr"].policy
    assert (policy.stalled_strikes, policy.remove_torrent, policy.hit_and_run) == (5, 3, "or")
    assert (cfg.settings.log_level, cfg.settings.dry_run) == ("DEBUG", False)
    assert cfg.webui.token == "token-of-the-user"
    assert cfg.qbittorrent["default"].username is None  # empty field: no login


def test_ssl_broker_is_used_with_tls(paths):
    with fake_supervisor({**BROKER, "port": 8883, "ssl": True}) as supervisor:
        assert run(good_options(), paths, supervisor.url) == 0
    cfg = load_config(paths[1], env={})
    assert (cfg.mqtt.port, cfg.mqtt.tls) == (8883, True)


def test_missing_mqtt_service_is_a_clear_error(paths, capsys):
    with fake_supervisor(offer=False) as supervisor:
        code = run(good_options(), paths, supervisor.url)
    err = capsys.readouterr().err
    assert code == 1
    assert "no MQTT broker" in err and "Mosquitto" in err and "mqtt.host" in err
    assert "Traceback" not in err
    assert not paths[1].exists()


def test_own_broker_needs_no_mqtt_service_nor_supervisor(paths):
    options = good_options()
    options["mqtt"] = {"host": "broker.lan", "port": 1884, "username": "u", "password": "p"}
    # No Supervisor at all and no token: the user's broker is enough.
    assert run(options, paths, api=None, token=None) == 0
    cfg = load_config(paths[1], env={})
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.username) == ("broker.lan", 1884, "u")


def test_own_broker_wins_over_the_service(paths):
    options = good_options()
    options["mqtt"] = {"host": "broker.lan"}
    with fake_supervisor() as supervisor:
        assert run(options, paths, supervisor.url) == 0
    assert supervisor.requests == []
    assert load_config(paths[1], env={}).mqtt.host == "broker.lan"


def _set(options: dict[str, Any], path: str, value: Any) -> None:
    node: Any = options
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value


@pytest.mark.parametrize(
    ("path", "value", "reported"),
    [
        ("arr.0.api_key", "", "arr[0].api_key: is empty"),
        ("arr.1.url", "ftp://sonarr", "arr[1].url: got 'ftp://sonarr'"),
        (
            "arr.0.type",
            "readarr",
            "arr[0].type: got 'readarr'; expected one of: radarr, sonarr, lidarr",
        ),
        ("arr.0.name", "Radarr 4K", "arr[0].name: got 'Radarr 4K'"),
        ("arr.1.name", "radarr-4k", "arr[1].name: 'radarr-4k' is used twice"),
        ("arr.1.category", "radarr-4k", "arr[1].category: category 'radarr-4k' is already used"),
        ("policy.stalled_strikes", 0, "policy.stalled_strikes: got 0; expected a value >= 1"),
        ("policy.hit_and_run", "never", "policy.hit_and_run: got 'never'"),
        ("log_level", "LOUD", "log_level: got 'LOUD'"),
        ("qbittorrent.url", "qbit.lan:8080", "qbittorrent.url: got 'qbit.lan:8080'"),
        ("api_token", "short", "api_token: is 5 characters long; expected at least 8 characters"),
        ("arr", {"name": "x"}, "arr: got dict; expected a list of Arr instances"),
    ],
)
def test_bad_options_name_the_option_and_the_fix(paths, capsys, path, value, reported):
    options = good_options()
    _set(options, path, value)
    paths[1].parent.mkdir(parents=True)
    paths[1].write_text("# the previous config\n", encoding="utf-8")
    with fake_supervisor() as supervisor:
        code = run(options, paths, supervisor.url)
    err = capsys.readouterr().err
    assert code == 2
    assert f"add-on option {reported}" in err
    assert "Configuration tab" in err
    assert "Traceback" not in err
    assert paths[1].read_text(encoding="utf-8") == "# the previous config\n"  # left alone


def test_missing_required_arr_key_is_reported(paths, capsys):
    options = good_options()
    del options["arr"][1]["url"]
    with fake_supervisor() as supervisor:
        assert run(options, paths, supervisor.url) == 2
    assert "add-on option arr[1].url: missing required key" in capsys.readouterr().err


def test_secrets_are_not_echoed_in_errors(paths, capsys):
    options = good_options()
    options["arr"][0]["api_key"] = 12345678  # wrong type, and a secret
    with fake_supervisor() as supervisor:
        assert run(options, paths, supervisor.url) == 2
    err = capsys.readouterr().err
    assert "arr[0].api_key" in err and "12345678" not in err


def test_missing_token_is_a_clear_error(paths, capsys):
    with fake_supervisor() as supervisor:
        code = run(good_options(), paths, supervisor.url, token=None)
    err = capsys.readouterr().err
    assert code == 1
    assert "$SUPERVISOR_TOKEN is not set" in err
    assert supervisor.requests == []


def test_wrong_token_is_a_clear_error(paths, capsys):
    with fake_supervisor() as supervisor:
        code = run(good_options(), paths, supervisor.url, token="not-the-token")
    err = capsys.readouterr().err
    assert code == 1
    assert "refused the token (401)" in err and "mqtt:need" in err


def test_unreachable_supervisor_is_a_clear_error(paths, capsys):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = run(good_options(), paths, f"http://127.0.0.1:{port}")
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot reach the Supervisor API at http://127.0.0.1:{port}/services/mqtt" in err
    assert "Traceback" not in err


def test_missing_or_broken_options_file(paths, capsys):
    options_path, output, data_dir = paths
    assert write_addon_config(options_path, output, env={}, data_dir=data_dir) == 1
    assert "options.json does not exist" in capsys.readouterr().err
    assert run("{not json", paths, api=None) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert run("[1, 2]", paths, api=None) == 2
    assert "expected a JSON object" in capsys.readouterr().err


def test_cli_entry_point_writes_a_config_that_validates(paths):
    """The command the add-on's run.sh calls, as a real process, then `config validate`."""
    options_path, output, _ = paths
    options_path.write_text(json.dumps(good_options()), encoding="utf-8")
    cli = [sys.executable, "-m", "qbitrr_mqtt"]
    with fake_supervisor() as supervisor:
        env = {**os.environ, "SUPERVISOR_API": supervisor.url, "SUPERVISOR_TOKEN": TOKEN}
        done = subprocess.run(
            [*cli, "addon-config", "--options", str(options_path), "--output", str(output)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}
    check = subprocess.run(
        [*cli, "config", "validate", "-c", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert "2 Arr instance(s): radarr-4k, sonarr" in check.stdout


def test_cli_entry_point_exit_code_for_missing_service(paths):
    options_path, output, _ = paths
    options_path.write_text(json.dumps(good_options()), encoding="utf-8")
    with fake_supervisor(offer=False) as supervisor:
        env = {**os.environ, "SUPERVISOR_API": supervisor.url, "SUPERVISOR_TOKEN": TOKEN}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "qbitrr_mqtt",
                "addon-config",
                "--options",
                str(options_path),
                "--output",
                str(output),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert "no MQTT broker" in done.stderr and "Traceback" not in done.stderr
