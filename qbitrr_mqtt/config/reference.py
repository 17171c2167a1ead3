"""The config reference (docs/CONFIG.md), generated from ``schema.json``.

Run ``python -m qbitrr_mqtt.config.reference > docs/CONFIG.md`` after changing the schema; a
test fails while the committed page is stale.
"""

from __future__ import annotations

import json
from typing import Any

from .schema import load_schema, resolve


def _type(node: dict[str, Any]) -> str:
    t = node.get("type", "")
    types = t if isinstance(t, list) else [t]
    text = " \\| ".join(x for x in types if x)
    if "enum" in node:
        text += ": " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    return text


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return "**required**"
    value = json.dumps(node["default"])
    return f"`{value}`" if len(value) <= 60 else f"`{value[:57]}...`"


def _rows(node: dict[str, Any], path: str, root: dict[str, Any]) -> list[str]:
    node = resolve(node, root)
    rows: list[str] = []
    for key, child in node.get("properties", {}).items():
        child = resolve(child, root)
        here = f"{path}.{key}" if path else key
        if child.get("type") == "object" and "properties" in child and not here.endswith(".policy"):
            rows += _rows(child, here, root)
        elif here.endswith(".policy") and here != "settings.policy":
            rows.append(
                f"| `{here}` | object | (settings.policy) | Any `settings.policy` key, for this instance only. |"
            )
        elif here == "settings.policy":
            rows += _rows(child, here, root)
        else:
            desc = child.get("description", "").replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{here}` | {_type(child)} | {_default(child)} | {desc} |")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        rows += _rows(extra, f"{path}.<name>", root)
    return rows


def reference_markdown() -> str:
    root = load_schema()
    out = [
        "# Config reference",
        "",
        "<!-- Generated from schema.json by `python -m qbitrr_mqtt.config.reference`; do not edit by hand. -->",
        "",
        "The config file is YAML (`qbitrr-mqtt config init` writes a commented example). Any key can be",
        "overridden from the environment as `QBITRR_<SECTION>__<KEY>` (levels joined by `__`,",
        "case-insensitive, `_` standing for `-` in instance names), e.g. `QBITRR_SETTINGS__DRY_RUN=true`",
        "or `QBITRR_ARR__RADARR_4K__POLICY__STALLED_STRIKES=5`.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for section, node in root["properties"].items():
        node = resolve(node, root)
        if node.get("type") == "object":
            out += _rows(node, section, root)
        else:
            out.append(
                f"| `{section}` | {_type(node)} | {_default(node)} | {node.get('description', '')} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
