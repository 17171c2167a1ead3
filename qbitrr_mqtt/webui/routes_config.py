"""``/api/v1/config``: read the config file (secrets as ``***``) and replace it safely.

A replacement is validated exactly as ``qbitrr-mqtt config validate`` would (schema, cross-key
rules, environment overrides), written atomically with the previous file kept as
``<file>.bak``, and answered with the programs that must restart to use it. Nothing is
written when any problem is found; the 422 answer lists every problem with its key path and
the line of that key in the submitted YAML.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ..config import ConfigError, config_from_dict, load_config, redact
from ..config.safe_yaml import load_yaml
from . import config_edit
from .errors import ApiError
from .schemas import ref
from .spec import Call, Param, Resp, Route
from .state import blocking, shared

log = logging.getLogger("qbitrr.webui")

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")

BODY = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "yaml": {
                    "type": "string",
                    "description": "The whole file as YAML text; `***` keeps a stored secret.",
                }
            },
            "required": ["yaml"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "config": {
                    "type": "object",
                    "description": "The whole file as a JSON object; `***` keeps a stored secret.",
                }
            },
            "required": ["config"],
            "additionalProperties": False,
        },
    ]
}


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _safe_load(text: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return None


async def get_config(call: Call) -> web.Response:
    state = shared(call.app)
    source = state.config.source
    effective = state.config
    if source is None:
        text = yaml.safe_dump(redact(effective.raw), sort_keys=False, allow_unicode=True)
        return web.json_response(
            {"path": None, "writable": False, "yaml": text, "config": redact(effective.raw)}
        )

    def read() -> tuple[str, Any]:
        text = _read_file(source)
        try:
            shown = config_edit.redact_text(text)
        except yaml.YAMLError:
            # A file that does not parse cannot be redacted by position: show its keys only.
            shown = "# the config file does not parse as YAML; fix it and reload\n"
        try:
            fresh = load_config(source).raw
        except ConfigError:
            fresh = effective.raw
        return shown, fresh

    shown, fresh = await blocking(call.app, read)
    writable = os.access(source, os.W_OK) and os.access(source.parent, os.W_OK)
    return web.json_response(
        {"path": str(source), "writable": writable, "yaml": shown, "config": redact(fresh)}
    )


def _invalid(problems: list[dict[str, Any]]) -> ApiError:
    count = len(problems)
    first = problems[0]
    message = f"{first['path'] or 'the file'}: {first['message']}"
    if count > 1:
        message += f" (and {count - 1} more problem{'s' if count > 2 else ''})"
    return ApiError(422, "invalid_config", message, problems=problems)


def _problem(path: str, message: str, expected: str, text: str | None) -> dict[str, Any]:
    line = config_edit.line_of(text, path) if text is not None else None
    return {"path": path, "message": message, "expected": expected, "line": line}


def _prepare(body: Any, stored: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """The text to write, its parsed document, and the submitted text (for line numbers)."""
    if isinstance(body, dict) and "config" in body:
        doc, missing = config_edit.restore_doc(body["config"], stored)
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
        submitted = None
    else:
        submitted = body if isinstance(body, str) else body["yaml"]
        try:
            text, missing = config_edit.restore_text(submitted, stored)
            doc = load_yaml(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            where = f"line {line}: " if line else ""
            raise _invalid(
                [
                    {
                        "path": "",
                        "message": f"YAML syntax error at {where}{what}",
                        "expected": "valid YAML",
                        "line": line,
                    }
                ]
            ) from None
    if doc is None or doc == {}:
        # Valid on its own (every key has a default), but replacing a config with nothing
        # through the API is a mistake far more often than an intent.
        raise _invalid([_problem("", "the document is empty", "the whole config file", None)])
    if not isinstance(doc, dict):
        raise _invalid(
            [
                _problem(
                    "",
                    f"the document is {type(doc).__name__}, not a mapping",
                    "a mapping of sections",
                    submitted,
                )
            ]
        )
    if missing:
        raise _invalid(
            [
                _problem(
                    p,
                    "*** stands for the stored secret, but none is stored at this key",
                    "the secret itself",
                    submitted,
                )
                for p in missing
            ]
        )
    return text, doc, submitted


async def put_config(call: Call) -> web.Response:
    state = shared(call.app)
    source = state.config.source
    if source is None:
        raise ApiError(
            409,
            "no_config_file",
            "this process was started without a config file; there is nothing to replace",
        )
    async with state.config_lock:
        current = await blocking(call.app, _read_file, source)
        stored = _safe_load(current)
        text, doc, submitted = _prepare(call.body, stored if isinstance(stored, dict) else {})
        try:
            new = await blocking(call.app, config_from_dict, doc, env=os.environ, source=source)
        except ConfigError as exc:
            raise _invalid(
                [_problem(p.path, p.message, p.expected, submitted) for p in exc.problems]
            ) from None
        try:
            old_raw: dict[str, Any] | None = (await blocking(call.app, load_config, source)).raw
        except ConfigError:
            old_raw = None
        if old_raw is None:  # the file on disk was not valid: everything starts afresh
            changed = ["*"]
            targets, reload = config_edit.restart_targets(changed, {}, new.raw)[0], True
        else:
            changed = config_edit.changed_paths(old_raw, new.raw)
            targets, reload = config_edit.restart_targets(changed, old_raw, new.raw)
        backup = None
        if not call.query["validate_only"]:
            try:
                backup = await blocking(call.app, config_edit.write_atomic, source, text)
            except OSError as exc:
                raise ApiError(
                    409, "not_writable", f"cannot write {source}: {exc.strerror}"
                ) from None
            log.info(
                "config saved from the API: %d key(s) changed, restart needed: %s",
                len(changed),
                ", ".join(targets) or "none",
            )
    return web.json_response(
        {
            "saved": not call.query["validate_only"],
            "path": str(source),
            "backup": str(backup) if backup else None,
            "changed": changed,
            "restart_required": targets,
            "supervisor_reload": reload,
        }
    )


VALIDATE_ONLY = Param(
    "validate_only",
    "query",
    {"type": "boolean", "default": False},
    "true: validate and report what would change, write nothing.",
)

ROUTES = (
    Route(
        "GET",
        "/api/v1/config",
        get_config,
        "Read the config",
        "config",
        "The file's YAML text with every secret shown as `***` (comments kept), and the effective config (file + environment + defaults), also redacted.",
        responses={200: Resp("The config.", ref("ConfigRead"))},
    ),
    Route(
        "PUT",
        "/api/v1/config",
        put_config,
        "Replace the config",
        "config",
        "Validates the new file like `qbitrr-mqtt config validate`, keeps the old one as `<file>.bak`, writes atomically, "
        "and lists the programs that must restart. `***` as a secret's value keeps the stored secret. "
        'Send JSON (`{"yaml": text}` or `{"config": object}`) or the YAML text itself as application/yaml.',
        params=(VALIDATE_ONLY,),
        body=BODY,
        text_bodies=YAML_TYPES,
        responses={
            200: Resp("Saved (or, with validate_only, valid).", ref("ConfigSaved")),
            409: Resp("No config file to replace, or it is not writable.", ref("Error")),
            422: Resp(
                "The new config is invalid; `error.problems` lists each key path, what is wrong, what is expected and its line.",
                ref("Error"),
            ),
        },
    ),
)
