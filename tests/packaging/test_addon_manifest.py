"""The Home Assistant add-on folder: manifest, options, translations, images, scripts.

``config.yaml`` and ``build.yaml`` are checked against the JSON Schemas of the add-on linter
(contracts/, copied from the steering repo); the default options against the manifest's own ``schema`` with the
Supervisor's rules (ha_options.py); and the options the Supervisor would hand over must
convert into a config that the project's loader accepts.
"""

from __future__ import annotations

import copy
import json
import re
import struct
import tomllib
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from ha_options import OptionsInvalid, validate_options
from jsonschema import Draft7Validator

import qbitrr_mqtt
from qbitrr_mqtt import addon
from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.config.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "ha_addon"
CONTRACTS = ROOT / "contracts"
SERVICE = {"host": "core-mosquitto", "port": 1883, "username": "addons", "password": "pw"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_yaml(ADDON / "config.yaml")


def schema_errors(document: Any, schema_file: str) -> list[str]:
    schema = json.loads((CONTRACTS / schema_file).read_text(encoding="utf-8"))
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_config_yaml_validates_against_the_addon_schema(manifest):
    assert schema_errors(manifest, "ha-addon-config.schema.json") == []


def test_build_yaml_validates_and_covers_every_arch(manifest):
    build = load_yaml(ADDON / "build.yaml")
    assert schema_errors(build, "ha-addon-build.schema.json") == []
    assert set(build["build_from"]) == set(manifest["arch"])


def test_the_schema_check_catches_a_broken_manifest(manifest):
    broken = {**manifest, "services": ["mqtt:required"], "arch": ["x86"], "bogus": 1}
    del broken["slug"]
    errors = " ".join(schema_errors(broken, "ha-addon-config.schema.json"))
    for word in ("services", "arch", "bogus", "slug"):
        assert word in errors


def test_version_is_the_package_version(manifest):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert manifest["version"] == qbitrr_mqtt.__version__ == pyproject["project"]["version"]
    assert f"## {manifest['version']}" in (ADDON / "CHANGELOG.md").read_text(encoding="utf-8")


def test_runtime_settings(manifest):
    assert manifest["init"] is False  # s6-overlay of the base image is PID 1
    assert manifest["services"] == ["mqtt:need"]
    assert manifest["ingress"] is True
    assert manifest["ingress_port"] == addon.INGRESS_PORT
    assert re.fullmatch(r"mdi:[a-z0-9-]+", manifest["panel_icon"])
    assert re.fullmatch(r"[a-z0-9_]+", manifest["slug"])


def test_default_options_satisfy_their_own_schema(manifest):
    cleaned = validate_options(manifest["schema"], manifest["options"])
    assert {i["name"] for i in cleaned["arr"]} == {"radarr"}


def every_type(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        return [t for v in schema.values() for t in every_type(v)]
    if isinstance(schema, list):
        return [t for v in schema for t in every_type(v)]
    return [schema]


def test_every_schema_type_is_one_the_supervisor_knows(manifest):
    from ha_options import RE_SCHEMA_ELEMENT

    types = every_type(manifest["schema"])
    assert types and all(RE_SCHEMA_ELEMENT.match(t) for t in types), types


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("arr", 0, "type"), "readarr", "is not one of"),
        (("arr", 0, "name"), "Radarr", "does not match"),
        (("arr", 0, "url"), "radarr:7878", "expected a URL"),
        (("policy", "stalled_strikes"), 0, "out of range"),
        (("mqtt", "port"), 70000, "out of range"),
        (("log_level",), "LOUD", "is not one of"),
        (("dry_run",), "maybe", "expected a boolean"),
    ],
)
def test_the_options_check_refuses_bad_values(manifest, path, value, message):
    options = copy.deepcopy(manifest["options"])
    node: Any = options
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(OptionsInvalid, match=message):
        validate_options(manifest["schema"], options)


def test_the_options_check_requires_non_optional_keys(manifest):
    options = copy.deepcopy(manifest["options"])
    del options["arr"][0]["api_key"]
    with pytest.raises(OptionsInvalid, match="Missing option 'api_key'"):
        validate_options(manifest["schema"], options)
    options = copy.deepcopy(manifest["options"])
    del options["arr"][0]["category"]  # optional: str?
    validate_options(manifest["schema"], options)


def test_options_as_the_supervisor_hands_them_over_become_a_valid_config(manifest, tmp_path):
    """Defaults + a filled-in API key, cleaned by the Supervisor's rules, then converted."""
    options = copy.deepcopy(manifest["options"])
    options["arr"][0]["api_key"] = "0123456789abcdef"
    options["arr"].append(
        {"name": "lidarr", "type": "lidarr", "url": "http://10.0.0.2:8686", "api_key": "k"}
    )
    options["policy"]["remove_torrent"] = 3
    cleaned = validate_options(manifest["schema"], options)
    assert cleaned["policy"]["remove_torrent"] == "3"  # list(...) values come back as text
    doc = addon.options_to_config(cleaned, SERVICE, tmp_path)
    addon.check_config(doc, cleaned)
    cfg = config_from_dict(doc)
    assert sorted(cfg.arr) == ["lidarr", "radarr"]
    assert cfg.settings.policy.remove_torrent == 3
    assert cfg.arr["lidarr"].category == "lidarr"


def test_the_converter_knows_every_option(manifest):
    schema = manifest["schema"]
    assert set(schema["policy"]) == set(addon.POLICY_OPTIONS)
    policy_keys = load_schema()["properties"]["settings"]["properties"]["policy"]["properties"]
    assert set(addon.POLICY_OPTIONS) <= set(policy_keys)
    assert set(schema) == {
        "arr",
        "qbittorrent",
        "policy",
        "mqtt",
        "api_token",
        "log_level",
        "dry_run",
    }
    assert set(schema["arr"][0]) == {"name", "type", "url", "api_key", "category"}


def test_option_defaults_match_the_config_defaults(manifest):
    """The add-on's policy defaults are the config's (dry run aside, which starts on)."""
    defaults = load_schema()["properties"]["settings"]["properties"]["policy"]["properties"]
    for key, value in manifest["options"]["policy"].items():
        assert value == defaults[key]["default"], key


def missing_translations(
    schema: dict[str, Any], texts: dict[str, Any], where: str = ""
) -> list[str]:
    missing = []
    for key, typ in schema.items():
        entry = texts.get(key)
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("description"):
            missing.append(where + key)
            continue
        nested = typ[0] if isinstance(typ, list) else typ
        if isinstance(nested, dict):
            missing += missing_translations(nested, entry.get("fields") or {}, f"{where}{key}.")
    return missing


def test_translations_cover_every_option(manifest):
    texts = load_yaml(ADDON / "translations" / "en.yaml")
    assert set(texts) <= {"configuration", "network"}
    assert missing_translations(manifest["schema"], texts["configuration"]) == []
    assert set(texts["configuration"]) == set(manifest["schema"])  # nothing stale either


def test_translation_check_notices_a_gap(manifest):
    texts = load_yaml(ADDON / "translations" / "en.yaml")["configuration"]
    del texts["policy"]["fields"]["stalled_delay"]
    assert missing_translations(manifest["schema"], texts) == ["policy.stalled_delay"]


def read_png(path: Path) -> tuple[int, int]:
    """Width and height of a PNG after checking its signature, chunk CRCs and pixel data."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, (path, kind)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {2: 3, 6: 4}[color]
    assert depth == 8
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + width * channels)
    assert b"IEND" in chunks
    return width, height


def test_icon_and_logo_are_real_pngs():
    assert read_png(ADDON / "icon.png") == (128, 128)
    assert read_png(ADDON / "logo.png") == (250, 100)


def test_apparmor_profile_is_named_for_the_slug(manifest):
    text = (ADDON / "apparmor.txt").read_text(encoding="utf-8")
    assert re.search(rf"^profile {manifest['slug']} flags=", text, re.M)
    assert text.count("{") == text.count("}")


def test_dockerfile_and_start_script(manifest):
    dockerfile = (ADDON / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert lines[:2] == ["ARG BUILD_FROM", "FROM ${BUILD_FROM}"]
    assert "ffmpeg" in dockerfile and 'qbitrr-mqtt==${BUILD_VERSION}"' in dockerfile
    run = ADDON / "run.sh"
    assert run.stat().st_mode & 0o111
    script = run.read_text(encoding="utf-8")
    writes = script.index(
        "qbitrr-mqtt addon-config --options /data/options.json --output /data/config.yaml"
    )
    assert script.index("exec qbitrr-mqtt run -c /data/config.yaml") > writes
    assert "set -e" in script  # a bad option stops the add-on instead of running stale config
