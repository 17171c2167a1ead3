"""Command resources and their life cycle: queued -> started -> completed | failed.

Commands advance with time (``step`` seconds per stage), checked lazily whenever the
emulator serves a request, so there is no background task and nothing runs between
requests: a command's effects happen when it reaches ``started``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .library import iso, now

#: Command body fields a caller may send (beyond ``name``), with the type each must have.
ID_LIST_FIELDS = ("movieIds", "episodeIds", "albumIds")
INT_FIELDS = ("seriesId", "artistId", "seasonNumber")
STR_FIELDS = ("path", "downloadClientId", "importMode")


@dataclass(slots=True)
class Command:
    """One command sent to the Arr."""

    id: int
    name: str
    body: dict[str, Any]
    trigger: str = "manual"
    status: str = "queued"
    result: str = "unknown"
    message: str | None = None
    exception: str | None = None
    queued: datetime = field(default_factory=now)
    started: datetime | None = None
    ended: datetime | None = None
    created_mono: float = field(default_factory=time.monotonic)

    def stage_due(self, step: float, at: float) -> str | None:
        """The next stage this command has reached by monotonic time ``at``, if any."""
        elapsed = at - self.created_mono
        if self.status == "queued" and elapsed >= step:
            return "started"
        if self.status == "started" and elapsed >= 2 * step:
            return "completed"
        return None

    def start(self) -> None:
        self.status = "started"
        self.started = now()

    def finish(self, message: str = "Completed") -> None:
        self.status = "completed"
        self.result = "successful"
        self.message = message
        self.ended = now()

    def fail(self, error: str) -> None:
        self.status = "failed"
        self.result = "unsuccessful"
        self.message = f"Failed: {error}"
        self.exception = error
        self.started = self.started or now()
        self.ended = now()


def command_name_words(name: str) -> str:
    """``MoviesSearch`` -> ``Movies Search`` (the real ``commandName``)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


def render_command(command: Command, kind: str) -> dict[str, Any]:
    """The CommandResource of ``command`` (null fields left out; Sonarr's base Command has
    no ``isTypeExclusive``)."""
    body: dict[str, Any] = {
        **command.body,
        "name": command.name,
        "sendUpdatesToClient": True,
        "updateScheduledTask": True,
        "completionMessage": "Completed",
        "requiresDiskAccess": False,
        "isExclusive": False,
        "isTypeExclusive": False,
        "isLongRunning": False,
        "trigger": command.trigger,
        "suppressMessages": False,
    }
    if kind == "sonarr":
        del body["isTypeExclusive"]
    data: dict[str, Any] = {
        "id": command.id,
        "name": command.name,
        "commandName": command_name_words(command.name),
        "body": body,
        "priority": "normal",
        "status": command.status,
        "result": command.result,
        "queued": iso(command.queued),
        "trigger": command.trigger,
        "stateChangeTime": iso(command.ended or command.started or command.queued),
        "sendUpdatesToClient": True,
        "updateScheduledTask": True,
    }
    if command.message is not None:
        data["message"] = command.message
    if command.started is not None:
        data["started"] = iso(command.started)
    if command.ended is not None:
        data["ended"] = iso(command.ended)
        start = command.started or command.queued
        seconds = max(0.0, (command.ended - start).total_seconds())
        data["duration"] = f"00:00:{seconds:010.7f}"
    if command.exception is not None:
        data["exception"] = command.exception
    return data


def validate_command_body(body: Any, known: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(canonical name, extra fields) of a POST /command body; ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object with a 'name'")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("'name' is required and must be a string")
    canonical = known.get(name.lower())
    if canonical is None:
        raise ValueError(f"Unknown command name: {name}")
    extra = {k: v for k, v in body.items() if k != "name"}
    for key in ID_LIST_FIELDS:
        if key in extra and not (
            isinstance(extra[key], list)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in extra[key])
        ):
            raise ValueError(f"'{key}' must be a list of integers")
    for key in INT_FIELDS:
        if key in extra and (not isinstance(extra[key], int) or isinstance(extra[key], bool)):
            raise ValueError(f"'{key}' must be an integer")
    for key in STR_FIELDS:
        if key in extra and extra[key] is not None and not isinstance(extra[key], str):
            raise ValueError(f"'{key}' must be a string")
    return canonical, extra
