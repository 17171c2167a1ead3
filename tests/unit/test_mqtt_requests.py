"""Validation of bridge requests: every malformed input is an error with a useful message."""

from __future__ import annotations

import json

import pytest

from qbitrr_mqtt.config import config_from_dict
from qbitrr_mqtt.mqtt.requests import (
    COMMANDS,
    MAX_PAYLOAD,
    RequestError,
    Response,
    parse_request,
)
from qbitrr_mqtt.mqtt.router import RequestRouter
from qbitrr_mqtt.mqtt.topics import Topics

H = "0123456789abcdef0123456789ABCDEF01234567"
CONFIG = config_from_dict(
    {
        "arr": {
            "radarr": {"type": "radarr", "url": "http://127.0.0.1:7878", "api_key": "k"},
            "off": {
                "type": "sonarr",
                "url": "http://127.0.0.1:8989",
                "api_key": "k",
                "enabled": False,
            },
        }
    }
)


def parse(command: str, body: object) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_request(command, raw, CONFIG)


@pytest.mark.parametrize(
    ("command", "body", "expected"),
    [
        ("restart", {"instance": "radarr"}, {}),
        ("start", {"instance": "radarr"}, {}),
        ("stop", {"instance": "webui"}, {}),
        ("run_now", {"instance": "radarr", "transaction": "t1"}, {}),
        ("search", {"instance": "radarr", "media_ids": [3, 1, 3]}, {"media_ids": [3, 1]}),
        ("search", {"instance": "radarr", "missing": True}, {"missing": True}),
        ("dry_run", {"instance": "radarr", "value": False}, {"value": False}),
        ("recheck", {"instance": "radarr", "hash": H}, {"hash": H.lower()}),
        ("remove", {"instance": "radarr", "hash": H}, {"hash": H.lower(), "blocklist": False}),
        (
            "remove",
            {"instance": "radarr", "hash": H, "blocklist": True},
            {"hash": H.lower(), "blocklist": True},
        ),
        ("protect", {"instance": "radarr", "hash": H}, {"hash": H.lower(), "value": True}),
        (
            "protect",
            {"instance": "radarr", "hash": H + "0" * 24, "value": False},
            {"hash": (H + "0" * 24).lower(), "value": False},
        ),
        ("log_level", {"instance": "radarr", "value": "debug"}, {"value": "DEBUG"}),
    ],
)
def test_valid_requests(command, body, expected):
    req = parse(command, body)
    assert req.command == command and req.instance == body["instance"]
    assert req.params == expected
    assert req.transaction == body.get("transaction")


def test_every_command_has_a_valid_example():
    covered = {
        "restart",
        "start",
        "stop",
        "run_now",
        "search",
        "dry_run",
        "recheck",
        "remove",
        "protect",
        "log_level",
    }
    assert set(COMMANDS) == covered


@pytest.mark.parametrize(
    ("command", "payload", "message"),
    [
        ("restart", b"not json", "not valid JSON"),
        ("restart", b"", "must be a JSON object"),
        ("restart", b"\xff\xfe", "not valid JSON"),
        ("restart", b"[1, 2]", "JSON object, not list"),
        ("restart", b'"radarr"', "JSON object, not str"),
        ("restart", b"null", "must be a JSON object"),
        ("restart", b'{"instance": NaN}', "not valid JSON"),
        ("restart", b"[" * 100000 + b"]" * 100000, "over the"),
        ("restart", b"[" * 30000 + b"]" * 30000, "not valid JSON"),
        ("restart", b"{}", "'instance' is required"),
        ("restart", b'{"instance": 5}', "'instance' is required"),
        ("restart", b'{"instance": "nope"}', "unknown instance 'nope' (known: off, radarr)"),
        ("run_now", b'{"instance": "off"}', "disabled"),
        ("restart", b'{"instance": "bridge"}', "cannot restart"),
        ("run_now", b'{"instance": "webui"}', "unknown instance"),
        ("explode", b'{"instance": "radarr"}', "unknown command 'explode' (known: dry_run,"),
        ("", b'{"instance": "radarr"}', "unknown command ''"),
        ("a/b", b'{"instance": "radarr"}', "unknown command 'a/b'"),
        ("restart", b'{"instance": "radarr", "force": true}', "unexpected key(s) 'force'"),
        ("search", b'{"instance": "radarr"}', "exactly one of 'media_ids' or 'missing'"),
        ("search", b'{"instance": "radarr", "media_ids": [1], "missing": true}', "exactly one"),
        ("search", b'{"instance": "radarr", "media_ids": []}', "non-empty list"),
        ("search", b'{"instance": "radarr", "media_ids": "1,2"}', "non-empty list"),
        ("search", b'{"instance": "radarr", "media_ids": [1, "2"]}', "positive integers"),
        ("search", b'{"instance": "radarr", "media_ids": [true]}', "positive integers"),
        ("search", b'{"instance": "radarr", "media_ids": [0]}', "positive integers"),
        ("search", b'{"instance": "radarr", "media_ids": [1.5]}', "positive integers"),
        ("search", b'{"instance": "radarr", "missing": false}', "must be true"),
        ("search", b'{"instance": "radarr", "media_id": [1]}', "unexpected key(s) 'media_id'"),
        ("dry_run", b'{"instance": "radarr"}', "needs 'value'"),
        ("dry_run", b'{"instance": "radarr", "value": "true"}', "must be true or false"),
        ("dry_run", b'{"instance": "radarr", "value": 1}', "must be true or false"),
        ("recheck", b'{"instance": "radarr"}', "needs 'hash'"),
        ("recheck", b'{"instance": "radarr", "hash": "xyz"}', "info hash"),
        ("recheck", b'{"instance": "radarr", "hash": 123}', "info hash"),
        (
            "remove",
            b'{"instance": "radarr", "hash": "' + H.encode() + b'", "blocklist": "yes"}',
            "true or false",
        ),
        (
            "protect",
            b'{"instance": "radarr", "hash": "' + H.encode() + b'", "value": null}',
            "true or false",
        ),
        ("restart", b'{"instance": "radarr", "transaction": {"a": 1}}', "'transaction' must be"),
    ],
)
def test_malformed_requests_are_errors(command, payload, message):
    with pytest.raises(RequestError) as info:
        parse_request(command, payload, CONFIG)
    assert message in str(info.value)


def test_many_media_ids_and_one_megabyte_are_refused():
    with pytest.raises(RequestError, match="at most 1000"):
        parse("search", {"instance": "radarr", "media_ids": list(range(1, 1002))})
    big = json.dumps({"instance": "radarr", "transaction": "x" * (1024 * 1024)}).encode()
    with pytest.raises(RequestError, match=f"over the {MAX_PAYLOAD}-byte limit"):
        parse_request("run_now", big, CONFIG)


@pytest.mark.parametrize("transaction", ["abc", 42, 1.5, True, None])
def test_transaction_is_echoed_even_in_errors(transaction):
    body = {"instance": "nope", "transaction": transaction}
    with pytest.raises(RequestError) as info:
        parse("run_now", body)
    assert info.value.transaction == transaction
    ok = parse("run_now", {"instance": "radarr", "transaction": transaction})
    assert ok.transaction == transaction


def test_response_shape():
    assert json.loads(Response.ok({"a": 1}, "t").to_json()) == {
        "status": "ok",
        "data": {"a": 1},
        "error": None,
        "transaction": "t",
    }
    assert json.loads(Response.fail("bad", 7).to_json()) == {
        "status": "error",
        "data": {},
        "error": "bad",
        "transaction": 7,
    }


class Supervisor:
    """Records calls like supervisord would see them; ``fail`` makes it refuse."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def _do(self, what: str, name: str) -> int | None:
        self.calls.append((what, name))
        if self.fail:
            raise RuntimeError(f"{name} is not running")
        return 4242 if what != "stop" else None

    def restart(self, name: str) -> int | None:
        return self._do("restart", name)

    def start(self, name: str) -> int | None:
        return self._do("start", name)

    def stop(self, name: str) -> int | None:
        return self._do("stop", name)


class NoBroker:
    topics = Topics()


def test_router_sends_process_commands_to_supervisord_by_program_name():
    sup = Supervisor()
    router = RequestRouter(NoBroker(), CONFIG, supervisor=sup)  # type: ignore[arg-type]
    resp = router.handle("restart", b'{"instance": "radarr", "transaction": "r1"}')
    assert resp.to_dict() == {
        "status": "ok",
        "data": {"instance": "radarr", "program": "manager-radarr", "pid": 4242},
        "error": None,
        "transaction": "r1",
    }
    assert router.handle("stop", b'{"instance": "webui"}').data == {
        "instance": "webui",
        "program": "webui",
    }
    assert sup.calls == [("restart", "manager-radarr"), ("stop", "webui")]
    refused = RequestRouter(NoBroker(), CONFIG, supervisor=Supervisor(fail=True))  # type: ignore[arg-type]
    resp = refused.handle("start", b'{"instance": "radarr", "transaction": 3}')
    assert resp.status == "error" and "not running" in (resp.error or "") and resp.transaction == 3


def test_router_without_store_or_supervisor_answers_errors():
    router = RequestRouter(NoBroker(), CONFIG)  # type: ignore[arg-type]
    assert "supervisord is not available" in (
        router.handle("restart", b'{"instance": "radarr"}').error or ""
    )
    assert "no store" in (router.handle("run_now", b'{"instance": "radarr"}').error or "")
    assert router.handle("run_now", b"{").status == "error"
