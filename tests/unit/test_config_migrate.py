"""Config versions: every earlier layout migrates to the current one, ``config migrate``
writes the result with a backup and is idempotent, and unknown keys get a hint."""

from __future__ import annotations

import json
import os
import resource
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.config import ConfigError, config_from_dict, load_config, migrations
from qbitrr_mqtt.config.migrate_file import backup_path, migrate_file, migrate_path

FIXTURES = Path(__file__).parent / "config_versions"
SCHEMA = Path(__file__).resolve().parents[2] / "schema.json"


def fixture(version: int) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"v{version}.yaml").read_text(encoding="utf-8"))


def test_every_version_has_a_step_a_fixture_and_the_schema_default() -> None:
    assert sorted(migrations.STEPS) == list(range(1, migrations.CURRENT_VERSION))
    for version in range(1, migrations.CURRENT_VERSION + 1):
        assert (FIXTURES / f"v{version}.yaml").is_file(), f"add config_versions/v{version}.yaml"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["properties"]["config_version"]["default"] == migrations.CURRENT_VERSION


@pytest.mark.parametrize("version", range(1, migrations.CURRENT_VERSION + 1))
def test_every_earlier_version_loads_as_the_current_layout(version: int) -> None:
    """The fixture of ``version`` migrates, validates, and keeps what it said."""
    cfg = config_from_dict(fixture(version))
    assert cfg.config_version == migrations.CURRENT_VERSION
    assert cfg.settings.check_interval == 120 and cfg.settings.dry_run is True
    assert cfg.settings.retention_days == 14
    assert cfg.arr["radarr-4k"].client == "nas"
    assert cfg.arr["radarr-4k"].policy.stalled_delay == 30
    assert cfg.arr["radarr-4k"].policy.stalled_strikes == 4
    assert cfg.webui.metrics_public is True


# --- the machinery, driven by a made-up version 2 ------------------------------------------


def _rename_interval(doc: dict[str, Any]) -> dict[str, Any]:
    """A made-up step: version 1 called check_interval ``interval``."""
    settings = doc.setdefault("settings", {})
    if "interval" in settings:
        settings["check_interval"] = settings.pop("interval")
    return doc


@pytest.fixture
def version_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "STEPS", {1: _rename_interval})
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 2)


def write(path: Path, doc: dict[str, Any], header: str = "") -> Path:
    path.write_text(header + yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_migrate_document_runs_steps_in_order_without_touching_the_input() -> None:
    calls: list[int] = []

    def step(n: int) -> migrations.Step:
        def run(doc: dict[str, Any]) -> dict[str, Any]:
            calls.append(n)
            doc.setdefault("trail", []).append(n)
            return doc

        return run

    original = {"config_version": 1}
    out = migrations.migrate_document(original, {1: step(1), 2: step(2), 3: step(3)}, 4)
    assert out == {"config_version": 4, "trail": [1, 2, 3]} and calls == [1, 2, 3]
    assert original == {"config_version": 1}
    assert migrations.migrate_document({"config_version": 3}, {3: step(3)}, 4)["trail"] == [3]


def test_an_old_file_loads_migrated_in_memory(version_two: None, tmp_path: Path) -> None:
    path = write(tmp_path / "config.yaml", {"config_version": 1, "settings": {"interval": 42}})
    before = path.read_text()
    cfg = load_config(path, env={})
    assert cfg.settings.check_interval == 42 and cfg.config_version == 2
    assert path.read_text() == before  # loading never writes


def test_migrate_writes_the_result_with_a_backup_and_is_idempotent(
    version_two: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {"config_version": 1, "settings": {"interval": 42}, "webui": {"token": "t" * 16}}
    path = write(tmp_path / "config.yaml", doc, header="# my notes\n")
    os.chmod(path, 0o600)
    original = path.read_text()

    assert migrate_file(path) == 0
    assert "migrated from config_version 1 to 2" in capsys.readouterr().out
    backup = tmp_path / "config.yaml.bak-v1"
    assert backup.read_text() == original
    assert (path.stat().st_mode & 0o777) == 0o600 == (backup.stat().st_mode & 0o777)
    text = path.read_text()
    assert text.startswith("# Migrated by qbitrr-mqtt from config_version 1 to 2")
    assert "config.yaml.bak-v1" in text.splitlines()[1]
    written = yaml.safe_load(text)
    assert written == {
        "config_version": 2,
        "settings": {"check_interval": 42},
        "webui": doc["webui"],
    }

    assert migrate_file(path) == 0  # the second run changes nothing
    assert "already at config_version 2; nothing to do" in capsys.readouterr().out
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "config.yaml.bak-v1"]


def test_an_existing_backup_is_never_overwritten(version_two: None, tmp_path: Path) -> None:
    path = write(tmp_path / "config.yaml", {"config_version": 1})
    (tmp_path / "config.yaml.bak-v1").write_text("older backup")
    result = migrate_path(path)
    assert result.backup == tmp_path / "config.yaml.bak-v1.2"
    assert (tmp_path / "config.yaml.bak-v1").read_text() == "older backup"
    assert backup_path(path, 1) == tmp_path / "config.yaml.bak-v1.3"


def test_a_file_without_a_version_is_the_current_layout(version_two: None, tmp_path: Path) -> None:
    path = write(tmp_path / "config.yaml", {"settings": {"check_interval": 7}})
    assert migrate_path(path).changed is False


def test_an_invalid_result_is_not_written(
    version_two: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "config.yaml", {"config_version": 1, "settings": {"intervall": 5}})
    before = path.read_text()
    assert migrate_file(path) == 2
    err = capsys.readouterr().err
    assert "after migrating to version 2" in err
    assert "settings.intervall: unknown key" in err
    assert path.read_text() == before and not (tmp_path / "config.yaml.bak-v1").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("config_version: 9\n", "config_version: this file is version 9, newer than"),
        ("config_version: two\n", "config_version: got 'two'"),
        ("settings: [\n", "YAML syntax error"),
    ],
)
def test_unusable_files_exit_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_text(content)
    assert migrate_file(path) == 2
    assert message in capsys.readouterr().err


def test_a_failed_write_exits_1_and_keeps_the_file(
    version_two: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk, simulated with a file-size limit (permissions do not stop root)."""
    path = write(tmp_path / "config.yaml", {"config_version": 1, "settings": {"interval": 42}})
    before = path.read_text()
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8, old_limit[1]))
    try:
        code = migrate_file(path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert code == 1
    assert "cannot write" in capsys.readouterr().err
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"setings": {}}, "setings: unknown key (did you mean 'settings'?)"),
        (
            {"mqtt": {"base_topik": "x"}},
            "mqtt.base_topik: unknown key (did you mean 'base_topic'?)",
        ),
        (
            {
                "arr": {
                    "x": {
                        "type": "radarr",
                        "url": "http://h",
                        "api_key": "k",
                        "policy": {"stalled_strike": 2},
                    }
                }
            },
            "arr.x.policy.stalled_strike: unknown key (did you mean 'stalled_strikes'?)",
        ),  # fmt: skip
        (
            {"webui": {"metrics_publik": True}},
            "webui.metrics_publik: unknown key (did you mean 'metrics_public'?)",
        ),
        ({"settings": {"zzz": 1}}, "settings.zzz: unknown key; expected one of: check_interval"),
    ],
)
def test_unknown_keys_are_errors_with_a_hint(doc: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(doc)
    assert any(str(p).startswith(expected) for p in caught.value.problems), caught.value.problems
