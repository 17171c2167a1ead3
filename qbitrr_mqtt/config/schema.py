"""Loading ``schema.json`` and filling its defaults into a document.

``schema.json`` is the single source of truth for keys, types, defaults and descriptions:
validation, ``config init``, ``config show`` and the docs' config reference all read it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (packaged copy, or the repo's top-level file)."""
    packaged = resources.files("qbitrr_mqtt").joinpath("schema.json")
    if packaged.is_file():
        return json.loads(packaged.read_text(encoding="utf-8"))
    top = Path(__file__).resolve().parents[2] / "schema.json"
    return json.loads(top.read_text(encoding="utf-8"))


@cache
def schema_digest() -> str:
    """sha256 of the schema (as parsed), so a check made under another schema is not reused."""
    text = json.dumps(load_schema(), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/...``)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def subschema(
    path: Sequence[str | int], root: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The schema node describing the value at ``path`` (None when the path is unknown)."""
    root = root or load_schema()
    node: dict[str, Any] = root
    for part in path:
        node = resolve(node, root)
        props = node.get("properties", {})
        if isinstance(part, str) and part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            return None
    return resolve(node, root)


def fill_defaults(
    doc: Any, node: dict[str, Any] | None = None, root: dict[str, Any] | None = None
) -> Any:
    """Return a copy of ``doc`` with every missing key that has a schema default filled in.

    Objects that are absent but whose children have defaults are created, so a minimal file
    gets the whole tree. Maps (``additionalProperties`` schemas) fill each entry.
    """
    root = root or load_schema()
    node = resolve(node if node is not None else root, root)
    if not isinstance(doc, dict) or node.get("type") != "object" and "properties" not in node:
        return copy.deepcopy(doc)
    out = {k: v for k, v in doc.items()}
    for key, child in node.get("properties", {}).items():
        child = resolve(child, root)
        if key in out:
            out[key] = fill_defaults(out[key], child, root)
        elif "default" in child:
            out[key] = fill_defaults(copy.deepcopy(child["default"]), child, root)
        elif child.get("type") == "object" and "properties" in child:
            out[key] = fill_defaults({}, child, root)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        known = node.get("properties", {})
        for key in list(out):
            if key not in known:
                out[key] = fill_defaults(out[key], extra, root)
    return out
