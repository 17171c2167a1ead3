"""``qbitrr-mqtt config init``: a commented example config generated from ``schema.json``.

Generated rather than hand-written so that it can never drift from the schema: every key is
shown with its default and its description as a comment.
"""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from .schema import load_schema, resolve

_EXAMPLES: dict[str, dict[str, Any]] = {
    "qbittorrent": {
        "default": {"url": "http://127.0.0.1:8080", "username": "admin", "password": "change-me"}
    },
    "arr": {
        "radarr": {
            "type": "radarr",
            "url": "http://127.0.0.1:7878",
            "api_key": "paste-the-radarr-api-key",
            "category": "radarr",
            "supervisor": {},
            "policy": {"stalled_strikes": 3},
        },
        "sonarr": {
            "type": "sonarr",
            "url": "http://127.0.0.1:8989",
            "api_key": "paste-the-sonarr-api-key",
            "category": "sonarr",
        },
    },
}


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _comment(desc: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(desc, 92 - len(indent))] if desc else []


def _emit(
    node: dict[str, Any], value: dict[str, Any] | None, indent: str, root: dict[str, Any]
) -> list[str]:
    lines: list[str] = []
    props = node.get("properties", {})
    for key, child in props.items():
        child = resolve(child, root)
        lines += _comment(child.get("description", ""), indent)
        given = (value or {}).get(key, child.get("default"))
        if child.get("type") == "object" and "properties" in child:
            lines.append(f"{indent}{key}:")
            lines += _emit(child, given if isinstance(given, dict) else {}, indent + "  ", root)
        else:
            lines.append(f"{indent}{key}: {_scalar(given)}")
    return lines


def example_config() -> str:
    """The commented example; it validates as it is (a test checks that)."""
    root = load_schema()
    out = [
        "# qbitrr-mqtt configuration (YAML). Every key below shows its default.",
        "# Validate with: qbitrr-mqtt config validate -c <this file>",
        "# Environment variables override keys: QBITRR_<SECTION>__<KEY>, e.g. QBITRR_SETTINGS__DRY_RUN=true",
        "",
    ]
    for section, node in root["properties"].items():
        node = resolve(node, root)
        out += _comment(node.get("description", ""), "")
        if section in _EXAMPLES:
            entry_schema = node["additionalProperties"]
            out.append(f"{section}:")
            for name, entry in _EXAMPLES[section].items():
                out.append(f"  {name}:")
                out += (
                    _emit(entry_schema, entry, "    ", root)
                    if section == "qbittorrent"
                    else _arr_entry(entry)
                )
        elif node.get("type") == "object":
            out.append(f"{section}:")
            out += _emit(node, {}, "  ", root)
        else:
            out.append(f"{section}: {_scalar(node.get('default'))}")
        out.append("")
    return "\n".join(out)


def _arr_entry(entry: dict[str, Any]) -> list[str]:
    """An Arr instance: the required keys plus a short policy override, not every policy key."""
    root = load_schema()
    inst = root["properties"]["arr"]["additionalProperties"]
    lines: list[str] = []
    for key, value in entry.items():
        child = resolve(inst["properties"][key], root)
        lines += _comment(child.get("description", ""), "    ")
        if key == "supervisor":
            lines.append("    supervisor:")
            lines += _emit(child, value, "      ", root)
        elif isinstance(value, dict):
            lines.append(f"    {key}:")
            lines += [f"      {k}: {_scalar(v)}" for k, v in value.items()]
        else:
            lines.append(f"    {key}: {_scalar(value)}")
    return lines
