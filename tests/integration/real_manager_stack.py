"""A ``bridge_stack.Stack`` in which chosen managers are the real ``qbitrr-mqtt manager``.

Their qBittorrent and Arr URLs point at closed ports and ``dry_run`` is on (the stack's
settings), so they never act on anything; they still take inbox commands, publish their state
and availability, and can be restarted through supervisord like in production.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge_stack import Stack


class RealManagerStack(Stack):
    """Managers named in ``real`` run for real; the others stay stand-ins."""

    def __init__(self, root: Path, broker: Any, real: set[str]) -> None:
        super().__init__(root, broker)
        self.real = real

    def overrides(self) -> dict[str, str]:
        return {
            program: command
            for program, command in super().overrides().items()
            if program.removeprefix("manager-") not in self.real
        }


@contextlib.contextmanager
def make_real_stack(broker: Any, real: set[str]) -> Iterator[RealManagerStack]:
    """Like ``make_stack``: a short root under /tmp (unix socket paths are limited)."""
    root = Path(tempfile.mkdtemp(prefix="qbr-", dir="/tmp"))
    stack = RealManagerStack(root, broker, real)
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
