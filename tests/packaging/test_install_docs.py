"""docs/INSTALL.md agrees with the files it describes (Dockerfile, add-on, CLI)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from dockerfile import env, exec_form, in_stage, parse, stages

from qbitrr_mqtt.cli import app

ROOT = Path(__file__).resolve().parents[2]
INSTALL = (ROOT / "docs" / "INSTALL.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", INSTALL, re.S)


def test_readme_links_the_install_page():
    assert "(docs/INSTALL.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_three_install_paths():
    for heading in ("## 1. Home Assistant add-on", "## 2. Docker", "## 3. pip"):
        assert heading in INSTALL


def test_compose_example_matches_the_image():
    image = parse(ROOT / "Dockerfile")
    last = stages(image) - 1
    [compose] = [yaml.safe_load(b) for b in blocks("yaml") if "services:" in b]
    service = compose["services"]["qbitrr-mqtt"]
    [port] = in_stage(image, last, "EXPOSE")
    assert f"{port}:{port}" in service["ports"]
    assert any(v.endswith(":/config") for v in service["volumes"])
    assert in_stage(image, last, "VOLUME") == ['["/config"]']
    assert service["stop_grace_period"] == "45s"
    assert "--stop-timeout 45" in INSTALL
    assert env(image, last)["QBITRR_WEBUI__HOST"] in INSTALL
    [user] = in_stage(image, last, "USER")
    assert f"chown {user}" in INSTALL


def test_commands_shown_exist():
    """Every `qbitrr-mqtt <command>` on the page is a real command of the CLI."""
    import typer.main

    group = typer.main.get_command(app)
    # Overlapping matches: `docker exec qbitrr-mqtt qbitrr-mqtt status` names a container first.
    words = set(re.findall(r"(?=qbitrr-mqtt ([a-z][a-z-]+))", INSTALL))
    used = words - {"qbitrr-mqtt"}
    assert {"config", "run", "status", "addon-config"} <= used
    assert used <= set(group.commands), used - set(group.commands)  # type: ignore[attr-defined]
    [entry] = in_stage(parse(ROOT / "Dockerfile"), 1, "ENTRYPOINT")
    assert exec_form(entry)[-1] == "qbitrr-mqtt"  # so `docker run IMAGE config init` works
