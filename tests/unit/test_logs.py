"""Logging: secrets never reach a log line; JSON format; runtime level changes."""

import json
import logging

import pytest

from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.logs import config_secrets, set_level, setup_logging


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_every_configured_secret_is_masked(capsys, restore_root):
    cfg = config_from_dict({
        "qbittorrent": {"default": {"url": "http://q:1", "password": "qbit-pass-1"}},
        "mqtt": {"password": "mqtt-pass-1"},
        "webui": {"token": "webui-token-1"},
        "arr": {"a": {"type": "radarr", "url": "http://h:1", "api_key": "arr-key-123"}},
    })
    log = setup_logging("test", secrets=config_secrets(cfg))
    log.warning("connecting with %s / %s / %s / %s", "qbit-pass-1", "mqtt-pass-1", "webui-token-1", "arr-key-123")
    err = capsys.readouterr().err
    assert err.count("***") == 4
    for secret in ("qbit-pass-1", "mqtt-pass-1", "webui-token-1", "arr-key-123"):
        assert secret not in err


def test_json_lines(capsys, restore_root):
    log = setup_logging("test", fmt="json")
    log.info("hello %s", "world")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    data = json.loads(line)
    assert data["message"] == "hello world" and data["level"] == "INFO" and data["time"].endswith("Z")


def test_level_changes_at_runtime(capsys, restore_root):
    log = setup_logging("test", level="WARNING")
    log.info("hidden")
    set_level("debug")
    log.debug("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "shown" in err
    with pytest.raises(ValueError, match="unknown log level"):
        set_level("LOUD")
