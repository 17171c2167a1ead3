"""Config problems that name the key path, what is wrong and what is expected."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .models import SECRET_KEYS
from .schema import load_schema, resolve, subschema

if TYPE_CHECKING:  # jsonschema is imported only where a document is validated
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping of keys",
    "array": "a list",
    "null": "null",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config: ``path: message; expected``."""

    path: str
    message: str
    expected: str = ""

    def __str__(self) -> str:
        tail = f"; expected {self.expected}" if self.expected else ""
        return _one_line(f"{self.path or '<top level>'}: {self.message}{tail}")


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid config{where}:\n" + "\n".join(f"  {p}" for p in problems))


_PLAIN_KEY = re.compile(r"^[\w-]+$")


def _one_line(text: str) -> str:
    """Control characters (a newline in a key, say) shown escaped: one problem, one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def join_path(parts: list[Any] | Any) -> str:
    """``settings.policy.stalled_strikes``; a key that is not a plain word is quoted."""
    return ".".join(
        str(p) if isinstance(p, int) or _PLAIN_KEY.match(str(p)) else json.dumps(str(p))
        for p in parts
    )


def _describe_type(t: Any) -> str:
    types = t if isinstance(t, list) else [t]
    return " or ".join(_TYPE_NAMES.get(x) or str(x) for x in types)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hint(node: dict[str, Any] | None) -> str:
    """A short description from the schema, to tell the user what the key is for."""
    if not node:
        return ""
    desc = re.split(r"\.\s+(?=[A-Z])", node.get("description", ""))[0]
    return desc.replace(" (secret)", "").rstrip(".")


def problem_from_error(err: ValidationError) -> Problem:
    """Turn one jsonschema error into a Problem a person can act on."""
    path = list(err.absolute_path)
    node = subschema(path)
    validator = err.validator
    value = err.instance
    if path and path[-1] in SECRET_KEYS:
        value = "***"  # never echo a secret, not even a wrong one
    hint = _hint(node)
    if validator == "additionalProperties" and isinstance(value, dict):
        root = load_schema()
        schema = resolve(err.schema, root) if isinstance(err.schema, dict) else {}
        known = sorted(schema.get("properties", {}))
        extras = [k for k in value if k not in schema.get("properties", {})]
        key = extras[0] if extras else "?"
        close = difflib.get_close_matches(str(key), known, n=1)
        if close:
            return Problem(
                join_path([*path, key]),
                f"unknown key (did you mean {close[0]!r}?)",
                f"one of: {', '.join(known)}",
            )
        return Problem(join_path([*path, key]), "unknown key", f"one of: {', '.join(known)}")
    if validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        child = subschema([*path, missing])
        return Problem(
            join_path([*path, missing]), "missing required key", _hint(child) or "a value"
        )
    if validator == "type":
        return Problem(
            join_path(path),
            f"got {_brief(value)}",
            _describe_type(err.validator_value) + (f" ({hint})" if hint else ""),
        )
    if validator == "enum":
        options = ", ".join(
            str(v).lower() if isinstance(v, bool) else str(v)
            for v in cast(list[Any], err.validator_value)
        )
        return Problem(join_path(path), f"got {_brief(value)}", f"one of: {options}")
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return Problem(
            join_path(path),
            f"got {_brief(value)}",
            f"a value {words[validator]} {err.validator_value}",
        )
    if validator in ("minLength", "minProperties", "minItems"):
        return Problem(join_path(path), "is empty", hint or "a non-empty value")
    if validator == "pattern" and "propertyNames" in err.schema_path:
        return Problem(
            join_path([*path, value]),
            f"invalid name {_brief(value)}",
            "lower-case letters, digits and '-' only (it becomes a program name and a topic)",
        )
    if validator == "pattern":
        return Problem(
            join_path(path),
            f"got {_brief(value)}",
            f"{hint} (matching {err.validator_value})"
            if hint
            else f"text matching {err.validator_value}",
        )
    if validator == "propertyNames":
        return Problem(
            join_path(path),
            f"invalid name {_brief(value)}",
            "lower-case letters, digits and '-' only (it becomes a program name and a topic)",
        )
    return Problem(join_path(path), err.message, hint)
