"""Carrying out decisions: journal the intent, act, mark done or failed, tell the world.

Every action that touches qBittorrent or the Arr is written to the store as an *intent*
before it runs and marked ``done`` / ``failed`` after. A manager killed in between finds the
intent when it starts again and *reconciles* it (``reconcile``) before doing anything else:
an action whose effect is visible (the torrent is gone, the Arr lists the command) is marked
done without running again; one whose effect is absent runs once. So a crash neither repeats
nor loses an action.

Removal follows the Arr first: ``DELETE /queue/{id}`` with ``blocklist`` (the Arr removes
the torrent from the client and searches again). The documented fallback, used only when the
Arr has no queue record for the torrent (or the record vanished: 404), deletes the torrent in
qBittorrent directly and sends an explicit search for the media ids we know. When the Arr is
unreachable nothing is deleted: the action fails with the reason and the next cycle decides
again.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..clients.arr import ArrClient, ArrError, ArrUnavailable
from ..policy import Action as Do
from ..policy import Decision

log = logging.getLogger("qbitrr.manager")

#: Test hook: ``QBITRR_FAULT=after_intent`` or ``after_effect`` SIGKILLs this process at that
#: point of the first executed action, so tests can prove crash safety on a real process.
FAULT_ENV = "QBITRR_FAULT"


@dataclass(slots=True)
class Outcome:
    """What happened to one decision."""

    status: str  # done | failed | skipped
    error: str | None = None
    action_id: int | None = None


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault injection: SIGKILL at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


class Executor:
    """Executes one instance's decisions against its clients, journalled in the store."""

    def __init__(
        self,
        instance: str,
        store: Any,
        qbit: Any,
        arr: ArrClient,
        on_event: Callable[[Any, Decision | None], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instance = instance
        self.store = store
        self.qbit = qbit
        self.arr = arr
        self.on_event = on_event or (lambda action, decision: None)
        self.clock = clock
        self._seq = 0

    # --- the journal -------------------------------------------------------------------

    def _key(self, decision: Decision) -> str:
        self._seq += 1
        return f"{self.instance}:{decision.hash or '-'}:{decision.audit_name}:{self.clock():.6f}:{self._seq}"

    def run(self, decision: Decision, media_id: int | None = None) -> Outcome:
        """Journal and execute one decision that ``executes`` (or record it as would-be)."""
        media = (
            media_id
            if media_id is not None
            else (decision.media_ids[0] if decision.media_ids else None)
        )
        row = self.store.record_intent(
            instance=self.instance,
            hash=decision.hash,
            name=decision.name,
            action=decision.audit_name,
            reason=decision.reason,
            media_id=media,
            dry_run=decision.dry_run,
            key=self._key(decision),
        )
        if decision.dry_run:
            row = self.store.mark_done(row.id)
            self.on_event(row, decision)
            return Outcome("done", action_id=row.id)
        _fault("after_intent")
        try:
            self._effect(decision)
        except (ArrUnavailable, ArrError) as exc:
            return self._failed(row, decision, str(exc))
        except (
            Exception
        ) as exc:  # qBittorrent errors and anything unexpected: one torrent, not the loop
            if type(exc).__name__ == "QbitUnavailable":
                return self._failed(row, decision, str(exc))
            log.exception("%s on %s failed", decision.audit_name, decision.name or decision.hash)
            return self._failed(row, decision, f"{type(exc).__name__}: {exc}")
        _fault("after_effect")
        row = self.store.mark_done(row.id)
        self.on_event(row, decision)
        return Outcome("done", action_id=row.id)

    def _failed(self, row: Any, decision: Decision, error: str) -> Outcome:
        log.warning(
            "%s of %s failed: %s", decision.audit_name, decision.name or decision.hash, error
        )
        row = self.store.mark_failed(row.id, error)
        self.on_event(row, decision)
        return Outcome("failed", error, row.id)

    # --- the effects -------------------------------------------------------------------

    def _effect(self, d: Decision) -> None:
        h = d.hash
        match d.action:
            case Do.REMOVE:
                self._remove(d)
            case Do.RECHECK:
                self.qbit.recheck([h])
            case Do.IMPORT:
                self.arr.import_scan(d.path or "", h or "")
            case Do.PAUSE:
                self.qbit.pause([h])
            case Do.RESUME:
                self.qbit.resume([h])
            case Do.ADD_TAG:
                self.qbit.add_tags([h], [d.tag])
            case Do.REMOVE_TAG:
                self.qbit.remove_tags([h], [d.tag])
            case Do.SET_FILE_PRIORITY:
                self.qbit.set_file_priority(h, list(d.file_ids), d.priority or 0)
            case Do.SEARCH:
                command = self.arr.search(list(d.media_ids))
                for media_id in d.media_ids or (None,):
                    self.store.record_search(
                        instance=self.instance,
                        media_id=media_id,
                        kind=d.rule.value,
                        arr_command_id=command.get("id"),
                    )
            case _:
                raise ValueError(f"nothing executes {d.action}")

    def _remove(self, d: Decision) -> None:
        if d.queue_ids:
            try:
                first, *rest = d.queue_ids
                self.arr.remove_queue_item(
                    first,
                    remove_from_client=d.delete_from_client,
                    blocklist=d.blocklist,
                    skip_redownload=not d.re_search,
                )
                for queue_id in rest:  # a Sonarr season pack: one record per episode, one download
                    try:
                        self.arr.remove_queue_item(
                            queue_id,
                            remove_from_client=d.delete_from_client,
                            blocklist=d.blocklist,
                            skip_redownload=not d.re_search,
                        )
                    except ArrError as exc:
                        if exc.status != 404:
                            raise
                return
            except ArrError as exc:
                if exc.status != 404:
                    raise
                log.info(
                    "%s: queue record gone from the Arr; using the direct fallback",
                    d.name or d.hash,
                )
        self._fallback_remove(d)

    def _fallback_remove(self, d: Decision) -> None:
        """No Arr queue record: delete in qBittorrent ourselves and ask for a new search."""
        if d.delete_from_client:
            self.qbit.delete([d.hash], delete_files=True)
        if d.re_search and d.media_ids:
            command = self.arr.search(list(d.media_ids))
            for media_id in d.media_ids:
                self.store.record_search(
                    instance=self.instance,
                    media_id=media_id,
                    kind="re_search",
                    arr_command_id=command.get("id"),
                )

    # --- after a crash -----------------------------------------------------------------

    def reconcile(
        self, torrents: dict[str, dict[str, Any]], arr_commands: list[dict[str, Any]]
    ) -> int:
        """Settle intents a killed manager left behind; return how many were settled.

        ``torrents`` is qBittorrent's current view of the category, ``arr_commands`` the
        Arr's recent commands. Removals whose torrent is gone, and imports/searches the Arr
        already lists, are marked done without running again. The others run now, once.
        """
        settled = 0
        for row in self.store.pending_intents(self.instance):
            done = self._effect_visible(row, torrents, arr_commands)
            if done:
                self.store.mark_done(row.id)
                log.info(
                    "recovered %s of %s: already done before the restart",
                    row.action,
                    row.name or row.hash,
                )
            else:
                log.info(
                    "recovered %s of %s: not done before the restart, running it now",
                    row.action,
                    row.name or row.hash,
                )
                decision = _decision_from_row(row, torrents)
                if decision is None:
                    self.store.mark_skipped(row.id, "cannot be replayed after a restart")
                else:
                    try:
                        self._effect(decision)
                        self.store.mark_done(row.id)
                    except Exception as exc:  # noqa: BLE001 - reported in the journal
                        self.store.mark_failed(row.id, f"after restart: {exc}")
            settled += 1
            self.on_event(self.store.get_action(row.id), None)
        return settled

    def _effect_visible(
        self, row: Any, torrents: dict[str, dict[str, Any]], arr_commands: list[dict[str, Any]]
    ) -> bool:
        since = row.created_at.timestamp() - 1
        if row.action in ("remove", "blocklist"):
            return row.hash not in torrents
        if row.action in ("import", "search", "re_search"):
            wanted = {
                "import": self.arr.flavor.import_command,
                "search": self.arr.flavor.search_command,
                "re_search": self.arr.flavor.search_command,
            }[row.action].lower()
            for cmd in arr_commands:
                name = str(cmd.get("name") or cmd.get("commandName") or "").lower().replace(" ", "")
                queued = _parse_time(cmd.get("queued") or cmd.get("started"))
                body = cmd.get("body") or {}
                ours = row.action != "import" or str(body.get("downloadClientId", "")).lower() == (
                    row.hash or ""
                )
                if name == wanted and ours and (queued is None or queued >= since):
                    return True
            return False
        return False  # recheck, pause, tags, priorities: harmless to run again


def _parse_time(text: Any) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC).timestamp()
    except ValueError:
        return None


def _decision_from_row(row: Any, torrents: dict[str, dict[str, Any]]) -> Decision | None:
    """Rebuild what is needed to replay a journalled action (flags are in the reason-less row)."""
    from ..policy import Rule

    t = torrents.get(row.hash or "", {})
    name = row.action
    media = (row.media_id,) if row.media_id is not None else ()
    if name in ("remove", "blocklist"):
        queue_ids = tuple(int(x) for x in t.get("_queue_ids", ()))
        return Decision(
            Do.REMOVE,
            Rule.STALLED,
            row.reason,
            hash=row.hash,
            name=row.name,
            blocklist=name == "blocklist",
            re_search=name == "blocklist",
            delete_from_client=True,
            queue_ids=queue_ids,
            media_ids=media,
        )
    simple = {"recheck": Do.RECHECK, "pause": Do.PAUSE, "resume": Do.RESUME}
    if name in simple:
        return Decision(simple[name], Rule.ERROR, row.reason, hash=row.hash, name=row.name)
    if name == "import":
        return Decision(
            Do.IMPORT,
            Rule.IMPORT,
            row.reason,
            hash=row.hash,
            name=row.name,
            path=t.get("content_path"),
        )
    if name in ("search", "re_search") and media:
        return Decision(Do.SEARCH, Rule.SEARCH_MISSING, row.reason, media_ids=media)
    return None
