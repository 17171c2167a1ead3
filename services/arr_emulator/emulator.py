"""``ArrEmulator``: the in-memory state of one emulated Radarr, Sonarr or Lidarr.

The HTTP handlers (``api.py``), the test controls (``control.py``) and in-process tests all
go through the methods here. Queue records come from two places: records a test adds, and
records derived from the torrents of a linked qBittorrent (only those in the Arr's category,
as the real apps do).
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Any

from .commands import Command, render_command
from .faults import CallLog, Fault, Faults
from .flavors import Flavor, flavor_of
from .journal import Journal
from .library import Item, Library, iso
from .parsing import match_items
from .qbit import QbitClient, QbitError, QbitLink
from .queue import (
    DownloadOverride,
    QueueRecord,
    record_from_torrent,
    validate_record_fields,
)

HISTORY_EVENTS = {
    "radarr": [
        "unknown",
        "grabbed",
        "downloadFolderImported",
        "downloadFailed",
        "movieFileDeleted",
        "movieFolderImported",
        "movieFileRenamed",
        "downloadIgnored",
    ],
    "sonarr": [
        "unknown",
        "grabbed",
        "seriesFolderImported",
        "downloadFolderImported",
        "downloadFailed",
        "episodeFileDeleted",
        "episodeFileRenamed",
        "downloadIgnored",
    ],
    "lidarr": [
        "unknown",
        "grabbed",
        "artistFolderImported",
        "trackFileImported",
        "downloadFailed",
        "trackFileDeleted",
        "trackFileRenamed",
        "albumImportIncomplete",
        "downloadImported",
        "trackFileRetagged",
        "downloadIgnored",
    ],
}

#: A queue page after the first reuses the previous read's torrents when that read ended less
#: than this many seconds ago (``ArrEmulator.queue_records``).
PAGE_REUSE_SECONDS = 1.0


class ArrEmulator:
    """One emulated Arr app: library, queue, history, blocklist, commands, faults, calls."""

    def __init__(
        self,
        kind: str,
        api_key: str,
        *,
        seed: dict[str, Any] | str | None = None,
        command_step: float = 0.05,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.flavor: Flavor = flavor_of(kind)
        self.api_key = api_key
        self.command_step = command_step
        self._seed = seed
        self.qbit: QbitClient | None = None
        self.qbit_error: str | None = None
        self.calls = CallLog()
        self.faults = Faults()
        self._clear_state()
        self._apply_seed()

    @property
    def kind(self) -> str:
        return self.flavor.kind

    # --- state ---------------------------------------------------------------------------

    def _clear_state(self) -> None:
        self.library = Library(self.flavor)
        self.records: dict[int, QueueRecord] = {}
        self.links: dict[str, list[int]] = {}
        self.overrides: dict[str, DownloadOverride] = {}
        #: Downloads removed or imported: their torrents no longer show in the queue.
        self.hidden: set[str] = set()
        self.journal = Journal(self.flavor, self.library)
        self.history = self.journal.history
        self.blocklist = self.journal.blocklist
        self.commands: dict[int, Command] = {}
        #: Commands not ended yet: ``advance`` (on every request) looks at these only.
        self._pending: dict[int, Command] = {}
        self.searches: list[dict[str, Any]] = []
        self.imports: list[dict[str, Any]] = []
        self.removals: list[dict[str, Any]] = []
        self.command_failures: list[dict[str, Any]] = []
        self._derived_ids: dict[tuple[str, int | None], int] = {}
        #: download id -> (torrent dict, item ids, records) of the last read (``_derived``).
        self._derived_cache: dict[
            str, tuple[dict[str, Any], tuple[int | None, ...], list[QueueRecord]]
        ] = {}
        #: When the last queue read (``queue_records``) ended, monotonic.
        self._queue_read_at = float("-inf")
        #: download id -> (its name, items, parents in the library) when the name matched no item.
        self._unmatched: dict[str, tuple[str, int, int]] = {}
        self._ids = {"queue": 1, "command": 1}

    def _apply_seed(self) -> None:
        if self._seed is not None:
            from .seeds import apply_seed

            apply_seed(self, self._seed)

    def _next(self, name: str) -> int:
        value = self._ids[name]
        self._ids[name] = value + 1
        return value

    async def reset(self, seed: dict[str, Any] | str | None = None) -> None:
        """Back to a fresh start (the start-up seed, or ``seed``); unlinks qBittorrent."""
        if seed is not None:
            self._seed = seed
        await self.set_qbittorrent(None)
        self.calls.clear()
        self.faults.clear()
        self._clear_state()
        self._apply_seed()

    # --- library -------------------------------------------------------------------------

    def add_movie(self, title: str, **fields: Any) -> int:
        """A Radarr movie; fields: year, monitored, has_file, cutoff_unmet, released."""
        if self.kind != "radarr":
            raise ValueError(f"{self.flavor.app_name} has no movies")
        return self.library.add_item(title, **fields).id

    def add_parent(self, title: str, *, monitored: bool = True) -> int:
        """A Sonarr series or a Lidarr artist."""
        return self.library.add_parent(title, monitored=monitored).id

    def add_item(self, title: str, *, parent_id: int | None = None, **fields: Any) -> int:
        """A movie / episode / album; fields as ``Item`` (season, number, released, ...)."""
        return self.library.add_item(title, parent_id=parent_id, **fields).id

    def generate_items(self, count: int, *, prefix: str = "Item", **fields: Any) -> list[int]:
        """``count`` items with the same flags, for paging tests (one new parent if needed)."""
        parent_id = None
        if self.flavor.parent is not None:
            parent_id = self.add_parent(f"{prefix} {self.flavor.parent}")
        ids = []
        for n in range(1, count + 1):
            extra = {"number": n} if self.kind == "sonarr" else {}
            ids.append(self.add_item(f"{prefix} {n:05d}", parent_id=parent_id, **extra, **fields))
        return ids

    def _item(self, item_id: int) -> Item:
        item = self.library.item(item_id)
        if item is None:
            raise ValueError(f"no {self.flavor.item} with id {item_id}")
        return item

    # --- queue ---------------------------------------------------------------------------

    def add_queue_record(
        self,
        download_id: str,
        title: str | None = None,
        *,
        media_ids: list[int] | None = None,
        **fields: Any,
    ) -> list[QueueRecord]:
        """Queue one download: one record per item in ``media_ids`` (or one unknown record).

        ``fields`` are ``QueueRecord`` fields: status, tracked_status, tracked_state,
        status_messages, error_message, size, sizeleft, eta_seconds, output_path, indexer.
        """
        validate_record_fields(self.kind, fields)
        download_id = download_id.upper()
        item_ids: list[int | None] = list(media_ids) if media_ids else [None]
        for item_id in item_ids:
            if item_id is not None:
                self._item(item_id)
        title = title or f"Download {download_id[:8]}"
        created = []
        for item_id in item_ids:
            record = QueueRecord(self._next("queue"), download_id, title, item_id, **fields)
            self.records[record.id] = record
            created.append(record)
        self.journal.add_history(
            "grabbed", download_id, title, [i for i in item_ids if i is not None]
        )
        return created

    def remove_queue_record(self, record_id: int) -> bool:
        """Drop a test-added record without any Arr side effect."""
        return self.records.pop(record_id, None) is not None

    def clear_queue(self) -> None:
        self.records.clear()

    def link(self, download_hash: str, media_ids: list[int], title: str | None = None) -> None:
        """Tie a qBittorrent torrent (by hash) to library items, as a grab would."""
        for item_id in media_ids:
            self._item(item_id)
        key = download_hash.upper()
        self.links[key] = list(media_ids)
        self.hidden.discard(key)
        self.journal.add_history("grabbed", key, title or key, list(media_ids))

    def set_download(self, download_hash: str, **fields: Any) -> None:
        """Override status fields of every record of one download (test-added or derived)."""
        validate_record_fields(self.kind, fields)
        key = download_hash.upper()
        override = self.overrides.setdefault(key, DownloadOverride())
        for name, value in fields.items():
            if not hasattr(override, name):
                raise ValueError(f"unknown download field {name!r}")
            setattr(override, name, value)

    async def set_qbittorrent(
        self,
        url: str | None,
        category: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        post_import_category: str | None = None,
    ) -> None:
        """Link (or with ``url=None`` unlink) the qBittorrent whose torrents feed the queue."""
        if self.qbit is not None:
            await self.qbit.close()
            self.qbit = None
        if url:
            link = QbitLink(url, category or self.kind, username, password, post_import_category)
            self.qbit = QbitClient(link)

    async def queue_records(
        self, *, next_page: bool = False, known: bool = False
    ) -> list[QueueRecord]:
        """Every queue record now: test-added ones, then those derived from qBittorrent.

        ``next_page``: a client is paging on (page 2 and after); qBittorrent's torrents as
        the previous read saw them serve it when that read ended less than
        ``PAGE_REUSE_SECONDS`` ago, so one paging pass asks qBittorrent once and sees one
        consistent queue (as the real Arr serves its queue from memory). ``known``: the
        records as of the last read, for a DELETE of one of them (the real Arr removes the
        download it tracks without asking the client first). Other reads ask qBittorrent.
        """
        records = [self._overridden(r) for r in self.records.values()]
        if self.qbit is not None:
            reuse = known or (
                next_page and time.monotonic() - self._queue_read_at < PAGE_REUSE_SECONDS
            )
            try:
                torrents = await self.qbit.torrents(refresh=not reuse)
                self.qbit_error = None
            except QbitError as exc:  # the real Arr keeps answering; the client's items vanish
                self.qbit_error = str(exc)
                torrents = []
            library_size = (len(self.library.items), len(self.library.parents))
            for torrent in torrents:
                key = str(torrent.get("hash", "")).upper()
                if not key or key in self.hidden:
                    continue
                name = str(torrent.get("name", ""))
                tried = (name, *library_size)
                if key not in self.links and self._unmatched.get(key) != tried:
                    if parsed := match_items(self.library, name):
                        self.links[key] = parsed  # tracked from now on, as the real Arr does
                    else:  # tried again once the library grows or the torrent is renamed
                        self._unmatched[key] = tried
                records += [self._overridden(r) for r in self._derived(key, torrent)]
            if not known:
                self._queue_read_at = time.monotonic()
        return records

    def _derived(self, key: str, torrent: dict[str, Any]) -> list[QueueRecord]:
        """The records of one torrent, built again only when the torrent or its links changed
        (``QbitClient`` keeps a torrent's dict while its fields stay the same)."""
        item_ids: tuple[int | None, ...] = tuple(self.links.get(key, ())) or (None,)
        cached = self._derived_cache.get(key)
        if cached is not None and cached[0] is torrent and cached[1] == item_ids:
            return cached[2]
        built = []
        for item_id in item_ids:
            if (key, item_id) not in self._derived_ids:
                self._derived_ids[(key, item_id)] = self._next("queue")
            built.append(record_from_torrent(self._derived_ids[(key, item_id)], torrent, item_id))
        self._derived_cache[key] = (torrent, item_ids, built)
        return built

    def _overridden(self, record: QueueRecord) -> QueueRecord:
        """``record`` with its download's test overrides; a derived record is copied first
        (it is kept between reads, see ``_derived``)."""
        override = self.overrides.get(record.download_id)
        if override is not None:
            if record.derived:
                record = replace(record)
            override.apply(record)
        return record

    async def remove_download(
        self,
        record: QueueRecord,
        *,
        remove_from_client: bool = True,
        blocklist: bool = False,
        skip_redownload: bool = False,
        change_category: bool = False,
    ) -> None:
        """DELETE /queue/{id}: the whole download leaves the queue, with the real side effects."""
        key = record.download_id
        same = [r for r in await self.queue_records(known=True) if r.download_id == key]
        same = same or [record]
        item_ids = sorted({r.item_id for r in same if r.item_id is not None})
        if blocklist:
            self.journal.add_blocklist(record, item_ids)
            self.journal.add_history("downloadFailed", key, record.title, item_ids)
            if not skip_redownload and item_ids:
                self.start_command(
                    self.flavor.search_command,
                    {self.flavor.items_key: item_ids},
                    trigger="unspecified",
                )
        elif not remove_from_client:
            self.journal.add_history("downloadIgnored", key, record.title, item_ids)
        if self.qbit is not None:
            if remove_from_client:
                await self.qbit.delete([key], delete_files=True)
            elif change_category and self.qbit.link.post_import_category:
                await self.qbit.set_category([key], self.qbit.link.post_import_category)
        for other in same:
            self.records.pop(other.id, None)
        self.hidden.add(key)
        self.removals.append(
            {
                "downloadId": key,
                "queueId": record.id,
                "removeFromClient": remove_from_client,
                "blocklist": blocklist,
                "skipRedownload": skip_redownload,
                "changeCategory": change_category,
            }
        )

    # --- commands ------------------------------------------------------------------------

    def start_command(self, name: str, body: dict[str, Any], *, trigger: str = "manual") -> Command:
        command = Command(self._next("command"), name, dict(body), trigger=trigger)
        self.commands[command.id] = command
        self._pending[command.id] = command
        return command

    def fail_commands(
        self, name: str | None = None, count: int = 1, message: str = "Injected failure"
    ) -> None:
        """The next ``count`` commands (named ``name``, or any) end ``failed``."""
        self.command_failures.append(
            {"name": (name or "").lower() or None, "count": count, "message": message}
        )

    def advance(self, at: float | None = None) -> None:
        """Move every command to the stage its age has reached, running effects on start."""
        at = time.monotonic() if at is None else at
        for command in list(self._pending.values()):
            while (stage := command.stage_due(self.command_step, at)) is not None:
                if stage == "started":
                    command.start()
                    failure = self._take_failure(command.name)
                    if failure is not None:
                        command.fail(failure)
                        break
                    try:
                        command.message = self._execute(command)
                    except ValueError as exc:
                        command.fail(str(exc))
                        break
                else:
                    command.finish(command.message or "Completed")
            if command.status in ("completed", "failed"):
                del self._pending[command.id]

    def finish_commands(self) -> None:
        """Run every pending command to its end now (for in-process tests)."""
        self.advance(time.monotonic() + 2 * self.command_step + 1)

    def _take_failure(self, name: str) -> str | None:
        for failure in self.command_failures:
            if failure["count"] != 0 and failure["name"] in (None, name.lower()):
                failure["count"] -= 1
                return str(failure["message"])
        return None

    def _execute(self, command: Command) -> str:
        from .effects import execute

        return execute(self, command)

    def render_commands(self) -> list[dict[str, Any]]:
        return [render_command(c, self.kind) for c in self.commands.values()]

    # --- faults and calls ----------------------------------------------------------------

    def add_fault(
        self,
        path: str = "*",
        *,
        status: int | None = 500,
        count: int = 1,
        delay: float = 0.0,
        method: str | None = None,
    ) -> Fault:
        """Make the next ``count`` matching API requests answer ``status`` (after ``delay`` s).

        ``path`` is an fnmatch pattern on the path below the API root (``queue``,
        ``queue/*``, ``command``) or on the full path (``/api/v3/*``). ``status`` None only
        delays. ``count`` -1 keeps the fault until cleared.
        """
        return self.faults.add(path, status=status, count=count, delay=delay, method=method)

    def clear_faults(self) -> None:
        self.faults.clear()

    def find_calls(
        self, path: str | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded API calls, optionally filtered by an fnmatch ``path`` and a ``method``."""
        return self.calls.find(path, method)

    # --- overview ------------------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        """A JSON summary for tests and the demo: what the Arr did and holds."""
        self.advance()
        return {
            "kind": self.kind,
            "apiRoot": self.flavor.api_root,
            "qbittorrent": self.qbit.link.describe() if self.qbit else None,
            "qbittorrentError": self.qbit_error,
            "library": {"parents": len(self.library.parents), "items": len(self.library.items)},
            "queue": [asdict(r) | {"added": iso(r.added)} for r in self.records.values()],
            "links": self.links,
            "hidden": sorted(self.hidden),
            "searches": self.searches,
            "imports": self.imports,
            "removals": self.removals,
            "blocklist": self.blocklist,
            "commands": self.render_commands(),
            "faults": [asdict(f) for f in self.faults.items],
            "calls": len(self.calls),
        }
