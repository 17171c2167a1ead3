"""Topic names of SPEC §4, for the default and a custom base topic."""

from __future__ import annotations

import pytest

from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.mqtt.outbox import MemoryOutbox, OutboxItem, as_item
from qbitrr_mqtt.mqtt.topics import Topics, node_slug

H = "ABCDEF0123456789ABCDEF0123456789ABCDEF01"


def test_spec_topics_with_defaults():
    cfg = config_from_dict(
        {"arr": {"radarr-4k": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k"}}}
    )
    t = Topics.from_config(cfg.mqtt)
    assert t.bridge_state == "qbitrr/bridge/state"
    assert t.bridge_info == "qbitrr/bridge/info"
    assert t.availability("radarr-4k") == "qbitrr/radarr-4k/availability"
    assert t.state("radarr-4k") == "qbitrr/radarr-4k/state"
    assert t.process("radarr-4k") == "qbitrr/radarr-4k/process"
    assert t.event("radarr-4k") == "qbitrr/radarr-4k/event"
    assert t.torrent("radarr-4k", H) == f"qbitrr/radarr-4k/torrents/{H.lower()}"
    assert t.torrents_filter("radarr-4k") == "qbitrr/radarr-4k/torrents/+"
    assert t.request("search") == "qbitrr/bridge/request/search"
    assert t.response("search") == "qbitrr/bridge/response/search"
    assert t.request_filter == "qbitrr/bridge/request/#"
    assert t.discovery(t.node_id("radarr-4k")) == "homeassistant/device/qbitrr_radarr-4k/config"
    assert t.bridge_node_id == "qbitrr_bridge"
    assert t.ha_status == "homeassistant/status"


def test_custom_base_with_slash_gives_safe_node_ids():
    t = Topics(base="home/qbitrr", prefix="ha")
    assert t.state("sonarr") == "home/qbitrr/sonarr/state"
    assert t.node_id("sonarr") == "home_qbitrr_sonarr"
    assert t.discovery(t.node_id("sonarr")) == "ha/device/home_qbitrr_sonarr/config"
    assert node_slug("a b/c.d") == "a_b_c_d"


@pytest.mark.parametrize(
    ("topic", "command"),
    [
        ("qbitrr/bridge/request/restart", "restart"),
        ("qbitrr/bridge/request/", ""),
        ("qbitrr/bridge/request/a/b", "a/b"),
        ("qbitrr/bridge/response/restart", None),
        ("other/bridge/request/restart", None),
    ],
)
def test_command_of_request_topic(topic, command):
    assert Topics().command_of(topic) == command


@pytest.mark.parametrize(
    ("topic", "node"),
    [
        ("homeassistant/device/qbitrr_x/config", "qbitrr_x"),
        ("homeassistant/device/a/b/config", None),
        ("homeassistant/sensor/x/config", None),
        ("homeassistant/device//config", None),
    ],
)
def test_node_of_discovery_topic(topic, node):
    assert Topics().node_of(topic) == node


def test_memory_outbox_is_fifo_and_drops_the_oldest_past_its_bound():
    box = MemoryOutbox(limit=3)
    for i in range(5):
        box.outbox_put(f"t/{i}", str(i), retain=False)
    assert [i.topic for i in box.outbox_take(10)] == ["t/2", "t/3", "t/4"]
    assert box.dropped == 2
    first = box.outbox_take(1)
    assert len(box) == 3  # take does not remove
    box.outbox_delete([first[0].id])
    assert [i.payload for i in box.outbox_take(10)] == ["3", "4"]
    zero = MemoryOutbox(limit=0)
    zero.outbox_put("t", "x", retain=True)
    assert zero.outbox_take(5) == [] and zero.dropped == 1


def test_outbox_rows_of_any_shape_are_read():
    class Row:
        id, topic, payload, retain = 7, "a/b", b"{}", 1

    assert as_item(Row()) == OutboxItem(7, "a/b", "{}", True)
    assert as_item({"id": 1, "topic": "t", "payload": None, "retain": False}).payload == ""
    assert as_item((2, "t", "p", True)) == OutboxItem(2, "t", "p", True)
