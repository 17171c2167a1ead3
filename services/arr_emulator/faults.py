"""Fault injection and the call log of the emulator's Arr API.

A ``Fault`` makes the next ``count`` requests matching a path pattern (and method) answer an
error status, after an optional delay; ``CallLog`` keeps every API request for assertions
and request counting.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

MAX_CALLS = 200_000


@dataclass(slots=True)
class Fault:
    """The next ``count`` requests matching ``path`` (and ``method``) fail or are delayed."""

    id: int
    path: str = "*"
    method: str | None = None
    status: int | None = 500
    delay: float = 0.0
    count: int = 1  # -1: until cleared

    def matches(self, method: str, endpoint: str, full_path: str) -> bool:
        if self.count == 0 or (self.method and self.method.upper() != method):
            return False
        return fnmatch.fnmatchcase(endpoint, self.path) or fnmatch.fnmatchcase(full_path, self.path)


class Faults:
    """The faults in force, first match wins."""

    def __init__(self) -> None:
        self.items: list[Fault] = []
        self._next_id = 1

    def add(
        self,
        path: str = "*",
        *,
        status: int | None = 500,
        count: int = 1,
        delay: float = 0.0,
        method: str | None = None,
    ) -> Fault:
        """See ``ArrEmulator.add_fault``."""
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status")
        if delay < 0 or count < -1:
            raise ValueError("delay must be >= 0 and count >= -1")
        fault = Fault(self._next_id, path, method.upper() if method else None, status, delay, count)
        self._next_id += 1
        self.items.append(fault)
        return fault

    def take(self, method: str, endpoint: str, full_path: str) -> Fault | None:
        """The first fault matching this request, with one use counted."""
        for fault in self.items:
            if fault.matches(method, endpoint, full_path):
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None

    def clear(self) -> None:
        self.items.clear()


class CallLog:
    """Every API request the emulator served (oldest dropped past ``MAX_CALLS``)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def record(self, call: dict[str, Any]) -> None:
        if len(self.items) >= MAX_CALLS:
            del self.items[: MAX_CALLS // 10]
        self.items.append(call)

    def find(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Calls matching an fnmatch ``path`` (below the API root, or full) and ``method``."""
        return [
            c
            for c in self.items
            if (method is None or c["method"] == method.upper())
            and (
                path is None
                or fnmatch.fnmatchcase(c["endpoint"], path)
                or fnmatch.fnmatchcase(c["path"], path)
            )
        ]

    def clear(self) -> None:
        self.items.clear()

    def __len__(self) -> int:
        return len(self.items)
