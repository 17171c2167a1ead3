"""The manager's side of the command inbox (commands from MQTT, HTTP and the CLI).

The bridge, the WebUI and the CLI write commands into the store; the manager claims them
one at a time (atomically, so two processes never run the same one), carries them out and
writes the outcome back, where the sender is waiting for it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..policy import Action, Decision, Rule

if TYPE_CHECKING:
    from .loop import Manager

log = logging.getLogger("qbitrr.manager")


class CommandError(Exception):
    """A command that cannot be carried out; the message goes back to the sender."""


#: Commands that touch no torrent, answered while a cycle runs as well (see QuickCommands).
QUICK_COMMANDS = ("run_now", "search", "log_level")


class CommandHandler:
    """Runs the commands of one manager. ``kinds`` limits which it claims; ``arr`` and
    ``executor`` replace the manager's own (a handler in another thread has its own)."""

    def __init__(
        self,
        manager: Manager,
        kinds: tuple[str, ...] | None = None,
        arr: Any | None = None,
        executor: Any | None = None,
    ) -> None:
        self.m = manager
        self.kinds = kinds
        self._arr = arr
        self._executor = executor

    @property
    def arr(self) -> Any:
        return self._arr if self._arr is not None else self.m.arr

    @property
    def executor(self) -> Any:
        return self._executor if self._executor is not None else self.m.executor

    def drain(self, limit: int = 20) -> int:
        """Run pending commands (at most ``limit`` per call); returns how many ran."""
        if not self.m.store.has_pending_command(self.m.name, self.kinds):
            return 0  # the common case: a read, no write lock
        done = 0
        while done < limit and not self.m.stopping:
            cmd = self.m.store.claim_next_command(self.m.name, self.kinds)
            if cmd is None:
                break
            done += 1
            self.run(cmd)
        return done

    def run(self, cmd: Any) -> None:
        handler = getattr(self, f"do_{cmd.command}", None)
        try:
            if handler is None:
                raise CommandError(f"the manager does not handle {cmd.command!r}")
            result = handler(cmd.payload_data)
        except CommandError as exc:
            self.m.store.finish_command(cmd.id, error=str(exc))
            log.info("command %s refused: %s", cmd.command, exc)
            return
        except Exception as exc:  # never let one command kill the loop
            log.exception("command %s failed", cmd.command)
            self.m.store.finish_command(cmd.id, error=f"{type(exc).__name__}: {exc}")
            return
        self.m.store.finish_command(cmd.id, result=result)
        log.info("command %s from %s done", cmd.command, cmd.source)

    # --- the commands ----------------------------------------------------------------------

    def do_run_now(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.m.run_now = True
        return {"scheduled": True}

    def do_dry_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        value = payload.get("value")
        if not isinstance(value, bool):
            raise CommandError("'value' must be true or false")
        self.m.dry_run = value
        self.m.store.upsert_instance_state(self.m.name, dry_run=value)
        self.m._publish_state()
        log.info("dry run %s", "on" if value else "off")
        return {"dry_run": value}

    def do_search(self, payload: dict[str, Any]) -> dict[str, Any]:
        m = self.m
        if payload.get("missing"):
            command = self.arr.search_missing()
            m.store.record_search(
                instance=m.name, media_id=None, kind="missing", arr_command_id=command.get("id")
            )
            return {"arr_command_id": command.get("id"), "missing": True}
        ids = payload.get("media_ids")
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise CommandError("give 'media_ids' (a list of integers) or 'missing': true")
        decision = Decision(
            Action.SEARCH,
            Rule.SEARCH_MISSING,
            f"search asked for media {ids}",
            media_ids=tuple(ids),
            dry_run=m.dry_run,
        )
        outcome = self.executor.run(decision)
        if outcome.status != "done":
            raise CommandError(outcome.error or "search failed")
        return {"media_ids": ids, "action_id": outcome.action_id, "dry_run": m.dry_run}

    def _known(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        h = str(payload.get("hash", "")).lower()
        torrents = (
            self.m.qbit.torrents_in(self.m.instance.category)
            if not self.m._torrents
            else self.m._torrents
        )
        if h not in torrents:
            raise CommandError(f"no torrent {h} in category {self.m.instance.category!r}")
        if h in self.m._removed:
            raise CommandError(f"torrent {h} was just removed")
        return h, torrents[h]

    def do_recheck(self, payload: dict[str, Any]) -> dict[str, Any]:
        h, t = self._known(payload)
        d = Decision(
            Action.RECHECK,
            Rule.ERROR,
            "recheck asked by the user",
            hash=h,
            name=t.get("name"),
            dry_run=self.m.dry_run,
        )
        return self._outcome(d)

    def do_remove(self, payload: dict[str, Any]) -> dict[str, Any]:
        h, t = self._known(payload)
        blocklist = bool(payload.get("blocklist", False))
        queue = self.m._queue.get(h, ())
        d = Decision(
            Action.REMOVE,
            Rule.STALLED,
            "removal asked by the user" + (" (blocklist)" if blocklist else ""),
            hash=h,
            name=t.get("name"),
            blocklist=blocklist,
            re_search=blocklist and self.m.instance.policy.re_search,
            delete_from_client=True,
            queue_ids=tuple(q.id for q in queue),
            media_ids=tuple(mid for q in queue for mid in q.media_ids),
            dry_run=self.m.dry_run,
        )
        return self._outcome(d)

    def do_protect(self, payload: dict[str, Any]) -> dict[str, Any]:
        h, t = self._known(payload)
        value = payload.get("value", True)
        tag = self.m.instance.policy.protect_tag
        action = Action.ADD_TAG if value else Action.REMOVE_TAG
        d = Decision(
            action,
            Rule.STALLED,
            ("protected" if value else "unprotected") + " by the user",
            hash=h,
            name=t.get("name"),
            tag=tag,
        )
        result = self._outcome(d)
        return {**result, "protected": bool(value)}

    def do_log_level(self, payload: dict[str, Any]) -> dict[str, Any]:
        from ..logs import set_level

        try:
            set_level(str(payload.get("value", "")))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return {"log_level": str(payload.get("value")).upper()}

    def _outcome(self, d: Decision) -> dict[str, Any]:
        outcome = self.m.executor.run(d)
        if outcome.status != "done":
            raise CommandError(outcome.error or f"{d.audit_name} failed")
        if d.is_removal and d.hash and not d.dry_run:
            self.m._removed.add(d.hash)  # gone: later commands and cycles leave it alone
        return {"action_id": outcome.action_id, "action": d.audit_name, "dry_run": d.dry_run}


class QuickCommands:
    """Answers ``QUICK_COMMANDS`` while a cycle runs, from a thread of its own.

    Between cycles the manager handles every command itself. A cycle, though, can spend
    seconds waiting for qBittorrent (4.5 answers ``sync/maindata`` in 1.5-2 s when it holds
    10,000 torrents), and "run now" or "search" should not wait for it. They touch no
    torrent, so this thread claims only those (the store's claim is atomic: each command
    runs once), with an Arr client and executor of its own (HTTP sessions are not shared
    between threads). Commands that act on torrents stay between cycles.
    """

    def __init__(self, manager: Manager, poll: float = 0.5) -> None:
        self.m = manager
        self.poll = poll
        self._in_cycle = threading.Event()
        self._handler: CommandHandler | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="quick-commands", daemon=True)
            self._thread.start()

    def cycle_started(self) -> None:
        self._in_cycle.set()

    def cycle_ended(self) -> None:
        self._in_cycle.clear()

    def _run(self) -> None:
        while not self.m.stopping:
            if not self._in_cycle.wait(1.0):
                continue
            try:
                self.handler().drain()
            except Exception:  # noqa: BLE001 - the main loop handles them next time
                log.exception("answering commands during the cycle failed")
            time.sleep(self.poll)

    def reset(self) -> None:
        """Build the Arr client and executor again at the next use (the config changed)."""
        self._handler = None

    def handler(self) -> CommandHandler:
        if self._handler is None:
            from ..clients.arr import ArrClient
            from .execute import Executor

            arr = ArrClient(self.m.instance)
            executor = Executor(
                self.m.name, self.m.store, self.m.qbit, arr,
                on_event=self.m._on_action, clock=self.m.clock,
            )  # fmt: skip
            self._handler = CommandHandler(self.m, QUICK_COMMANDS, arr=arr, executor=executor)
        return self._handler
