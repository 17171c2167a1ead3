"""Apply a changed config to the running supervisord (the bridge does it on reload).

A new or re-enabled instance gets its ``manager-<instance>`` program, a removed or disabled
one loses it, changed limits replace that one program; every other program keeps running
(``refresh_programs``: re-render ``programs.conf``, then reread/update over XML-RPC).

Commands that differ from what the config renders (a packager's wrapper, the tests'
stand-ins, passed to ``qbitrr-mqtt run`` as overrides) are read back from the current
``programs.conf`` and kept. A change that would touch the bridge's own section or the events
listener (another data directory or config path) is not applied from inside the stack: the
bridge would stop itself half-way; it is logged with what to do instead.
"""

from __future__ import annotations

import configparser
import logging
from pathlib import Path
from typing import Any

from ..config import Config
from ..supervisor.render import EVENTS_PROGRAM, programs, render_programs
from ..supervisor.rpc import SupervisorClient, SupervisorError
from ..supervisor.run import StackError, paths, refresh_programs

log = logging.getLogger("qbitrr.bridge")

#: Sections whose change needs a restart of the whole stack.
_SELF = ("program:bridge", f"eventlistener:{EVENTS_PROGRAM}")


def sections(text: str) -> dict[str, dict[str, str]]:
    """``programs.conf`` text -> section -> key -> value (``%%`` unescaped once)."""
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return {s: dict(parser.items(s)) for s in parser.sections()}


def current_overrides(config: Config, programs_file: Path) -> dict[str, str]:
    """Commands in ``programs_file`` that are not what ``config`` renders by default."""
    try:
        found = sections(programs_file.read_text(encoding="utf-8"))
    except (OSError, configparser.Error):
        return {}
    defaults = {p.name: p.command for p in programs(config)}
    out = {}
    for section, values in found.items():
        name = section.partition(":")[2]
        command = values.get("command", "").replace("%%", "%")
        if name in defaults and command and command != defaults[name]:
            out[name] = command
    return out


def sync_programs(old: Config, new: Config, client: SupervisorClient) -> Any:
    """Bring supervisord's programs in line with ``new``; the UpdateResult, or None when
    nothing changed or the change cannot be applied from here (logged)."""
    where = paths(old.settings.data_dir)
    overrides = current_overrides(old, where.programs)
    try:
        before = sections(where.programs.read_text(encoding="utf-8"))
    except (OSError, configparser.Error):
        before = {}
    after = sections(render_programs(new, overrides=overrides))
    if before == after:
        return None
    if paths(new.settings.data_dir) != where or any(before.get(s) != after.get(s) for s in _SELF):
        log.warning(
            "the new config changes the bridge's own program (data_dir or config path); "
            "restart the stack (qbitrr-mqtt run) to apply it"
        )
        return None
    try:
        result = refresh_programs(new, client=client, overrides=overrides)
    except (SupervisorError, StackError, OSError) as exc:
        log.error("could not apply the new programs to supervisord: %s", exc)
        return None
    log.info(
        "supervisord programs updated: added %s, changed %s, removed %s",
        ", ".join(result.added) or "none",
        ", ".join(result.changed) or "none",
        ", ".join(result.removed) or "none",
    )
    return result
