"""``qbitrr-mqtt config validate`` on hostile and broken files: exit 2 naming the key, never a
traceback.

Most runs go through typer's CliRunner in this process (the same command object the console
script runs); a few go through the real console script to prove the exit code and stderr a
user sees. Wrong values are derived from ``schema.json`` itself, one per constraint of every
key, so a key added to the schema is fuzzed without touching this file.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import SECRETS, config_doc, leaked
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from qbitrr_mqtt.cli import app
from qbitrr_mqtt.config.schema import load_schema, resolve

RUNNER = CliRunner()
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: A problem line: ``<key.path or <top level>>: <what>[; expected <what>]``.
PROBLEM = re.compile(r"^(<top level>|\S.*?): \S.*$")
#: Names used where the schema has a map (qbittorrent clients, arr instances).
MAP_NAMES = {"qbittorrent": "default", "arr": "radarr"}


def validate(path: Path) -> tuple[int, str]:
    """Run ``config validate -c PATH`` in-process; exit code and stderr."""
    result = RUNNER.invoke(app, ["config", "validate", "-c", str(path)], env={})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"config validate raised {result.exception!r}") from (result.exception)
    return result.exit_code, result.stderr


def assert_refused(code: int, err: str, path: str | None = None) -> list[str]:
    """Exit 2, every stderr line a problem line, and (when given) ``path`` named."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines, "exit 2 without saying why"
    for line in lines:
        assert PROBLEM.match(line), line
    if path is not None:
        assert any(line.startswith(f"{path}:") for line in lines), (path, lines)
    assert not leaked(err), err
    return lines


def assert_handled(code: int, err: str) -> None:
    """Either valid (0) or refused cleanly (2)."""
    assert code in (0, 2), (code, err)
    if code == 2:
        assert_refused(code, err)


def write(tmp: Path, content: bytes | str | Any, name: str = "config.yaml") -> Path:
    path = tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path


def base(tmp: Path) -> dict[str, Any]:
    return config_doc(tmp / "data")


# --- wrong values derived from the schema -----------------------------------------------

_WRONG_BY_TYPE = {
    "string": [["a", "list"], {"a": "map"}],
    "integer": ["seven", 1.5],
    "number": ["lots", [1]],
    "boolean": ["yes please", 2],
    "array": ["not a list", {"a": 1}],
    "object": ["not a map", [1, 2]],
    "null": [],
}


def _types(node: dict[str, Any]) -> list[str]:
    t = node.get("type", [])
    return t if isinstance(t, list) else [t]


def wrong_values(node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(constraint, value) pairs that each break one rule of ``node``."""
    types = _types(node)
    for t in types:
        for value in _WRONG_BY_TYPE.get(t, []):
            if not _fits_type(value, types):
                yield f"type-{type(value).__name__}", value
    if "enum" in node:
        yield "enum", "not-an-option-✗"
    if "minimum" in node:
        yield "minimum", node["minimum"] - 1
    if "exclusiveMinimum" in node:
        yield "exclusiveMinimum", node["exclusiveMinimum"]
    if "maximum" in node:
        yield "maximum", node["maximum"] + 1
    if "minLength" in node:
        yield "minLength", ""
    if "pattern" in node:
        for candidate in ("✗ no/#+ match \x01", "UPPER CASE", "://"):
            if not re.search(node["pattern"], candidate):
                yield "pattern", candidate
                break
    items = node.get("items")
    if isinstance(items, dict) and "array" in types:
        for constraint, value in wrong_values(resolve(items, load_schema())):
            yield f"items-{constraint}", [value]


def _fits_type(value: Any, types: list[str]) -> bool:
    kinds = {
        "string": str,
        "boolean": bool,
        "array": list,
        "object": dict,
        "number": (int, float),
        "integer": int,
    }
    for t in types:
        expected = kinds.get(t)
        if expected is None:
            continue
        if isinstance(value, bool) and t in ("integer", "number"):
            continue
        if isinstance(value, expected):
            return True
    return False


def schema_keys(
    node: dict[str, Any] | None = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(key path, schema node) of every key in schema.json, maps entered under one name."""
    root = load_schema()
    node = resolve(node if node is not None else root, root)
    for key, child in node.get("properties", {}).items():
        child = resolve(child, root)
        yield (*path, key), child
        yield from schema_keys(child, (*path, key))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and path and path[-1] in MAP_NAMES:
        yield from schema_keys(extra, (*path, MAP_NAMES[path[-1]]))


def put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return doc


def _cases() -> list[Any]:
    cases = []
    for path, node in schema_keys():
        for constraint, value in wrong_values(node):
            dotted = ".".join(path)
            cases.append(pytest.param(path, value, id=f"{dotted}:{constraint}"))
    return cases


CASES = _cases()


def test_every_schema_key_is_fuzzed() -> None:
    """The generator reaches every key (including policy overrides and per-instance keys)."""
    dotted = {".".join(p.values[0]) for p in CASES}
    assert {"settings.check_interval", "arr.radarr.url", "qbittorrent.default.url"} <= dotted
    assert "arr.radarr.policy.stalled_strikes" in dotted
    assert "webui.cors_origins" in dotted and "database.url" in dotted
    assert len(CASES) > 150


@pytest.mark.parametrize(("path", "value"), CASES)
def test_each_wrong_value_names_its_key(tmp_path: Path, path: tuple[str, ...], value: Any) -> None:
    doc = put(base(tmp_path), path, value)
    code, err = validate(write(tmp_path, doc))
    lines = assert_refused(code, err)
    dotted = ".".join(path)
    # the problem is reported at the key itself, or at an item inside it (lists)
    assert any(line.startswith((f"{dotted}:", f"{dotted}.")) for line in lines), (dotted, lines)


def test_a_wrong_secret_is_never_echoed(tmp_path: Path) -> None:
    doc = base(tmp_path)
    doc["webui"]["token"] = "short"  # minLength 8
    doc["mqtt"]["password"] = ["list", SECRETS["mqtt_password"]]
    code, err = validate(write(tmp_path, doc))
    assert_refused(code, err, "webui.token")
    assert "short" not in err and SECRETS["mqtt_password"] not in err


# --- random input -------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
nested = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    assert_handled(*validate(write(tmp_path, data)))


@FUZZ
@given(
    text=st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"%@`#,? \n\tab01.~")), max_size=300)
)
def test_random_yaml_punctuation(tmp_path: Path, text: str) -> None:
    assert_handled(*validate(write(tmp_path, text)))


@FUZZ
@given(doc=nested)
def test_random_nested_document(tmp_path: Path, doc: Any) -> None:
    assert_handled(*validate(write(tmp_path, doc)))


SECTIONS = ["settings", "qbittorrent", "mqtt", "webui", "database", "arr", "config_version"]
ALL_KEYS = [path for path, _ in schema_keys()]


@FUZZ
@given(where=st.sampled_from(ALL_KEYS + [(s,) for s in SECTIONS]), value=nested)
def test_random_value_at_any_key(tmp_path: Path, where: tuple[str, ...], value: Any) -> None:
    code, err = validate(write(tmp_path, put(base(tmp_path), where, value)))
    assert_handled(code, err)


@FUZZ
@given(key=st.text(min_size=1, max_size=20), section=st.sampled_from(SECTIONS[:-1]))
def test_unknown_keys_are_named(tmp_path: Path, key: str, section: str) -> None:
    doc = base(tmp_path)
    target = doc.setdefault(section, {})
    if key in target or (section == "qbittorrent" or section == "arr"):
        return  # a map section: a new key is a new client/instance, checked elsewhere
    target[key] = 1
    code, err = validate(write(tmp_path, doc))
    assert_refused(code, err)
    assert f"{section}." in err


# --- shapes built to hurt -----------------------------------------------------------------

LAUGHS = "\n".join(
    [
        'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
        *[
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ],
        "webui: {cors_origins: *i}",
    ]
)
HOSTILE = {
    "deep-flow-lists": "settings: " + "[" * 5000 + "]" * 5000,
    "deep-flow-maps": "settings: " + "{a: " * 2000 + "1" + "}" * 2000,
    "deep-block": "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v",
    "billion-laughs": LAUGHS,
    "self-reference": "settings: &s {policy: {trackers: [*s]}}",
    "recursive-list": "webui: {cors_origins: &l [*l]}",
    "nul-in-path": 'settings: {data_dir: "data\\0dir"}',
    "nul-in-url": 'database: {url: "sqlite:///x\\0y"}',
    "complex-key": "? [a, b]\n: 1\n",
    "python-tag": "settings: !!python/object/apply:os.system ['true']",
    "binary-tag": "webui: {token: !!binary aGVsbG8gd29ybGQh}",
    "timestamp": "settings: {data_dir: 2024-01-01}",
    "huge-int": "settings: {check_interval: " + "9" * 5000 + "}",
    "many-docs": "settings: {}\n---\nmqtt: {}\n",
    "bom-and-crlf": "\ufeffsettings:\r\n  dry_run: maybe\r\n",
    "lone-surrogate": 'webui: {host: "\\ud800"}',
}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_documents(tmp_path: Path, text: str) -> None:
    code, err = validate(write(tmp_path, text))
    assert_refused(code, err)


# --- the real console script --------------------------------------------------------------


def console(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbitrr_mqtt", "config", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(bytes(range(256)) * 4, id="random-bytes"),
        pytest.param(HOSTILE["billion-laughs"], id="billion-laughs"),
        pytest.param(HOSTILE["deep-flow-lists"], id="deep-nesting"),
        pytest.param(HOSTILE["nul-in-path"], id="nul-in-path"),
        pytest.param({"arr": {"Bad Name": {"type": "radarr"}}}, id="bad-instance-name"),
    ],
)
def test_console_script(tmp_path: Path, content: Any) -> None:
    proc = console(write(tmp_path, content))
    assert_refused(proc.returncode, proc.stderr)
    assert proc.stdout == ""


def test_console_script_valid_file_still_passes(tmp_path: Path) -> None:
    """Positive control for the refusals above."""
    proc = console(write(tmp_path, base(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert "valid (2 Arr instance(s)" in proc.stdout
    assert not leaked(proc.stdout + proc.stderr)


def test_json_dump_of_the_schema_keys_is_stable() -> None:
    """The walker sees the same schema the loader validates with (no stale copy)."""
    root = load_schema()
    assert json.loads(json.dumps(root)) == root
