"""Reading and replacing the config file from the WebUI without losing what the user wrote.

The YAML text is edited by node position (``yaml.compose`` keeps each scalar's span), not by
re-dumping the document, so comments and layout survive a read → edit → save round trip:
secrets are swapped for ``***`` on the way out and ``***`` is swapped back for the stored
secret on the way in. Problems found by validation are mapped to the line of their key so
the page can mark them in the editor.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..config.models import SECRET_KEYS
from ..config.safe_yaml import compose_yaml
from ..config.url_secrets import is_masked_url, mask_url, unmask_url, url_password

MASK = "***"
Node = yaml.Node


def _secret_scalars(
    node: Node, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Node]]:
    """(path, value node) of every scalar stored under a secret key, each node once."""
    seen: set[int] = set()
    stack: list[tuple[tuple[Any, ...], Node]] = [(path, node)]
    while stack:
        where, current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                if name in SECRET_KEYS and isinstance(value, yaml.ScalarNode):
                    if id(value) not in seen:  # an alias repeats its anchor's node
                        seen.add(id(value))
                        yield (*where, name), value
                else:
                    stack.append(((*where, name), value))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(((*where, i), item) for i, item in enumerate(current.value))


def _url_scalars(node: Node, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Node]]:
    """(path, node) of every string scalar that is a URL with a password in it, or masked."""
    seen: set[int] = set()
    stack: list[tuple[tuple[Any, ...], Node]] = [(path, node)]
    while stack:
        where, current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                stack.append(((*where, name), value))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(((*where, i), item) for i, item in enumerate(current.value))
        elif current.tag == "tag:yaml.org,2002:str" and (
            url_password(current.value) or is_masked_url(current.value)
        ):
            yield where, current


def _is_hidden(node: Node) -> bool:
    """A secret worth hiding: a non-empty string (null and '' hide nothing, as in redact())."""
    return node.tag == "tag:yaml.org,2002:str" and node.value != ""


def _splice(text: str, edits: list[tuple[Node, str]]) -> str:
    """Replace each node's text span with a new scalar, keeping anchors, tags and newlines."""
    out = text
    for node, replacement in sorted(edits, key=lambda e: e[0].start_mark.index, reverse=True):
        start, end = node.start_mark.index, node.end_mark.index
        segment = out[start:end]
        keep = 0
        while segment[keep : keep + 1] in ("&", "!"):  # an anchor or tag before the value stays
            keep += len(segment[keep:].split(None, 1)[0])
            keep += len(segment[keep:]) - len(segment[keep:].lstrip())
        value = segment[keep:]
        tail = value[len(value.rstrip("\n")) :]
        out = out[:start] + segment[:keep] + replacement + tail + out[end:]
    return out


def compose(text: str) -> Node | None:
    """The node graph of ``text``; too large, deep or self-referring is a YAMLError."""
    return compose_yaml(text)


def redact_text(text: str) -> str:
    """The YAML text with every secret value shown as ``"***"``, all else unchanged."""
    root = compose(text)
    if root is None:
        return text
    edits = [(n, json.dumps(MASK)) for _, n in _secret_scalars(root) if _is_hidden(n)]
    edits += [(n, json.dumps(mask_url(n.value))) for _, n in _url_scalars(root)]
    return _splice(text, edits)


def _lookup(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if (
            isinstance(doc, dict)
            and part in doc
            or isinstance(doc, list)
            and isinstance(part, int)
            and part < len(doc)
        ):
            doc = doc[part]
        else:
            return None
    return doc


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


def restore_text(text: str, stored: dict[str, Any]) -> tuple[str, list[str]]:
    """Swap each ``***`` secret for the stored value at the same key path.

    Returns the new text and the dotted paths where ``***`` stands for nothing stored (a new
    instance cannot reuse a secret it never had).
    """
    root = compose(text)
    if root is None:
        return text, []
    edits, missing = [], []
    for path, node in _secret_scalars(root):
        if node.value != MASK:
            continue
        value = _lookup(stored, path)
        if isinstance(value, str) and value:
            edits.append((node, json.dumps(value)))
        else:
            missing.append(dotted(path))
    for path, node in _url_scalars(root):
        if is_masked_url(node.value):
            kept = unmask_url(node.value, _lookup(stored, path))
            if kept is None:
                missing.append(dotted(path))
            else:
                edits.append((node, json.dumps(kept)))
    return _splice(text, edits), missing


def restore_doc(
    doc: Any, stored: dict[str, Any], path: tuple[Any, ...] = ()
) -> tuple[Any, list[str]]:
    """The same as :func:`restore_text` for an already parsed document (JSON bodies)."""
    missing: list[str] = []
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if key in SECRET_KEYS and value == MASK:
                kept = _lookup(stored, (*path, key))
                if isinstance(kept, str) and kept:
                    out[key] = kept
                else:
                    out[key] = value
                    missing.append(dotted((*path, key)))
            else:
                out[key], more = restore_doc(value, stored, (*path, key))
                missing += more
        return out, missing
    if isinstance(doc, list):
        items = [restore_doc(v, stored, (*path, i)) for i, v in enumerate(doc)]
        return [v for v, _ in items], [m for _, more in items for m in more]
    if is_masked_url(doc):
        kept = unmask_url(doc, _lookup(stored, path))
        return (doc, [dotted(path)]) if kept is None else (kept, [])
    return doc, []


def line_of(text: str, dotted_path: str) -> int | None:
    """The 1-based line of the deepest key of ``dotted_path`` present in the text."""
    try:
        node = compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in dotted_path.split(".") if dotted_path else []:
        if isinstance(node, yaml.MappingNode):
            match = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == part
                ),
                None,
            )
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}`` for every leaf (lists are leaves: a changed list is one change)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = flatten(old), flatten(new)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, object) != b.get(k, object))


_BRIDGE_SETTINGS = {"max_restarts", "restart_window", "restart_delay", "hang_timeout"}
_MANAGER_SETTINGS = {"check_interval", "dry_run", "policy"}


def restart_targets(
    changed: list[str], old: dict[str, Any], new: dict[str, Any]
) -> tuple[list[str], bool]:
    """Which programs must restart to use the new file, and whether supervisord must re-read
    its program sections (an instance added, removed, enabled/disabled or its limits changed).
    """
    arr = {**old.get("arr", {}), **new.get("arr", {})}
    managers = {f"manager-{n}" for n in arr}
    everything = managers | {"bridge", "webui"}
    programs: set[str] = set()
    reload = False
    for path in changed:
        section, _, rest = path.partition(".")
        key = rest.split(".")
        if section == "arr" and rest:
            name = key[0]
            programs.add(f"manager-{name}")
            if name not in old.get("arr", {}) or name not in new.get("arr", {}):
                programs.add("bridge")
                reload = True
            elif len(key) > 1 and key[1] in ("supervisor", "enabled"):
                reload = True
        elif section == "qbittorrent":
            client = key[0]
            programs |= {f"manager-{n}" for n, i in arr.items() if i.get("client") == client}
        elif section == "settings" and key[0] in _MANAGER_SETTINGS:
            programs |= managers
        elif section == "settings" and key[0] in _BRIDGE_SETTINGS:
            programs.add("bridge")
        elif section == "mqtt":
            programs |= managers | {"bridge"}
        elif section == "webui":
            programs.add("webui")
        else:
            programs |= everything
    enabled = {f"manager-{n}" for n, i in new.get("arr", {}).items() if i.get("enabled", True)}
    return sorted(p for p in programs if not p.startswith("manager-") or p in enabled), reload


def write_atomic(path: Path, text: str) -> Path | None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never half of one.

    The previous file is kept as ``<file>.bak`` (returned); the new file keeps its mode.
    """
    path = Path(path)
    backup = None
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            shutil.copy2(path, backup)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return backup
