"""The `qbitrr-mqtt config` commands through the real console script (issue 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

EXE = [sys.executable, "-m", "qbitrr_mqtt"]


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("QBITRR_")}
    return subprocess.run(
        [*EXE, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=60,
    )


def test_init_writes_a_valid_file_and_never_overwrites(tmp_path: Path):
    path = tmp_path / "config.yaml"
    first = cli("config", "init", str(path))
    assert first.returncode == 0 and path.exists()
    path.write_text(path.read_text() + "\n# my edit\n")
    second = cli("config", "init", str(path))
    assert second.returncode == 2 and "--force" in second.stderr
    assert path.read_text().endswith("# my edit\n")  # untouched
    assert cli("config", "init", str(path), "--force").returncode == 0
    assert "# my edit" not in path.read_text()
    ok = cli("config", "validate", "-c", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout


def test_validate_rejects_a_broken_file_with_one_line_per_problem(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "settings": {"check_interval": "often"},
                "arr": {"radarr-4k": {"type": "radarr", "url": 7878, "api_key": "k"}},
            }
        )
    )
    res = cli("config", "validate", "-c", str(path))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("arr.radarr-4k.url: got 7878; expected a string")
    assert lines[1].startswith("settings.check_interval: got 'often'; expected a whole number")
    assert "Traceback" not in res.stderr


def test_validate_uses_env_config_path_and_overrides(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump({"arr": {"a": {"type": "lidarr", "url": "http://h:8686", "api_key": "k"}}})
    )
    res = cli(
        "config",
        "validate",
        env={"QBITRR_MQTT_CONFIG": str(path), "QBITRR_SETTINGS__CHECK_INTERVAL": "0"},
    )
    assert res.returncode == 2
    assert "settings.check_interval: got 0 (set by $QBITRR_SETTINGS__CHECK_INTERVAL)" in res.stderr


def test_validate_without_any_file_explains(tmp_path: Path):
    res = cli("config", "validate", cwd=tmp_path)
    assert res.returncode == 2 and "config init" in res.stderr


def test_show_prints_effective_config_with_secrets_hidden(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "qbittorrent": {"default": {"url": "http://q:8080", "password": "qbit-secret"}},
                "arr": {"a": {"type": "radarr", "url": "http://h:7878", "api_key": "arr-secret"}},
                "settings": {"dry_run": True},
            }
        )
    )
    res = cli(
        "config",
        "show",
        "-c",
        str(path),
        env={"QBITRR_SETTINGS__DRY_RUN": "false", "QBITRR_MQTT__PASSWORD": "mqtt-secret"},
    )
    assert res.returncode == 0, res.stderr
    shown = yaml.safe_load(res.stdout)
    assert shown["settings"]["dry_run"] is False  # env beats the file
    assert shown["settings"]["policy"]["stalled_strikes"] == 3  # defaults filled
    assert shown["arr"]["a"]["api_key"] == "***" and shown["mqtt"]["password"] == "***"
    assert shown["qbittorrent"]["default"]["password"] == "***"
    for secret in ("qbit-secret", "arr-secret", "mqtt-secret"):
        assert secret not in res.stdout


def test_bad_arguments_exit_2_without_traceback():
    res = cli("search", "x")
    assert res.returncode == 2 and "--media-id" in res.stderr
    res = cli("no-such-command")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_manager_of_unknown_instance_is_refused(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump({"arr": {"a": {"type": "radarr", "url": "http://h:7878", "api_key": "k"}}})
    )
    res = cli("manager", "nope", "-c", str(path))
    assert res.returncode == 2 and "unknown instance 'nope'" in res.stderr
