"""qBitrr's restart window on top of supervisord: a pure class, the time is always an input.

Design (why the manager programs say ``autorestart=false`` in ``programs.conf``):

supervisord restarts an exited program at once and has no notion of "N restarts within W
seconds", so with its autorestart neither ``restart_delay`` nor the window could be honoured;
the bridge could only stop a program after the fact, racing supervisord. Instead the limits
are split so that each one has a single owner and each is visible as a distinct state:

* **Start failures belong to supervisord.** A manager that dies before ``startsecs`` is in
  BACKOFF and retried ``startretries`` times, then FATAL. FATAL is reported as "restart
  limit reached" with the reason "gave up after startretries"; nothing restarts it.
* **Exits after a successful start belong to this class** (driven by the ``events``
  listener, which restarts through XML-RPC). An exit is handled by the instance's
  ``autorestart`` value, read with supervisord's meaning:

  - ``false``: never restarted.
  - ``"unexpected"``: an unexpected exit (non-zero code or a signal) is restarted after
    ``restart_delay``; a clean exit (code 0) is not.
  - ``true``: every exit is restarted after ``restart_delay``, a clean one too (as
    supervisord would); only unexpected exits count towards the window.

  When a program exits unexpectedly more than ``max_restarts`` times within
  ``restart_window`` seconds it is given up: it stays EXITED (it is already stopped, since
  supervisord does not restart it) and is reported as "restart limit reached".
* A manual stop (STOPPING/STOPPED, i.e. a request, not an exit) is never restarted and
  cancels a pending restart. A manual start (a start this class did not ask for, other than
  supervisord's BACKOFF retries) clears the limit and forgets the counted exits: the user
  has decided to try again.

Programs without a policy (``bridge``, ``webui``, the listener itself) keep supervisord's
plain autorestart: they must come back even when the listener is down.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """The restart rules of one program."""

    autorestart: bool | str = True
    max_restarts: int = 5
    restart_window: float = 300
    restart_delay: float = 5


def policies(config: Any) -> dict[str, WindowPolicy]:
    """The policy of every enabled manager program (per-instance overrides applied)."""
    settings = config.settings
    out: dict[str, WindowPolicy] = {}
    for instance in config.arr.values():
        if not instance.enabled:
            continue
        limits = instance.supervisor
        out[instance.program] = WindowPolicy(
            autorestart=limits.autorestart,
            max_restarts=limits.max_restarts
            if limits.max_restarts is not None
            else settings.max_restarts,
            restart_window=limits.restart_window
            if limits.restart_window is not None
            else settings.restart_window,
            restart_delay=settings.restart_delay,
        )
    return out


class Verdict(StrEnum):
    RESTART = "restart"
    GIVE_UP = "give_up"
    LEAVE = "leave"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one exit: restart at ``at``, give up, or leave it alone."""

    verdict: Verdict
    reason: str
    at: float | None = None
    #: Unexpected exits inside the window, this one included.
    count: int = 0


@dataclass(slots=True)
class _Track:
    exits: deque[float] = field(default_factory=deque)
    given_up: bool = False
    reason: str | None = None
    pending_at: float | None = None
    issued: bool = False


class RestartWindow:
    """Restart decisions for the programs that have a :class:`WindowPolicy`."""

    def __init__(self, policies: Mapping[str, WindowPolicy]) -> None:
        self._policies = dict(policies)
        self._tracks: dict[str, _Track] = {}

    def set_policies(self, policies: Mapping[str, WindowPolicy]) -> None:
        """New rules (after a config change); history of programs still present is kept."""
        self._policies = dict(policies)
        for name in list(self._tracks):
            if name not in self._policies:
                del self._tracks[name]

    def manages(self, program: str) -> bool:
        return program in self._policies

    def _track(self, program: str) -> _Track:
        return self._tracks.setdefault(program, _Track())

    # --- events --------------------------------------------------------------------------

    def exited(self, program: str, *, expected: bool, now: float) -> Decision:
        """The program exited on its own (supervisord's EXITED)."""
        policy = self._policies.get(program)
        if policy is None:
            return Decision(Verdict.LEAVE, "supervisord restarts it")
        track = self._track(program)
        track.pending_at, track.issued = None, False
        if track.given_up:
            return Decision(Verdict.LEAVE, track.reason or "restart limit reached")
        if policy.autorestart is False:
            return Decision(Verdict.LEAVE, "autorestart is off")
        if expected:
            if policy.autorestart == "unexpected":
                return Decision(Verdict.LEAVE, "clean exit")
            return self._schedule(track, policy, now, "clean exit, autorestart=true", 0)
        while track.exits and track.exits[0] <= now - policy.restart_window:
            track.exits.popleft()
        track.exits.append(now)
        count = len(track.exits)
        if count > policy.max_restarts:
            track.given_up = True
            track.reason = (
                f"restart limit reached: exited unexpectedly {count} times within "
                f"{policy.restart_window:g} s (max_restarts {policy.max_restarts})"
            )
            return Decision(Verdict.GIVE_UP, track.reason, count=count)
        return self._schedule(track, policy, now, f"unexpected exit {count}", count)

    def _schedule(
        self, track: _Track, policy: WindowPolicy, now: float, why: str, count: int
    ) -> Decision:
        track.pending_at = now + policy.restart_delay
        reason = f"{why}; restart in {policy.restart_delay:g} s"
        if count:
            reason += f" ({count}/{policy.max_restarts} within {policy.restart_window:g} s)"
        return Decision(Verdict.RESTART, reason, at=track.pending_at, count=count)

    def fatal(self, program: str, *, now: float) -> Decision:
        """supervisord gave up starting it (``startretries`` exhausted)."""
        if program not in self._policies:
            return Decision(Verdict.GIVE_UP, "gave up after startretries (FATAL)")
        track = self._track(program)
        track.pending_at, track.issued = None, False
        track.given_up = True
        track.reason = (
            "restart limit reached: did not stay up startsecs within startretries (FATAL)"
        )
        return Decision(Verdict.GIVE_UP, track.reason, count=len(track.exits))

    def stopped(self, program: str, *, now: float) -> None:
        """A manual stop: never restarted; a pending restart is cancelled."""
        if program in self._policies:
            track = self._track(program)
            track.pending_at, track.issued = None, False

    def started(self, program: str, *, from_state: str | None, now: float) -> bool:
        """A STARTING event. True when it was a manual start that cleared a given-up limit.

        Starts this class asked for (see :meth:`due`) and supervisord's BACKOFF retries
        change nothing; any other start is the user's and clears the limit and the count.
        """
        if program not in self._policies or from_state == "BACKOFF":
            return False
        track = self._track(program)
        if track.issued:
            track.issued = False
            return False
        was_given_up = track.given_up
        self._tracks[program] = _Track()
        return was_given_up

    # --- scheduling ----------------------------------------------------------------------

    def due(self, now: float) -> list[str]:
        """Programs whose restart is due now; they are marked as started by us."""
        ready = []
        for name, track in self._tracks.items():
            if track.pending_at is not None and track.pending_at <= now:
                track.pending_at, track.issued = None, True
                ready.append(name)
        return sorted(ready)

    def next_due(self) -> float | None:
        times = [t.pending_at for t in self._tracks.values() if t.pending_at is not None]
        return min(times) if times else None

    def cancel_issue(self, program: str) -> None:
        """Our start request failed or was not needed: the next start is not ours."""
        if program in self._tracks:
            self._tracks[program].issued = False

    # --- queries -------------------------------------------------------------------------

    def limit_reached(self, program: str) -> bool:
        track = self._tracks.get(program)
        return bool(track and track.given_up)

    def reason(self, program: str) -> str | None:
        track = self._tracks.get(program)
        return track.reason if track else None

    def restarts_in_window(self, program: str, now: float) -> int:
        policy, track = self._policies.get(program), self._tracks.get(program)
        if policy is None or track is None:
            return 0
        return sum(1 for t in track.exits if t > now - policy.restart_window)

    def pending(self, program: str) -> float | None:
        track = self._tracks.get(program)
        return track.pending_at if track else None
