"""The demo's pure parts: its work directory rules, its config and its scenario.

The demo itself (real services, the stack, a clean stop) is tested end to end in
tests/integration/test_demo.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from qbitrr_mqtt.cli import app
from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.demo import (
    KINDS,
    MARKER,
    SCENARIO,
    DemoError,
    DemoServices,
    demo_config,
    prepare_workdir,
)
from services.arr_emulator.seeds import DEMO
from services.torrents import STATES


def test_new_directory_is_created_and_marked(tmp_path: Path) -> None:
    root, temporary = prepare_workdir(tmp_path / "new" / "demo")
    assert root.is_dir() and (root / MARKER).exists() and not temporary


def test_a_previous_demo_is_wiped(tmp_path: Path) -> None:
    root, _ = prepare_workdir(tmp_path / "demo")
    (root / "data").mkdir()
    (root / "data" / "qbitrr.db").write_text("old")
    (root / "config.yaml").write_text("old")
    again, _ = prepare_workdir(root)
    assert sorted(p.name for p in again.iterdir()) == [MARKER]


def test_a_foreign_directory_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    with pytest.raises(DemoError, match="not made by the demo"):
        prepare_workdir(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "mine"
    with pytest.raises(DemoError, match="not a directory"):
        prepare_workdir(tmp_path / "precious.txt")


def test_without_workdir_a_temporary_directory_is_used() -> None:
    root, temporary = prepare_workdir(None)
    try:
        assert temporary and root.is_dir() and not any(root.iterdir())
    finally:
        root.rmdir()


def test_cli_refuses_a_foreign_workdir_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not made by the demo" in result.output
    assert "Traceback" not in result.output


def _services(tmp_path: Path, *, broker: bool, client: bool) -> DemoServices:
    services = DemoServices(tmp_path)
    services.mosquitto = SimpleNamespace(port=18830) if broker else None
    services.client = SimpleNamespace(url="http://127.0.0.1:18080") if client else None
    for n, kind in enumerate(KINDS):
        services.arrs[kind] = SimpleNamespace(url=f"http://127.0.0.1:{17000 + n}")
        services.api_keys[kind] = f"key-{kind}"
    return services


@pytest.mark.parametrize(("broker", "client"), [(True, True), (False, False)])
def test_demo_config_is_valid_and_points_at_the_demo_services(
    tmp_path: Path, broker: bool, client: bool
) -> None:
    services = _services(tmp_path, broker=broker, client=client)
    cfg = config_from_dict(demo_config(services, 16969, "t" * 24))
    assert set(cfg.arr) == set(KINDS)
    assert cfg.mqtt.enabled is broker
    assert not cfg.settings.dry_run
    assert cfg.settings.check_interval <= 10
    assert Path(cfg.settings.data_dir) == tmp_path / "data"
    assert cfg.webui.port == 16969 and cfg.webui.host == "127.0.0.1"
    for kind in KINDS:
        assert cfg.arr[kind].url == services.arrs[kind].url
        assert cfg.arr[kind].category == kind
        # loopback-only clients always report "firewalled": the demo must still act
        assert cfg.arr[kind].policy.fail_closed_firewalled is False
    url = cfg.qbittorrent["default"].url
    assert (url == "http://127.0.0.1:18080") is client


def test_scenario_covers_every_state_and_names_real_library_items() -> None:
    assert {s.state for s in SCENARIO} == STATES
    assert any(name.endswith(".exe") for s in SCENARIO for name in s.files)
    assert {s.arr for s in SCENARIO} == set(KINDS)
    titles = {
        "radarr": {m["title"] for m in DEMO["movies"]},
        "sonarr": {
            f"{s['title']} S{e['season']:02d}E{e['number']:02d}"
            for s in DEMO["series"]
            for e in s["episodes"]
        },
        "lidarr": {f"{a['name']} - {al['title']}" for a in DEMO["artists"] for al in a["albums"]},
    }
    for spec in SCENARIO:
        assert spec.media in titles[spec.arr], spec
        assert spec.state != "downloading" or spec.rate > 0, spec
    assert SCENARIO[0].state == "missingFiles"  # it restarts the client: before the downloads
