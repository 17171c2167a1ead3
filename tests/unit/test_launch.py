"""``python -m qbitrr_mqtt manager|bridge|webui [-c PATH]`` (what supervisord runs) starts
without typer, and behaves as the typer CLI does for the same arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qbitrr_mqtt.launch import program

TYPER_CLI = "import sys; from qbitrr_mqtt.cli import main; sys.argv[0] = 'qbitrr-mqtt'; main()"


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        (["manager", "radarr", "-c", "/x/c.yaml"], ("manager", "radarr", Path("/x/c.yaml"))),
        (["manager", "radarr"], ("manager", "radarr", None)),
        (["bridge", "-c", "c.yaml"], ("bridge", None, Path("c.yaml"))),
        (["webui", "-c", "c.yaml"], ("webui", None, Path("c.yaml"))),
        (["webui"], ("webui", None, None)),
        (["manager", "--help"], None),
        (["manager", "radarr", "--config", "c.yaml"], None),
        (["manager", "radarr", "-c", ""], None),
        (["manager", "radarr", "-c", "--help"], None),
        (["manager", "-c", "c.yaml"], None),
        (["manager", "a", "b", "-c", "c.yaml"], None),
        (["bridge", "--help"], None),
        (["run", "-c", "c.yaml"], None),
        (["config", "validate", "-c", "c.yaml"], None),
        (["--version"], None),
        ([], None),
    ],
)
def test_only_the_supervisord_command_lines_skip_typer(
    argv: list[str], found: tuple[str, str | None, Path | None] | None
) -> None:
    assert program(argv) == found


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    good = {
        "settings": {"data_dir": str(tmp_path / "data")},
        "qbittorrent": {"default": {"url": "http://127.0.0.1:8080"}},
        "mqtt": {"enabled": False},
        "arr": {"radarr": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k" * 32}},
    }
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good))
    bad = {**good, "settings": {"check_interval": "often"}, "surprise": 1}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "broken.yaml").write_text("arr: [unclosed\n")
    return tmp_path


@pytest.mark.parametrize(
    "argv",
    [
        ["manager", "nope", "-c", "good.yaml"],
        ["manager", "radarr", "-c", "missing.yaml"],
        ["manager", "radarr", "-c", "bad.yaml"],
        ["manager", "radarr", "-c", "broken.yaml"],
        ["bridge", "-c", "bad.yaml"],
        ["webui", "-c", "missing.yaml"],
        ["manager", "radarr"],  # no -c: ./config.yaml, which does not exist here
    ],
)
def test_same_output_and_exit_code_as_the_typer_cli(configs: Path, argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBITRR_")}

    def run(*prefix: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, *prefix, *argv],
            cwd=configs,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr

    launched, typer_cli = run("-m", "qbitrr_mqtt"), run("-c", TYPER_CLI)
    assert launched == typer_cli
    assert launched[0] == 2 and launched[2]


def test_a_manager_command_line_does_not_load_typer(configs: Path) -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['qbitrr_mqtt', 'manager', 'nope', '-c', 'good.yaml']\n"
        "try:\n"
        "    runpy.run_module('qbitrr_mqtt', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, sorted(m for m in sys.modules if m.split('.')[0] in {'typer', 'click'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=configs, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "2 []", done.stderr
