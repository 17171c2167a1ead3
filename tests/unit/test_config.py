"""Config: schema, defaults, env overrides, error messages (issue 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from qbitrr_mqtt.config import ConfigError, config_from_dict, load_config, parse_size, redact
from qbitrr_mqtt.config.example import example_config
from qbitrr_mqtt.config.schema import load_schema, resolve

MINIMAL = {
    "arr": {"radarr-4k": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k1"}}
}


def problems_of(doc, env=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_dict(doc, env=env)
    return [str(p) for p in info.value.problems]


def walk(node, root, path="", required=()):
    node = resolve(node, root)
    yield path, node, required
    for key, child in node.get("properties", {}).items():
        yield from walk(child, root, f"{path}.{key}".lstrip("."), tuple(node.get("required", ())))
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], root, f"{path}.<name>")


def test_schema_is_valid_2020_12_with_descriptions_and_defaults():
    root = load_schema()
    Draft202012Validator.check_schema(root)
    assert root["$schema"].endswith("2020-12/schema")
    for path, node, required in walk(root, root):
        assert node.get("description"), f"{path} has no description"
        key = path.rsplit(".", 1)[-1]
        is_section = (
            node.get("type") == "object" and "properties" in node
        )  # children carry defaults
        is_override = path.startswith("arr.<name>.policy.")  # defaults come from settings.policy
        if (
            path
            and key not in required
            and not key.startswith("<")
            and not is_section
            and not is_override
        ):
            assert "default" in node, f"{path} has no default"


def test_minimal_config_gets_every_default():
    cfg = config_from_dict(MINIMAL)
    inst = cfg.arr["radarr-4k"]
    assert inst.category == "radarr-4k"  # category defaults to the instance name
    assert inst.client == "default" and "default" in cfg.qbittorrent
    assert inst.policy.stalled_strikes == 3 and inst.policy.stalled_delay == 15
    assert (
        inst.policy.ignore_younger_than == 180 and inst.policy.maximum_deletable_percentage == 0.99
    )
    assert inst.supervisor.startretries == 3 and inst.supervisor.stopwaitsecs == 30
    assert cfg.mqtt.base_topic == "qbitrr" and cfg.mqtt.discovery_prefix == "homeassistant"
    assert cfg.webui.port == 6969 and cfg.webui.host == "127.0.0.1"
    assert cfg.settings.check_interval == 60 and cfg.settings.max_restarts == 5
    assert cfg.database.url.startswith("sqlite:////") and cfg.database.url.endswith("/qbitrr.db")


def test_instance_policy_overrides_settings_policy():
    doc = {
        "settings": {"policy": {"stalled_strikes": 5, "max_removals_per_cycle": 2}},
        "arr": {
            "a": {
                "type": "radarr",
                "url": "http://h:1",
                "api_key": "k",
                "policy": {"stalled_strikes": 1},
            },
            "b": {"type": "sonarr", "url": "http://h:2", "api_key": "k"},
        },
    }
    cfg = config_from_dict(doc)
    assert cfg.arr["a"].policy.stalled_strikes == 1
    assert cfg.arr["a"].policy.max_removals_per_cycle == 2
    assert cfg.arr["b"].policy.stalled_strikes == 5


def test_example_config_validates_and_names_real_keys():
    text = example_config()
    cfg = config_from_dict(yaml.safe_load(text))
    assert set(cfg.arr) == {"radarr", "sonarr"}
    assert "# Seconds between two check cycles" in text


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"settings": {"chek_interval": 5}},
            "settings.chek_interval: unknown key (did you mean 'check_interval'?)",
        ),
        ({"settings": {"dry_run": "yes"}}, "settings.dry_run: got 'yes'; expected true or false"),
        (
            {"arr": {"x": {"type": "plex", "url": "http://h", "api_key": "k"}}},
            "arr.x.type: got 'plex'; expected one of: radarr, sonarr, lidarr",
        ),
        (
            {"arr": {"x": {"type": "radarr", "api_key": "k"}}},
            "arr.x.url: missing required key; expected The Arr's base URL",
        ),
        (
            {"arr": {"x": {"type": "radarr", "url": "ftp://h", "api_key": "k"}}},
            "arr.x.url: got 'ftp://h'",
        ),
        (
            {"arr": {"Radarr_4K": {"type": "radarr", "url": "http://h", "api_key": "k"}}},
            "arr.Radarr_4K: invalid name",
        ),
        (
            {
                "arr": {
                    "x": {
                        "type": "radarr",
                        "url": "http://h",
                        "api_key": "k",
                        "policy": {"stalled_strikes": 0},
                    }
                }
            },
            "arr.x.policy.stalled_strikes: got 0; expected a value >= 1",
        ),
        ({"mqtt": {"port": 70000}}, "mqtt.port: got 70000; expected a value <= 65535"),
        (
            {"arr": {"x": {"type": "radarr", "url": "http://h", "api_key": "k", "client": "nas"}}},
            "arr.x.client: names qBittorrent client 'nas', which is not configured",
        ),
        (
            {"settings": {"policy": {"file_name_exclusion_regex": ["(unclosed"]}}},
            "settings.policy.file_name_exclusion_regex.0: invalid regex",
        ),
        (
            {"settings": {"policy": {"free_space": "lots"}}},
            "settings.policy.free_space: got 'lots'",
        ),
        (
            {"config_version": 99},
            "config_version: this file is version 99, newer than this qbitrr-mqtt understands",
        ),
    ],
)
def test_bad_values_name_the_key_path_and_the_fix(doc, expected):
    problems = problems_of(doc)
    assert any(p.startswith(expected) for p in problems), problems


def test_two_instances_on_one_category_are_refused():
    doc = {
        "arr": {
            "a": {"type": "radarr", "url": "http://h:1", "api_key": "k", "category": "movies"},
            "b": {"type": "radarr", "url": "http://h:2", "api_key": "k", "category": "movies"},
        }
    }
    assert any("arr.b.category" in p and "already used by arr.a" in p for p in problems_of(doc))


def test_secrets_are_never_echoed_in_errors():
    doc = {"arr": {"x": {"type": "radarr", "url": "http://h", "api_key": 123456789}}}
    text = "\n".join(problems_of(doc))
    assert "arr.x.api_key" in text and "123456789" not in text


@pytest.mark.parametrize(
    ("raw", "value"),
    [("false", False), ("False", False), ("0", False), ("no", False), ("true", True)],
)
def test_env_false_and_0_override_a_true_in_the_file(raw, value):
    doc = {"settings": {"dry_run": not value}, **MINIMAL}
    assert config_from_dict(doc, env={"QBITRR_SETTINGS__DRY_RUN": raw}).settings.dry_run is value


def test_env_0_overrides_an_integer():
    doc = {"settings": {"policy": {"max_removals_per_cycle": 7}}, **MINIMAL}
    cfg = config_from_dict(doc, env={"QBITRR_SETTINGS__POLICY__MAX_REMOVALS_PER_CYCLE": "0"})
    assert cfg.arr["radarr-4k"].policy.max_removals_per_cycle == 0


def test_env_number_for_a_string_key_stays_a_string():
    cfg = config_from_dict(
        MINIMAL, env={"QBITRR_MQTT__USERNAME": "12345", "QBITRR_MQTT__PASSWORD": "007"}
    )
    assert cfg.mqtt.username == "12345" and cfg.mqtt.password == "007"


def test_env_override_empty_string_beats_file_value():
    cfg = config_from_dict(
        {**MINIMAL, "mqtt": {"username": "file-user"}}, env={"QBITRR_MQTT__USERNAME": ""}
    )
    assert cfg.mqtt.username == ""


def test_env_overrides_are_case_insensitive_and_reach_hyphenated_instances():
    env = {
        "qbitrr_Arr__RADARR_4K__Policy__Stalled_Strikes": "7",
        "QBITRR_ARR__RADARR_4K__URL": "http://other:1",
    }
    cfg = config_from_dict(MINIMAL, env=env)
    assert cfg.arr["radarr-4k"].policy.stalled_strikes == 7
    assert cfg.arr["radarr-4k"].url == "http://other:1"


def test_bad_env_value_names_the_variable():
    problems = problems_of(MINIMAL, env={"QBITRR_MQTT__PORT": "0"})
    assert problems == ["mqtt.port: got 0 (set by $QBITRR_MQTT__PORT); expected a value >= 1"]


def test_unrelated_env_is_ignored():
    cfg = config_from_dict(
        MINIMAL, env={"QBITRR_MQTT_CONFIG": "/x.yaml", "PATH": "/bin", "QBITRR_X": "1"}
    )
    assert cfg.mqtt.port == 1883


def test_lookup_order_and_relative_paths(tmp_path: Path, monkeypatch):
    f = tmp_path / "conf" / "qb.yaml"
    f.parent.mkdir()
    f.write_text(yaml.safe_dump(MINIMAL))
    cfg = load_config(None, env={"QBITRR_MQTT_CONFIG": str(f)})
    assert cfg.source == f
    assert cfg.settings.data_dir == (f.parent / "data").resolve()  # relative to the file
    monkeypatch.chdir(tmp_path / "conf")
    f.rename(tmp_path / "conf" / "config.yaml")
    assert load_config(None, env={}).source == Path("config.yaml")


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path):
    f = tmp_path / "c.yaml"
    f.write_text("settings:\n  check_interval: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(f, env={})
    assert "YAML syntax error at line" in str(info.value.problems[0])


def test_missing_file_says_how_to_create_one(tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml", env={})
    assert "qbitrr-mqtt config init" in str(info.value.problems[0])


def test_redact_hides_every_secret():
    cfg = config_from_dict({**MINIMAL, "mqtt": {"password": "p"}, "webui": {"token": "t" * 10}})
    shown = yaml.safe_dump(redact(cfg.raw))
    assert "k1" not in shown and "tttttttttt" not in shown and shown.count("'***'") >= 3


@pytest.mark.parametrize(
    ("text", "n"),
    [
        (-1, -1),
        ("-1", -1),
        ("1024", 1024),
        ("50G", 50 * 1024**3),
        ("500MiB", 500 * 1024**2),
        ("1.5 GB", int(1.5 * 1024**3)),
    ],
)
def test_parse_size(text, n):
    assert parse_size(text) == n
