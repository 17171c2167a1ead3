"""The per-instance manager loop: observe → decide → act → record → publish.

One ``Manager`` per Arr instance. Each cycle it reads qBittorrent incrementally
(``sync/maindata`` with ``rid``) and every page of the Arr queue, builds one snapshot per
torrent of its category, asks the pure policy for decisions, and carries them out through
the journal (``execute.py``). Between cycles it polls the store inbox twice a second, so a
command (run now, search, dry run, recheck, remove, protect) starts within a second.

Failure handling: qBittorrent unreachable → the cycle does nothing (fail closed) and the
next attempt backs off 5 s doubling to 300 s; the Arr unreachable → client-only actions
continue, nothing is removed. One torrent whose data is odd is skipped and logged; it never
blocks the others. SIGTERM finishes the current action, commits and exits 0; SIGHUP reloads
the config.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Set
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..clients.arr import ArrClient, ArrError, ArrUnavailable
from ..config.models import ArrInstance, Config
from ..policy import (
    Action,
    ArrView,
    ClientView,
    Context,
    Decision,
    History,
    Memo,
    TorrentSnapshot,
    WantedItem,
    decide_cycle,
    plan_searches,
    probe_request,
)
from ..policy.imports import SEEDING_STATES
from ..store.common import StorageFull
from . import views
from .backoff import Backoff
from .commands import CommandHandler, QuickCommands
from .execute import Executor
from .reader import BackgroundRead

log = logging.getLogger("qbitrr.manager")

#: Seconds between two looks at the inbox while waiting for the next cycle.
INBOX_POLL = 0.5
#: Speed samples kept per torrent for the slow rule (oldest dropped).
MAX_SAMPLES = 64
#: Seconds between two saves of this process's metrics snapshot to the store.
METRICS_SAVE_INTERVAL = 30.0
#: A cycle where at least this many torrents changed (the first) or got a new snapshot (the
#: one after: every row written is read again) returns freed heap to the system afterwards
#: (``memory.trim``, a few ms).
TRIM_AFTER = 500
#: The shortest pause between the end of a cycle and the start of the next, in seconds
#: (at most a quarter of the interval): a cycle that took longer than the interval is not
#: followed by the next one back to back.
MIN_PAUSE = 1.0
#: Seconds between two heartbeat writes of an unchanged instance state (see the watchdog).
HEARTBEAT_EVERY = 60.0
#: Torrent rows written (and read again) per store call. The first cycle writes every
#: torrent; in one call the store's per-row objects of all of them exist at once, and the
#: heap keeps that size after they are freed (measured with the ORM store at 10,000
#: torrents: +77 MB of RSS in one call, +18 MB in chunks of 500).
WRITE_CHUNK = 500
#: The History of a torrent without a store row yet (frozen: one object serves them all).
EMPTY_HISTORY = History()
#: Recorded fields that follow ``downloaded`` (written only when it grew): not compared.
ACTIVITY_FIELDS = ("last_activity", "last_progress_bytes")


class Manager:
    """Runs one Arr instance's torrent health loop."""

    def __init__(
        self,
        config: Config,
        name: str,
        store: Any,
        qbit: Any,
        arr: ArrClient,
        publisher: Any | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        metrics: Any | None = None,
        mqtt_stats: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self.store = store
        self.qbit = qbit
        self.arr = arr
        self.publisher = publisher
        self.clock = clock
        self.sleep = sleep
        self.stopping = False
        self.reload_requested = False
        self.run_now = False
        self.qbit_backoff = Backoff("qBittorrent")
        self.arr_backoff = Backoff(f"Arr {name}")
        self.storage_backoff = Backoff("the database", maximum=60.0)
        self.dry_run = initial_dry_run(config, store, name)
        self.executor = Executor(name, store, qbit, arr, on_event=self._on_action, clock=clock)
        self.commands = CommandHandler(self)
        self.quick = QuickCommands(self)  # run_now / search while a cycle runs
        self.cycles = 0
        self.reconciled = False
        self.last_cycle_at: float | None = None
        self.last_duration: float | None = None
        self.last_search_pass: float | None = None
        self.next_cycle_at = 0.0
        self.paced = False  # the last cycle ran to its end on healthy clients
        self._samples: dict[str, list[tuple[float, int]]] = {}
        self._files: dict[str, tuple[Any, ...]] = {}
        self._private: dict[str, bool] = {}
        self._notes: dict[str, str] = {}
        self._written: dict[str, int] = {}  # see _stable
        self._queue: dict[str, tuple[Any, ...]] = {}
        self._torrents: dict[str, dict[str, Any]] = {}
        self.qbit_ok = False
        self.arr_ok = False
        self.metrics = metrics
        self.mqtt_stats = mqtt_stats
        self._metrics_saved_at = 0.0
        self._mqtt_counted = (0, 0)
        self.media: Any | None = None  # MediaValidator, made when validate_media is on
        self._removed: set[str] = set()  # removed, until qBittorrent stops listing them
        self._state_written: dict[str, Any] | None = None
        self._state_written_at = 0.0
        # Between cycles the manager keeps what it built, so a cycle costs what changed:
        # the store rows (re-read only where this process wrote), one snapshot per finished
        # torrent while its inputs are the same objects, what was last recorded and
        # published per torrent, and the policy's memo of torrents with nothing to decide.
        self.memo = Memo()
        self._rows: dict[str, views.KeptRow] | None = None
        self._snaps: dict[str, tuple[Any, ...]] = {}
        self._verdict_snaps: dict[str, tuple[Any, ...]] = {}
        self._probing: set[str] = set()  # submitted to ffprobe, no verdict yet
        self._published: dict[str, tuple[Any, ...]] = {}
        self._snapmap: dict[str, TorrentSnapshot] = {}  # every torrent's current snapshot
        self._stale: set[str] = set()  # snapshot inputs changed outside sync/maindata
        self._no_files: set[str] = set()  # file list not known yet: ask again
        self._unfinished: set[str] = set()  # not in a seeding state
        self._noted: set[str] = set()  # note set this cycle (to publish)
        self._rebuild_all = True
        self._counts: dict[str, int] | None = None
        store.track_torrent_writes(name)

    @property
    def instance(self) -> ArrInstance:
        return self.config.arr[self.name]

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Cycle until asked to stop; returns the exit code (0 on a clean stop)."""
        log.info(
            "manager %s started (%s at %s, category %r, every %d s%s)",
            self.name,
            self.instance.type,
            self.instance.url,
            self.instance.category,
            self.config.settings.check_interval,
            ", dry run" if self.dry_run else "",
        )
        self.quick.start()
        while not self.stopping:
            try:
                now = self.clock()
                if self.run_now or now >= self.next_cycle_at:
                    self.run_now = False
                    self.quick.cycle_started()
                    self.paced = False
                    try:
                        delay = self.cycle()
                    finally:
                        self.quick.cycle_ended()
                    self.storage_backoff.succeeded()
                    self.next_cycle_at = self._next_cycle(now, delay)
                self._wait_until(self.next_cycle_at)
            except StorageFull as exc:  # disk full: say so, keep running, try again later
                self._storage_full(exc)
        if self.media is not None:
            self.media.close()
        log.info("manager %s stopped", self.name)
        return 0

    def _next_cycle(self, started: float, delay: float) -> float:
        """When the next cycle starts. A cycle that ran to its end on healthy clients
        (``paced``) counts the interval from its start, so the period is the configured one
        however long qBittorrent took to answer: a torrent that stalls is looked at within
        one interval, not one interval plus a slow cycle. The next start still waits
        ``MIN_PAUSE`` after this end. A retry delay (a client down, the world changed under
        the cycle) counts from the end, as a pause."""
        ended = self.clock()
        if not self.paced:
            return ended + delay
        return max(started + delay, ended + min(MIN_PAUSE, delay / 4))

    def _storage_full(self, exc: StorageFull) -> None:
        """The database cannot be written: report it on MQTT (which needs no disk), wait
        with backoff, and settle unfinished intents first next time, as after a crash (an
        action may have run while its ``done`` could not be written)."""
        self.reconciled = False
        delay = self.storage_backoff.failed(exc)
        if self.publisher is not None:
            with contextlib.suppress(StorageFull):  # the outbox is on the same disk
                self.publisher.state(
                    dry_run=self.dry_run,
                    qbit_connected=self.qbit_ok,
                    arr_connected=self.arr_ok,
                    error=str(exc),
                )
        until = self.clock() + delay
        self.next_cycle_at = until
        while not self.stopping and self.clock() < until:
            self.sleep(min(INBOX_POLL, until - self.clock()))

    def _wait_until(self, deadline: float) -> None:
        """Sleep until ``deadline``, handling inbox commands and signals meanwhile."""
        while not self.stopping and not self.run_now:
            if self.reload_requested:
                self.reload()
            self.commands.drain()
            remaining = deadline - self.clock()
            if remaining <= 0 or self.run_now:
                return
            self.sleep(min(INBOX_POLL, remaining))

    def reload(self) -> None:
        """SIGHUP: read the config file again (a bad file keeps the old config)."""
        from ..config import ConfigError, load_config

        self.reload_requested = False
        try:
            config = load_config(self.config.source)
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return
        if self.name not in config.arr:
            log.error(
                "config reload: instance %s is no longer configured; keeping the running config",
                self.name,
            )
            return
        self.config = config
        for built in (self._snaps, self._verdict_snaps, self._published):
            built.clear()  # the protect tag or other policy keys may have changed
        self._rebuild_all = True
        self.quick.reset()  # its Arr client follows the new config
        log.info("config reloaded from %s", config.source)

    # --- one cycle ---------------------------------------------------------------------

    def cycle(self) -> float:
        """One observe → decide → act → record → publish pass; returns seconds to the next."""
        started = self.clock()
        interval = float(self.config.settings.check_interval)
        queue_read = BackgroundRead(self.arr.queue, f"{self.name}-queue")  # beside the sync
        try:
            maindata = self.qbit.sync(fields=views.TORRENT_FIELDS, category=self.instance.category)
        except Exception as exc:  # QbitUnavailable, or anything the client could not handle
            queue_read.wait()  # unused: without qBittorrent the cycle does nothing
            self.qbit_ok = False
            delay = self.qbit_backoff.failed(exc)
            self._publish_state(error=f"qBittorrent unreachable: {exc}")
            return max(delay, 1.0)
        self.qbit_ok = True
        self.qbit_backoff.succeeded()
        torrents = maindata.torrents  # this instance's category only: sync holds no other
        if (
            maindata.full
            or maindata.changed & torrents.keys()
            or torrents.keys() != self._torrents.keys()
        ):
            self._counts = None
        new = torrents.keys() - self._torrents.keys()
        self._torrents = torrents
        queue_before = self._queue
        queue_records = self._read_queue(queue_read, new)
        self._queue = views.queue_by_hash(queue_records) if queue_records is not None else {}
        if not self.reconciled and self.arr_ok and self._reconcile(torrents):
            return 1.0  # the world changed under this cycle's view: look again first
        rows, reread = self._load_rows()
        self._stale |= reread
        now = self.clock()
        ctx = self._context(maindata.server_state, now)
        snapshots, fresh = self._build_snapshots(maindata, torrents, rows, queue_before, now)
        if self.instance.policy.validate_media:
            snapshots, judged = self._with_media_verdicts(snapshots, fresh, ctx)
            fresh += judged  # a verdict that arrived makes a new snapshot
        self._record_torrents(fresh, rows, now, queue_read=queue_records is not None)
        result = decide_cycle(snapshots, ctx, memo=self.memo)
        if result.blocked and self.cycles % 10 == 0:
            log.warning("no removals this cycle: %s", result.blocked)
        for decision in result.decisions:
            if self.stopping and decision.executes:
                break  # SIGTERM: finish the current action only
            self._apply(decision, now)
        self._clean_imported_folders(snapshots, ctx)
        self._search_missing(ctx)
        self._follow_searches()
        self.cycles += 1
        self.last_cycle_at = self.clock()
        self.last_duration = self.last_cycle_at - started
        self._publish_state()
        rows, reread = self._load_rows()
        self._stale |= reread  # written this cycle: new rows (and snapshots) next cycle too
        noted, self._noted = self._noted, set()
        self._publish_torrents(fresh, rows, noted | reread)
        self._record_metrics()
        if maindata.full or len(maindata.changed) >= TRIM_AFTER or len(fresh) >= TRIM_AFTER:
            from ..memory import trim

            # The parsed answers of a cold or busy cycle, and the rows, snapshots and
            # payloads a cycle after many writes built again, are garbage: give them back.
            # A full answer counts whatever this category holds: it listed every torrent of
            # a qBittorrent the manager may share with thousands of others.
            trim()
        if self.arr_backoff.healthy:
            self.paced = True
            return interval
        return min(interval, max(self.arr_backoff.delay, 1.0))

    def _read_queue(
        self, queue_read: BackgroundRead[list[dict[str, Any]]], new: Set[str]
    ) -> list[dict[str, Any]] | None:
        """The Arr queue ``queue_read`` got while qBittorrent answered; read again when a
        torrent new to this cycle is missing from it (it may have reached qBittorrent after
        the Arr answered, and a removal without its queue record would lose the blocklist)."""
        try:
            records = queue_read.result()
            if new and not new <= {str(r.get("downloadId", "")).lower() for r in records}:
                records = self.arr.queue()
        except (ArrUnavailable, ArrError) as exc:
            self.arr_ok = False
            self.arr_backoff.failed(exc)
            return None
        self.arr_ok = True
        self.arr_backoff.succeeded()
        return records

    def _reconcile(self, torrents: dict[str, dict[str, Any]]) -> int:
        """Settle the intents a killed predecessor left; how many were settled."""
        if not self.store.pending_intents(self.name):
            self.reconciled = True
            return 0
        try:
            commands = self.arr.request("command")
        except (ArrUnavailable, ArrError) as exc:
            log.warning("cannot check the Arr's commands yet (%s); recovery waits", exc)
            return 0
        annotated = {
            h: {**t, "_queue_ids": [q.id for q in self._queue.get(h, ())]}
            for h, t in torrents.items()
        }
        n = self.executor.reconcile(annotated, commands if isinstance(commands, list) else [])
        log.info("recovered %d unfinished action(s) from before the restart", n)
        self.reconciled = True
        return n

    def _load_rows(self) -> tuple[dict[str, Any], set[str]]:
        """The store rows of this instance (as ``views.KeptRow``) and the hashes whose row
        changed: read whole once, then only the rows this process wrote since (the store
        tracks them; the manager is their only writer). A row read again that says what the
        kept one says keeps the kept object: its torrent needs no new snapshot (after a first
        cycle that wrote every row, most say what the next cycle would build again)."""
        touched = self.store.take_touched(self.name)
        changed: set[str] = set()
        if self._rows is None:
            self._rows = {
                h: views.kept_row(r) for h, r in self.store.torrent_rows(self.name).items()
            }
            self._rebuild_all = True
            return self._rows, touched
        # In chunks: after a cold cycle every row was written, and 10,000 whole rows at
        # once leave that much heap behind after they become KeptRows.
        ordered = sorted(touched)
        for start in range(0, len(ordered), WRITE_CHUNK):
            part = ordered[start : start + WRITE_CHUNK]
            fresh = self.store.torrent_rows(self.name, hashes=part)
            for h in part:
                row = fresh.get(h)
                if row is None:
                    if self._rows.pop(h, None) is not None:
                        changed.add(h)
                    continue
                kept = views.kept_row(row)
                if self._rows.get(h) != kept:
                    self._rows[h] = kept
                    changed.add(h)
        return self._rows, changed

    def _build_snapshots(
        self,
        maindata: Any,
        torrents: dict[str, dict[str, Any]],
        rows: dict[str, Any],
        queue_before: dict[str, tuple[Any, ...]],
        now: float,
    ) -> tuple[list[TorrentSnapshot], list[TorrentSnapshot]]:
        """Every torrent's snapshot, and the ones built anew this cycle.

        Only a torrent whose inputs may have changed is looked at: qBittorrent reported it
        (``maindata.changed``), its row was read again or its file list changed
        (``_stale``), its Arr queue records differ, its file list is still unknown, or it is
        not finished (speed samples; a download's snapshot is new every cycle). Every other
        torrent keeps last cycle's snapshot object, which the policy memo recognises.
        """
        snaps = self._snapmap
        for h in snaps.keys() - torrents.keys():
            del snaps[h]  # gone, or moved to another category
        if maindata.full or self._rebuild_all:
            look = set(torrents)
            self._rebuild_all = False
        else:
            look = maindata.changed | self._stale | self._no_files | self._unfinished
            look |= torrents.keys() - snaps.keys()
            look |= {
                h
                for h in queue_before.keys() | self._queue.keys()
                if queue_before.get(h) != self._queue.get(h)
            }
        self._stale = set()
        fresh = []
        for h in look:
            t = torrents.get(h)
            if t is None:
                continue
            try:
                snap = self._snapshot(h, t, rows.get(h), now)
            except Exception:  # one odd torrent never blocks the others
                log.exception("skipping torrent %s this cycle", t.get("name", h))
                snaps.pop(h, None)
                continue
            if snaps.get(h) is not snap:
                snaps[h] = snap
                fresh.append(snap)
            if t.get("state") in SEEDING_STATES:
                self._unfinished.discard(h)
            else:
                self._unfinished.add(h)
            if h in self._files:
                self._no_files.discard(h)
            else:
                self._no_files.add(h)
        return list(snaps.values()), fresh

    def _snapshot(self, h: str, t: dict[str, Any], row: Any, now: float) -> TorrentSnapshot:
        state = t.get("state")
        if state in SEEDING_STATES:
            self._samples.pop(h, None)  # finished: no more speed to judge
            return self._kept_snapshot(h, t, row)
        samples = self._samples.setdefault(h, [])
        downloaded = int(t.get("downloaded", 0) or 0)
        if not samples or samples[-1][1] != downloaded or now - samples[-1][0] > 60:
            samples.append((now, downloaded))
            del samples[:-MAX_SAMPLES]
        if state != "downloading":
            return self._kept_snapshot(h, t, row)
        # Only the slow rule of a downloading torrent reads the speed samples: its snapshot
        # is new on every cycle (and so is its evaluation).
        self._snaps.pop(h, None)
        files = self._files_of(h, t)
        view = views.torrent_view(h, t, private=self._private.get(h, False))
        return TorrentSnapshot(
            torrent=view,
            queue=self._queue.get(h, ()),
            history=views.history_with(row, samples),
            files=files,
        )

    def _kept_snapshot(self, h: str, t: dict[str, Any], row: Any) -> TorrentSnapshot:
        """The snapshot built last cycle while the qBittorrent dict (``merge_maindata``
        replaces the dict of a torrent that changed), the store row (replaced when
        written), the files and the queue records are the same; the policy memo then knows
        it needs no new evaluation before its next time threshold."""
        files = self._files_of(h, t)
        private = self._private.get(h, False)
        queue = self._queue.get(h, ())
        known = self._snaps.get(h)
        if (
            known is not None
            and known[0] is t
            and known[1] is row
            and known[2] is files
            and known[3] == private
            and known[4] == queue
        ):
            snap: TorrentSnapshot = known[5]
            return snap
        if known is not None and known[0] is t and known[3] == private:
            view = known[5].torrent  # only the row, files or queue changed: the same view
        else:
            view = views.torrent_view(h, t, private=private)
        snap = TorrentSnapshot(
            torrent=view,
            queue=queue,
            history=row.history if row is not None else EMPTY_HISTORY,
            files=files,
        )
        self._snaps[h] = (t, row, files, private, queue, snap)
        return snap

    def _files_of(self, h: str, t: dict[str, Any]) -> tuple[Any, ...] | None:
        """The file list, fetched once per torrent when its metadata is known."""
        if h in self._files:
            return self._files[h]
        if t.get("state") in ("metaDL", "forcedMetaDL") or not t.get("size"):
            return None
        try:
            files = views.file_views(self.qbit.files(h))
            props = self.qbit.properties(h)
        except Exception as exc:  # noqa: BLE001 - next cycle tries again
            log.debug("file list of %s not available yet: %s", t.get("name", h), exc)
            return None
        self._private[h] = bool(props.get("is_private") or props.get("private"))
        self._files[h] = files
        return files

    def _context(self, server: dict[str, Any], now: float) -> Context:
        limit = int(server.get("dl_rate_limit", 0) or 0)
        client = ClientView(
            reachable=True,
            connection_status=str(server.get("connection_status", "connected")),
            free_space=server.get("free_space_on_disk"),
            dl_rate=int(server.get("dl_info_speed", 0) or 0),
            dl_rate_limit=limit,
            alt_speed=bool(server.get("use_alt_speed_limits", False)),
        )
        return Context(
            policy=self.instance.policy,
            now=now,
            arr_type=self.instance.type,
            client=client,
            arr=ArrView(reachable=self.arr_ok),
            dry_run=self.dry_run,
        )

    # --- media validation and folder cleanup (issue 10) -----------------------------------

    def _with_media_verdicts(
        self, snapshots: list[TorrentSnapshot], fresh: list[TorrentSnapshot], ctx: Context
    ) -> tuple[list[TorrentSnapshot], list[TorrentSnapshot]]:
        """Hand finished torrents' media files to ffprobe (in the background) and attach the
        verdicts known so far; the policy holds the import until a verdict passes. Returns
        every snapshot, and the ones that got a verdict attached this cycle.

        What a probe needs is in the snapshot (file list, import state) and the policy, so
        only snapshots built anew this cycle (``fresh``) can need one; verdicts are asked for
        only while a probe runs. An unchanged torrent keeps last cycle's object, verdict and
        all (the policy memo recognises it): an idle cycle at 10,000 torrents stays cheap.
        """
        if self.media is None:
            from ..media import MediaValidator

            self.media = MediaValidator(max_workers=2, timeout=self.instance.policy.ffprobe_timeout)
        new = set()
        for snap in fresh:
            h = snap.torrent.hash
            new.add(h)
            request = probe_request(snap, ctx)
            if request is not None:
                self.media.submit(h, request.paths, request.kind, request.expected_seconds)
                self._probing.add(h)
        out, judged = [], []
        for snap in snapshots:
            h = snap.torrent.hash
            known = self._verdict_snaps.get(h)
            if known is not None and known[0] is snap:
                out.append(known[2])  # the same object as last cycle, for the policy memo
                continue
            verdict = self.media.result(h) if h in new or h in self._probing else None
            if verdict is None:
                out.append(snap)
                continue
            self._probing.discard(h)
            known = (snap, verdict, replace(snap, media_verdict=verdict))
            self._verdict_snaps[h] = known
            out.append(known[2])
            judged.append(known[2])
        if self._probing:  # a probe of a torrent that left meanwhile is dropped
            current = {s.torrent.hash for s in snapshots}
            self._probing &= current
            self.media.retain(current)
        return out, judged

    def problems(self) -> tuple[str, ...]:
        """Lasting conditions to show in health (API, MQTT state, the HA problem sensor)."""
        found = []
        if self.media is not None and self.media.problem:
            found.append(self.media.problem)
        return tuple(found)

    def _clean_imported_folders(self, snapshots: list[TorrentSnapshot], ctx: Context) -> None:
        """auto_delete: once per imported torrent, delete the extras qBittorrent no longer
        seeds (never media, never outside the torrent's folder); journaled as ``cleanup``."""
        if not self.instance.policy.auto_delete:
            return
        from ..media import cleanup_due, execute_cleanup
        from ..media.cleanup import plan_for_torrent

        for snap in snapshots:
            if not cleanup_due(snap, ctx):
                continue
            t = snap.torrent
            row = self.store.record_intent(
                instance=self.name,
                hash=t.hash,
                name=t.name,
                action="cleanup",
                reason="imported: removing the extras left in its folder (auto_delete)",
                dry_run=self.dry_run,
                key=f"{self.name}:cleanup:{t.hash}",
            )
            if row.status != "intent":
                continue  # cleaned before
            try:
                result = execute_cleanup(plan_for_torrent(snap, ctx), dry_run=self.dry_run)
            except OSError as exc:
                self._on_action(self.store.mark_failed(row.id, str(exc)), None)
                continue
            note = f"{len(result.deleted)} file(s) deleted"
            if result.skipped:
                note += f", {len(result.skipped)} skipped ({result.skipped[0][1]})"
            log.info("cleanup of %s: %s", t.name, note)
            self._on_action(self.store.mark_done(row.id), None)

    # --- acting ------------------------------------------------------------------------

    def _apply(self, d: Decision, now: float) -> None:
        at = datetime.fromtimestamp(now, UTC)
        if d.action is Action.STRIKE:
            t = self._torrents.get(d.hash or "", {})
            self.store.add_strike(
                self.name, d.hash, d.reason, at=at, downloaded=int(t.get("downloaded", 0) or 0)
            )
            self._notes[d.hash or ""] = d.reason
            self._noted.add(d.hash or "")
            if self.metrics is not None:
                self.metrics.strike(d.rule.value if d.rule is not None else "other")
            return
        if d.action is Action.RESET_STRIKES:
            self.store.reset_strikes(self.name, d.hash)
            return
        if d.action is Action.HOLD:
            self._notes[d.hash or ""] = d.reason
            self._noted.add(d.hash or "")
            return
        if d.is_removal and d.hash in self._removed and not d.dry_run:
            return  # removed already; qBittorrent has not caught up yet
        media_id = self._media_id(d)
        outcome = self.executor.run(d, media_id)
        if outcome.status != "done" or d.dry_run or not d.hash:
            return
        if d.is_removal:
            self._removed.add(d.hash)
        if d.action is Action.SET_FILE_PRIORITY and d.hash in self._files:
            # The cached file list must show the new priorities, or the next cycle would
            # decide (and journal) the same change again.
            ids, prio = set(d.file_ids), d.priority or 0
            self._files[d.hash] = tuple(
                replace(f, priority=prio) if f.index in ids else f for f in self._files[d.hash]
            )
            self._stale.add(d.hash)
        extra: dict[str, Any] = {}
        if d.action is Action.IMPORT:
            extra["import_sent_at"] = at
        elif d.action is Action.RECHECK:
            row = self.store.get_torrent(self.name, d.hash)
            extra["last_recheck_at"] = at
            extra["rechecks"] = (row.rechecks if row is not None else 0) + 1
            if self.media is not None:
                self.media.forget(d.hash)  # the data may change: probe again
        elif d.action is Action.REMOVE and not d.delete_from_client:
            extra["kept_for_hnr"] = True
        if extra:
            self._update_torrent(d.hash, extra)

    def _media_id(self, d: Decision) -> int | None:
        if d.media_ids:
            return d.media_ids[0]
        row = self.store.get_torrent(self.name, d.hash) if d.hash else None
        return row.media_id if row is not None else None

    def _update_torrent(self, h: str, fields: dict[str, Any]) -> None:
        known = set(self.store_fields())
        data = {k: v for k, v in fields.items() if k in known}
        if data:
            self.store.upsert_torrents(self.name, [{"hash": h, **data}])
            self._written.pop(h, None)

    @staticmethod
    def store_fields() -> list[str]:
        from ..store.lean.tables import TORRENT

        return list(TORRENT.names)

    def _on_action(self, action: Any, decision: Decision | None) -> None:
        if self.publisher is not None and action is not None:
            self.publisher.action(action)

    # --- recording -----------------------------------------------------------------------

    def _record_torrents(
        self,
        snapshots: list[TorrentSnapshot],
        rows: dict[str, Any],
        now: float,
        queue_read: bool = False,
    ) -> None:
        """Write what changed since the last cycle (an idle cycle writes nothing).

        ``snapshots`` are the ones new this cycle; what a row would say is compared with
        what was last written (``_written``), so one seen again writes nothing."""
        at = datetime.fromtimestamp(now, UTC)
        changed = []
        for snap in snapshots:
            t = snap.torrent
            row = rows.get(t.hash)
            media_id = snap.media_ids[0] if snap.media_ids else None
            data = {
                "hash": t.hash,
                "name": t.name,
                "category": t.category,
                "state": t.state,
                "health": views.health_of(t.state),
                "progress": round(t.progress, 4),
                "size": t.size,
                "downloaded": t.downloaded,
                "added_on": views.from_epoch(t.added_on),
                "protected": self.instance.policy.protect_tag in t.tags,
                "private": t.private,
                "tracker": t.tracker or None,
            }
            if queue_read:  # an unread queue says nothing about the record
                data["arr_queue_id"] = snap.queue_ids[0] if snap.queue_ids else None
            if media_id is not None:
                data["media_id"] = media_id
            if row is not None and row.history.imported:
                data["imported"] = True
            elif queue_read and _left_the_queue(snap, row):
                data["imported"] = True  # the Arr took it: its queue record is gone
            prev_downloaded = row.downloaded if row is not None else None
            if prev_downloaded is None or t.downloaded > prev_downloaded:
                data["last_activity"] = at
                data["last_progress_bytes"] = t.downloaded
            stable = _stable(data)
            if (
                self._written.get(t.hash) == stable
                and row is not None
                and not row.gone
                and "last_activity" not in data  # the row is behind: write it
            ):
                continue
            self._written[t.hash] = stable
            changed.append(data)
            if len(changed) >= WRITE_CHUNK:  # written as they come: no 10,000 dicts at once
                self.store.upsert_torrents(self.name, changed, at=at)
                changed = []
        if changed:
            self.store.upsert_torrents(self.name, changed, at=at)
        gone = [h for h in rows.keys() - self._torrents.keys() if not rows[h].gone]
        if gone:
            self.store.mark_gone(self.name, gone, at=at)
            for h in gone:
                for memo in (
                    self._samples,
                    self._files,
                    self._private,
                    self._notes,
                    self._written,
                    self._snaps,
                    self._verdict_snaps,
                    self._published,
                ):
                    memo.pop(h, None)
                self.memo.forget(h)
                self._probing.discard(h)
                if self.media is not None:
                    self.media.forget(h)
                self._removed.discard(h)
                self._no_files.discard(h)
                self._unfinished.discard(h)
                if self.publisher is not None:
                    self.publisher.torrent_gone(h)

    # --- searches ------------------------------------------------------------------------

    def _search_missing(self, ctx: Context) -> None:
        p = self.instance.policy
        if not p.search_missing or not self.arr_ok:
            return
        if (
            self.last_search_pass is not None
            and ctx.now - self.last_search_pass < p.search_interval
        ):
            return
        try:
            wanted = [
                WantedItem(
                    int(r.get("id") or r.get("movieId") or 0), False, str(r.get("title", ""))
                )
                for r in self.arr.wanted(limit=max(50, p.search_limit * 10))
            ]
            if p.search_cutoff_unmet:
                wanted += [
                    WantedItem(int(r.get("id") or 0), True, str(r.get("title", "")))
                    for r in self.arr.wanted(cutoff=True, limit=max(50, p.search_limit * 10))
                ]
        except (ArrUnavailable, ArrError) as exc:
            log.warning("search missing: cannot read wanted list: %s", exc)
            return
        last: dict[int, float] = {}
        for item in wanted:
            row = self.store.last_search_for(self.name, item.media_id)
            if row is not None:
                last[item.media_id] = row.created_at.timestamp()
        queued = {m for items in self._queue.values() for q in items for m in q.media_ids}
        decisions = plan_searches(
            wanted,
            ctx,
            active_searches=len(self.store.active_searches(self.name)),
            last_searched=last,
            queued_media_ids=queued,
        )
        self.last_search_pass = ctx.now
        for d in decisions:
            self.executor.run(d if not self.dry_run else replace(d, dry_run=True))

    def _follow_searches(self) -> None:
        """Finish search rows whose Arr command ended (frees a slot for search_limit)."""
        if not self.arr_ok:
            return
        for row in self.store.active_searches(self.name):
            if row.arr_command_id is None:
                self.store.finish_search(row.id, status="unknown")
                continue
            try:
                cmd = self.arr.get_command(row.arr_command_id)
            except ArrError:
                self.store.finish_search(row.id, status="unknown")
                continue
            except ArrUnavailable:
                return
            status = str(cmd.get("status", "")).lower()
            if status in ("completed", "failed", "aborted", "cancelled", "orphaned"):
                self.store.finish_search(row.id, status=status)

    # --- metrics -------------------------------------------------------------------------

    def _record_metrics(self) -> None:
        """Count the cycle; every METRICS_SAVE_INTERVAL save the snapshot ``/metrics`` reads."""
        if self.metrics is None:
            return
        self.metrics.cycle(self.last_duration or 0.0)
        now = self.clock()
        if now - self._metrics_saved_at < METRICS_SAVE_INTERVAL:
            return
        if self.mqtt_stats is not None:
            stats = self.mqtt_stats()
            sent, reconnects = self._mqtt_counted
            if stats.messages_sent > sent:
                self.metrics.mqtt_message("sent", stats.messages_sent - sent)
            for _ in range(max(0, stats.reconnects - reconnects)):
                self.metrics.mqtt_reconnect()
            self._mqtt_counted = (stats.messages_sent, stats.reconnects)
        try:
            self.metrics.save(self.store)
        except Exception:  # noqa: BLE001 - metrics never stop the loop
            log.warning("could not save metrics", exc_info=True)
        self._metrics_saved_at = now

    # --- publishing ----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Torrents per health class (counted again only when a state or the set changed)."""
        if self._counts is None:
            counts = dict.fromkeys(views.HEALTHS, 0)
            for t in self._torrents.values():
                counts[views.health_of(str(t.get("state", "")))] += 1
            self._counts = counts
        return dict(self._counts)

    def _publish_state(self, error: str | None = None) -> None:
        counts = self.counts() if self.qbit_ok else {}
        strikes = (
            sum(1 for h, note in self._notes.items() if note and h in self._torrents)
            if self.qbit_ok
            else 0
        )
        fields = dict(
            qbit_connected=self.qbit_ok,
            arr_connected=self.arr_ok,
            counts=_json(counts),
            queue_size=sum(len(v) for v in self._queue.values()),
            dry_run=self.dry_run,
            last_cycle_at=datetime.fromtimestamp(self.last_cycle_at, UTC)
            if self.last_cycle_at
            else None,
            last_cycle_duration=self.last_duration,
            heartbeat_at=datetime.now(UTC),
            # The API shows one error line per instance: a lasting problem when nothing worse.
            error=error or "; ".join(self.problems()) or None,
        )
        self._write_instance_state(fields)
        if self.publisher is not None:
            self.publisher.state(
                counts=counts,
                queue_size=fields["queue_size"],
                strikes=strikes,
                last_cycle_at=fields["last_cycle_at"],
                last_cycle_duration=self.last_duration,
                dry_run=self.dry_run,
                qbit_connected=self.qbit_ok,
                arr_connected=self.arr_ok,
                error=error,
                problems=self.problems(),
            )

    def _write_instance_state(self, fields: dict[str, Any]) -> None:
        """Write the instance row when something a reader cares about changed, else only as
        a heartbeat every HEARTBEAT_EVERY seconds (a third of hang_timeout when that is
        shorter): an idle cycle costs no SQL write, and the watchdog still sees a live manager."""
        volatile = ("heartbeat_at", "last_cycle_at", "last_cycle_duration")
        essential = {k: v for k, v in fields.items() if k not in volatile}
        now = self.clock()
        every = min(HEARTBEAT_EVERY, self.config.settings.effective_hang_timeout / 3)
        if essential == self._state_written and now - self._state_written_at < every:
            return
        self.store.upsert_instance_state(self.name, **fields)
        self._state_written = essential
        self._state_written_at = now

    def _publish_torrents(
        self, fresh: list[TorrentSnapshot], rows: dict[str, Any], also: set[str]
    ) -> None:
        """One retained topic per torrent (change-only), for the torrents whose snapshot is
        new, whose note was set or whose row was written this cycle (``also``); one whose
        snapshot, row and note are those last published is not even encoded."""
        if self.publisher is None:
            return
        extra = [self._snapmap[h] for h in also if h in self._snapmap and h in self._torrents]
        for snap in (*fresh, *extra):
            t = snap.torrent
            row = rows.get(t.hash)
            note = self._notes.get(t.hash)
            published = self._published.get(t.hash)
            if (
                published is not None
                and published[0] is snap
                and published[1] is row
                and published[2] == note
            ):
                continue
            self._published[t.hash] = (snap, row, note)
            self.publisher.torrent(
                t.hash,
                {
                    "name": t.name,
                    "state": t.state,
                    "health": views.health_of(t.state),
                    "progress": round(t.progress, 3),
                    "size": t.size,
                    "strikes": row.history.strikes if row is not None else 0,
                    "last_action": row.last_action if row is not None else None,
                    "protected": self.instance.policy.protect_tag in t.tags,
                    "note": self._notes.get(t.hash),
                },
            )


def initial_dry_run(config: Config, store: Any, name: str) -> bool:
    """Dry-run mode at start: the newer of the config file and the last ``dry_run`` command.

    A switch from Home Assistant or the API survives a manager restart; editing
    ``settings.dry_run`` in the file afterwards wins again.
    """
    configured = config.settings.dry_run
    switched = store.last_done_command(name, "dry_run")
    if switched is None or switched.finished_at is None:
        return configured
    source = config.source
    try:
        edited = source.stat().st_mtime if source is not None else 0.0
    except OSError:
        edited = 0.0
    if switched.finished_at.timestamp() <= edited:
        return configured
    value = switched.payload_data.get("value")
    return value if isinstance(value, bool) else configured


def _left_the_queue(snap: TorrentSnapshot, row: views.KeptRow | None) -> bool:
    """A finished torrent the Arr had queued (or was asked to import) and no longer lists:
    imported. The Arr drops a record only once the import is done."""
    if row is None or snap.queue or not snap.torrent.complete:
        return False
    return row.queued


def _stable(data: dict[str, Any]) -> int:
    """What a recorded torrent row says, to compare with the next cycle's: a hash of the
    fields and values except the activity ones (``downloaded`` is compared itself). One int
    per torrent instead of the values (~270 bytes with their tuples at 10,000 torrents:
    2.7 MB); two different rows of one torrent hashing alike (1 in 2**64) would skip one
    write until the torrent changes again."""
    return hash(tuple((k, v) for k, v in data.items() if k not in ACTIVITY_FIELDS))


def _json(data: Any) -> str:
    import json

    return json.dumps(data, sort_keys=True)
