"""Find, read, override, validate and type the config file.

Order of precedence (SPEC §2): environment overrides ``QBITRR_<SECTION>__<KEY>`` beat the
file, and the file beats the schema defaults. The file is found as ``-c PATH``, then
``$QBITRR_MQTT_CONFIG``, then ``./config.yaml``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from .errors import ConfigError, Problem, join_path
from .migrations import CURRENT_VERSION  # noqa: F401  (re-exported: one source of truth)
from .models import (
    SECRET_KEYS,
    ArrInstance,
    Config,
    DatabaseConfig,
    MqttConfig,
    Policy,
    QbitConfig,
    Settings,
    SupervisorLimits,
    TrackerRule,
    WebUIConfig,
)
from .safe_yaml import YamlTooComplex, load_yaml
from .schema import fill_defaults, load_schema, schema_digest, subschema
from .url_secrets import mask_url

ENV_CONFIG = "QBITRR_MQTT_CONFIG"
#: Set by ``qbitrr-mqtt run`` for supervisord's programs: the digest of the document it
#: validated (see :func:`document_digest`). A program reading the very same document skips
#: the JSON Schema pass; any other document is validated in full.
ENV_VALIDATED = "QBITRR_MQTT_VALIDATED"
ENV_PREFIX = "QBITRR_"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTkmgt]?)([iI]?)[bB]?\s*$")


def find_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The config file to use: explicit path, then $QBITRR_MQTT_CONFIG, then ./config.yaml."""
    env = os.environ if env is None else env
    if path:
        return Path(path)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return Path("config.yaml")


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse the file; a syntax error becomes a ConfigError with the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                Problem(
                    "",
                    f"config file {path} does not exist",
                    "a file: create one with 'qbitrr-mqtt config init'",
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [Problem("", f"cannot read {path}: {exc}", "a readable UTF-8 file")]
        ) from None
    try:
        doc = load_yaml(text)
    except YamlTooComplex as exc:
        raise ConfigError(
            [Problem("", f"refused: {exc.problem}", "a plain YAML mapping of sections")],
            str(path),
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", yaml_error_text(exc), "valid YAML")], str(path)) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(
            [
                Problem(
                    "",
                    f"the file holds {type(doc).__name__}, not a mapping",
                    "a YAML mapping of sections (settings, qbittorrent, mqtt, webui, database, arr)",
                )
            ],
            str(path),
        )
    return doc


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """One line saying where and what: PyYAML's own messages span several lines."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        code = f"#x{ord(char):04x}" if isinstance(char, str) else repr(char)
        return f"YAML syntax error at character {exc.position}: {code}: {exc.reason}"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return " ".join(f"YAML syntax error at {where}{problem}".split())


def parse_scalar(text: str) -> Any:
    """An environment value as a YAML scalar: 'false' → False, '0' → 0, '' → ''."""
    if text == "":
        return ""
    try:
        value = load_yaml(text)
    except yaml.YAMLError:
        return text
    return "" if value is None and text.strip() in ('""', "''") else value


def _typed_for(raw: str, path: list[str]) -> Any:
    """Parse an env value as YAML, unless the key is a string and YAML read something else.

    ``QBITRR_MQTT__PASSWORD=007`` must stay the string '007', not the number 7.
    """
    value = parse_scalar(raw)
    node = subschema(path)
    if node is None or isinstance(value, str):
        return value
    types = node.get("type", [])
    types = types if isinstance(types, list) else [types]
    kind = {bool: "boolean", int: "integer", float: "number", type(None): "null"}.get(type(value))
    if "boolean" in types and kind == "integer" and value in (0, 1) and "integer" not in types:
        return bool(value)  # DRY_RUN=0 / 1, as shells and Docker users write it
    if "string" in types and kind not in types and not (kind == "integer" and "number" in types):
        return raw
    return value


def _match_key(container: dict[str, Any], wanted: str) -> str:
    """The existing key matching ``wanted`` case-insensitively, with '_' standing for '-'."""
    norm = wanted.lower().replace("-", "_")
    for key in container:
        if str(key).lower().replace("-", "_") == norm:
            return key
    return wanted.lower()


def apply_env_overrides(doc: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Apply ``QBITRR_<SECTION>__<KEY>[__<KEY>...]`` variables to ``doc`` in place.

    Returns the dotted paths that were overridden. Map keys (instance and client names) match
    case-insensitively with '_' standing for '-', since shells cannot name '-' in variables.
    """
    applied = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p for p in name[len(ENV_PREFIX) :].split("__") if p]
        if len(parts) < 2:
            continue
        node = doc
        path: list[str] = []
        for part in parts[:-1]:
            key = _match_key(node, part)
            if key not in node or not isinstance(node[key], dict):
                node[key] = {}
            node = node[key]
            path.append(key)
        last = _match_key(node, parts[-1])
        node[last] = _typed_for(env[name], [*path, last])
        applied.append(join_path([*path, last]))
    return applied


def parse_size(value: int | str) -> int:
    """'50G', '500MiB', '1024' → bytes; -1 stays -1 (disabled)."""
    if isinstance(value, int):
        return value
    if value.strip() == "-1":
        return -1
    m = _SIZE.match(value)
    if not m:
        raise ValueError(value)
    number, unit = float(m.group(1)), m.group(2).upper()
    return int(number * 1024 ** "KMGT".find(unit) * 1024) if unit else int(number)


def validate(
    doc: dict[str, Any], source: str | None = None, *, schema_checked: bool = False
) -> dict[str, Any]:
    """Validate ``doc`` against the schema and cross-key rules; return it with defaults filled.

    ``schema_checked``: the JSON Schema pass already accepted this very document (same
    :func:`document_digest`), so only the defaults and the cross-key rules run. jsonschema is
    imported only when the schema pass runs: a manager started by ``qbitrr-mqtt run`` on the
    file ``run`` validated never loads it.
    """
    if not schema_checked:
        from jsonschema import Draft202012Validator

        from .errors import problem_from_error

        validator = Draft202012Validator(load_schema())
        errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
        problems = [problem_from_error(e) for e in errors]
        if problems:
            raise ConfigError(_dedupe(problems), source)
    full = fill_defaults(doc)
    problems = _cross_checks(full)
    if problems:
        raise ConfigError(problems, source)
    return full


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _cross_checks(full: dict[str, Any]) -> list[Problem]:
    """Rules a JSON Schema cannot say: references between keys, regexes that compile."""
    problems: list[Problem] = _unusable_characters(full)
    clients = full["qbittorrent"]
    seen_categories: dict[tuple[str, str], str] = {}
    policies = [("settings.policy", full["settings"]["policy"])]
    for name, inst in full["arr"].items():
        if inst["client"] not in clients:
            problems.append(
                Problem(
                    f"arr.{name}.client",
                    f"names qBittorrent client {inst['client']!r}, which is not configured",
                    f"one of: {', '.join(clients)}",
                )
            )
        category = inst.get("category") or name
        key = (inst["client"], category)
        if key in seen_categories and inst.get("enabled", True):
            problems.append(
                Problem(
                    f"arr.{name}.category",
                    f"category {category!r} is already used by arr.{seen_categories[key]} on the same client",
                    "a category of its own per instance (two managers would fight over the same torrents)",
                )
            )
        seen_categories[key] = name
        policies.append((f"arr.{name}.policy", inst.get("policy", {})))
    for where, policy in policies:
        for regex_key in ("folder_exclusion_regex", "file_name_exclusion_regex"):
            for i, pattern in enumerate(policy.get(regex_key, [])):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(
                        Problem(
                            f"{where}.{regex_key}.{i}",
                            f"invalid regex {pattern!r}: {exc}",
                            "a Python regular expression",
                        )
                    )
        if "free_space" in policy:
            try:
                parse_size(policy["free_space"])
            except ValueError:
                problems.append(
                    Problem(
                        f"{where}.free_space",
                        f"got {policy['free_space']!r}",
                        "bytes, or a size like '50G'",
                    )
                )
    return problems


def _unusable_characters(value: Any, path: tuple[Any, ...] = ()) -> list[Problem]:
    """Strings no path, URL or name can hold: a NUL character, or a lone UTF-16 surrogate
    (YAML's ``"\\ud800"``), which cannot even be written back as UTF-8."""
    if isinstance(value, str):
        if "\x00" in value:
            return [Problem(join_path(list(path)), "contains a NUL character", "text without one")]
        if any("\ud800" <= c <= "\udfff" for c in value):
            return [
                Problem(join_path(list(path)), "contains a lone surrogate", "valid Unicode text")
            ]
        return []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    return [p for key, child in items for p in _unusable_characters(child, (*path, key))]


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    must_exist: bool = True,
) -> Config:
    """Read the effective config: file (if any) + environment overrides + defaults."""
    env = os.environ if env is None else env
    source = find_config(path, env)
    doc = read_yaml(source) if source.exists() or must_exist else {}
    return config_from_dict(doc, env=env, source=source if source.exists() else None)


def config_from_dict(
    doc: dict[str, Any], *, env: Mapping[str, str] | None = None, source: Path | None = None
) -> Config:
    """Build a Config from a parsed document (env overrides applied when ``env`` is given)."""
    from .migrations import migrate_document

    doc = migrate_document(dict(doc))
    overridden = apply_env_overrides(doc, env) if env else []
    digest = document_digest(doc)
    checked = env is not None and env.get(ENV_VALIDATED) == digest
    try:
        full = validate(doc, str(source) if source else None, schema_checked=checked)
    except ConfigError as exc:
        raise ConfigError([_blame_env(p, overridden) for p in exc.problems], exc.source) from None
    return build(full, source, validated=digest)


def document_digest(doc: Any) -> str:
    """A digest of a document (as read, migrated and overridden) and of the schema it is
    checked against: equal digests mean the JSON Schema pass gives the same answer.

    Types are part of it (``1``, ``1.0``, ``True`` and ``"1"`` differ), and so are the
    package version and the schema text, so an upgrade never trusts an older check.
    """
    text = f"{__version__}\0{schema_digest()}\0{_canonical(doc)!r}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return (
            "dict",
            tuple(sorted(((repr(k), _canonical(v)) for k, v in value.items()), key=repr)),
        )
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_canonical(v) for v in value))
    return (type(value).__name__, value)


def _blame_env(problem: Problem, overridden: list[str]) -> Problem:
    """Say so when a bad value came from an environment override, not the file."""
    for path in overridden:
        if problem.path == path or problem.path.startswith(path + "."):
            var = ENV_PREFIX + path.upper().replace(".", "__").replace("-", "_")
            return Problem(problem.path, f"{problem.message} (set by ${var})", problem.expected)
    return problem


def _tuple_fields(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _policy(data: dict[str, Any]) -> Policy:
    data = dict(data)
    data["trackers"] = tuple(TrackerRule(**t) for t in data.get("trackers", ()))
    data["free_space"] = parse_size(data.get("free_space", -1))
    return Policy(
        **_tuple_fields({k: v for k, v in data.items() if k != "trackers"}),
        trackers=data["trackers"],
    )


def build(full: dict[str, Any], source: Path | None = None, *, validated: str = "") -> Config:
    """Typed objects from a validated, default-filled document (``validated``: the
    :func:`document_digest` of the document before defaults, when known)."""
    s = full["settings"]
    base_policy = dict(s["policy"])
    # Relative paths are relative to the config file (or the working directory without one),
    # and made absolute: supervisord starts programs from another working directory.
    anchor = source.resolve().parent if source is not None else Path.cwd()
    data_dir = (anchor / s["data_dir"]).resolve()
    settings = Settings(
        **{
            **{k: v for k, v in s.items() if k != "policy"},
            "data_dir": data_dir,
            "policy": _policy(base_policy),
        }
    )
    arr = {}
    for name, inst in full["arr"].items():
        merged = {**base_policy, **inst.get("policy", {})}
        arr[name] = ArrInstance(
            name=name,
            type=inst["type"],
            url=inst["url"].rstrip("/"),
            api_key=inst["api_key"],
            category=inst.get("category") or name,
            client=inst["client"],
            enabled=inst["enabled"],
            timeout=inst["timeout"],
            supervisor=SupervisorLimits(**inst["supervisor"]),
            policy=_policy(merged),
        )
    db_url = full["database"]["url"] or f"sqlite:///{data_dir / 'qbitrr.db'}"
    if db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////"):
        rel = db_url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            db_url = f"sqlite:///{(anchor / rel).resolve()}"
    return Config(
        config_version=full["config_version"],
        settings=settings,
        qbittorrent={n: QbitConfig(name=n, **c) for n, c in full["qbittorrent"].items()},
        mqtt=MqttConfig(**full["mqtt"]),
        webui=WebUIConfig(**_tuple_fields(full["webui"])),
        database=DatabaseConfig(url=db_url),
        arr=arr,
        source=source,
        raw=full,
        validated=validated,
    )


def redact(value: Any) -> Any:
    """A copy with every secret replaced by '***' (None stays None: nothing to hide), and the
    password inside a URL (``database.url``) too."""
    if isinstance(value, dict):
        return {
            k: ("***" if k in SECRET_KEYS and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return mask_url(value)
