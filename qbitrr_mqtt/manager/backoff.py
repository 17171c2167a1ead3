"""Exponential backoff for an unreachable service, logging state changes once.

A manager whose qBittorrent or Arr is down must not hammer it, nor write the same error line
every cycle: the first failure is logged as a warning, the recovery as info, and the
attempts in between only at debug level.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("qbitrr.manager")


@dataclass(slots=True)
class Backoff:
    """Delay after consecutive failures: ``initial`` doubling up to ``maximum`` seconds."""

    name: str
    initial: float = 5.0
    maximum: float = 300.0
    failures: int = 0
    last_error: str | None = None
    _logger: logging.Logger = field(default=log, repr=False)

    @property
    def healthy(self) -> bool:
        return self.failures == 0

    @property
    def delay(self) -> float:
        """Seconds to wait before the next attempt (0 while healthy)."""
        if self.failures == 0:
            return 0.0
        return min(self.initial * 2 ** (self.failures - 1), self.maximum)

    def failed(self, error: object) -> float:
        """Record a failure; return the delay before the next attempt."""
        self.failures += 1
        text = str(error)
        if self.failures == 1:
            self._logger.warning(
                "%s unreachable: %s (retrying with backoff from %.0f s)",
                self.name,
                text,
                self.initial,
            )
        elif text != self.last_error:
            self._logger.warning("%s still unreachable: %s", self.name, text)
        else:
            self._logger.debug(
                "%s still unreachable (attempt %d, next in %.0f s)",
                self.name,
                self.failures,
                self.delay,
            )
        self.last_error = text
        return self.delay

    def succeeded(self) -> None:
        if self.failures:
            self._logger.info(
                "%s reachable again after %d failed attempt(s)", self.name, self.failures
            )
        self.failures = 0
        self.last_error = None
