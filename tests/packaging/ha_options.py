"""Home Assistant's add-on options check, for tests: options against the manifest's ``schema``.

A faithful port of the Supervisor's rules (supervisor/apps/options.py, ``AppOptions``): the
element types ``str``, ``password``, ``int``, ``float`` (with ``(min,max)`` ranges), ``bool``,
``email``, ``url``, ``port``, ``match(REGEX)``, ``list(a|b)``; a trailing ``?`` makes a key
optional; a list schema ``[x]`` is a list of x, a dict schema nests; unknown option keys are
dropped. Returns the cleaned options the Supervisor would write, or raises OptionsInvalid.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OptionsInvalid(ValueError):
    """The options do not satisfy the schema (the message names the option)."""


def validate_options(schema: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Check ``options`` against an add-on ``schema`` the way the Supervisor does."""
    if not isinstance(options, dict):
        raise OptionsInvalid("options are not a mapping")
    return _dict(schema, options, "root")


def _element(typ: Any, value: Any, key: str) -> Any:
    if isinstance(typ, list):
        if not isinstance(value, list):
            raise OptionsInvalid(f"Invalid list for option '{key}'")
        return [_element(typ[0], item, key) for item in value]
    if isinstance(typ, dict):
        if not isinstance(value, dict):
            raise OptionsInvalid(f"Invalid dict for option '{key}'")
        return _dict(typ, value, key)
    return _single(typ, value, key)


def _dict(schema: dict[str, Any], data: dict[str, Any], where: str) -> dict[str, Any]:
    out = {k: _element(schema[k], v, k) for k, v in data.items() if k in schema}
    for missing in set(schema) - set(out):
        typ = schema[missing]
        if isinstance(typ, list) and typ:
            typ = typ[0]
        if not (isinstance(typ, str) and typ.endswith("?")):
            raise OptionsInvalid(f"Missing option '{missing}' in {where}")
    return out


def _range(match: re.Match[str], low: str, high: str) -> tuple[float | None, float | None]:
    lo, hi = match.group(low), match.group(high)
    return (float(lo) if lo else None, float(hi) if hi else None)


def _check_range(number: float, bounds: tuple[float | None, float | None], key: str) -> None:
    lo, hi = bounds
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise OptionsInvalid(f"Option '{key}': {number} is out of range {lo}..{hi}")


def _single(typ: str, value: Any, key: str) -> Any:
    if value is None:
        raise OptionsInvalid(f"Missing required option '{key}'")
    match = RE_SCHEMA_ELEMENT.match(typ)
    if not match:
        raise OptionsInvalid(f"Unknown type '{typ}' for option '{key}'")
    if typ.startswith(("str", "password")):
        if not isinstance(value, str):
            raise OptionsInvalid(f"Option '{key}': expected a string, got {value!r}")
        prefix = "s" if typ.startswith("str") else "p"
        _check_range(len(value), _range(match, f"{prefix}_min", f"{prefix}_max"), key)
        return value
    if typ.startswith("int"):
        number = _coerce(int, value, key)
        _check_range(number, _range(match, "i_min", "i_max"), key)
        return number
    if typ.startswith("float"):
        number = _coerce(float, value, key)
        _check_range(number, _range(match, "f_min", "f_max"), key)
        return number
    if typ.startswith("bool"):
        return _boolean(value, key)
    if typ.startswith("email"):
        if not isinstance(value, str) or not _EMAIL.match(value):
            raise OptionsInvalid(f"Option '{key}': not an e-mail address")
        return value
    if typ.startswith("url"):
        parsed = urlparse(str(value))
        if not (parsed.scheme and parsed.netloc):
            raise OptionsInvalid(f"Option '{key}': expected a URL, got {value!r}")
        return value
    if typ.startswith("port"):
        number = _coerce(int, value, key)
        _check_range(number, (1, 65535), key)
        return number
    if typ.startswith("match"):
        if not re.match(match.group("match"), str(value)):
            raise OptionsInvalid(f"Option '{key}': {value!r} does not match {match.group('match')}")
        return str(value)
    if typ.startswith("list"):
        choices = match.group("list").split("|")
        if str(value) not in choices:
            raise OptionsInvalid(f"Option '{key}': {value!r} is not one of {choices}")
        return str(value)
    raise OptionsInvalid(f"Option '{key}': type '{typ}' cannot be checked here")


def _coerce(kind: type, value: Any, key: str) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise OptionsInvalid(f"Option '{key}': expected {kind.__name__}, got {value!r}") from None


def _boolean(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on", "enable"):
        return True
    if text in ("0", "false", "no", "off", "disable"):
        return False
    raise OptionsInvalid(f"Option '{key}': expected a boolean, got {value!r}")
