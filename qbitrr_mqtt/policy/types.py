"""What goes into the policy and what comes out: plain frozen data, no I/O.

Every time in these types is a float of seconds since the Unix epoch (UTC), the unit
qBittorrent already uses; the manager converts the store's datetimes with
``dt.timestamp()``. Sizes are bytes, speeds bytes per second, progress 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from qbitrr_mqtt.config.models import ArrType, Policy

#: qBittorrent reports this ETA (100 days) when it cannot estimate one.
ETA_INFINITE = 8640000


class Action(StrEnum):
    """What a decision asks the manager to do. Values are the store's ``Action.action`` names."""

    #: Bookkeeping only: record one more strike (store), nothing is sent anywhere.
    STRIKE = "strike"
    #: Bookkeeping only: set the strike count back to zero.
    RESET_STRIKES = "reset_strikes"
    #: Remove the download; the flags ``blocklist``, ``re_search`` and ``delete_from_client``
    #: say how (they map onto the Arr's ``DELETE /queue/{id}`` parameters).
    REMOVE = "remove"
    RECHECK = "recheck"
    #: Send the Arr's Downloaded*Scan command for ``path`` / ``hash`` (once per torrent).
    IMPORT = "import"
    PAUSE = "pause"
    RESUME = "resume"
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    #: Set ``file_ids`` to ``priority`` (0: do not download).
    SET_FILE_PRIORITY = "set_file_priority"
    #: Ask the Arr to search ``media_ids``.
    SEARCH = "search"
    #: Informational: a rule wanted to act but a guard stopped it; ``reason`` says which.
    #: Nothing to execute; store it as the torrent's note, not as an audit action.
    HOLD = "hold"


#: Actions that only touch our own store (never marked dry-run, never sent anywhere).
BOOKKEEPING = frozenset({Action.STRIKE, Action.RESET_STRIKES, Action.HOLD})


class Rule(StrEnum):
    """Which rule produced a decision (also the ``kind`` of a search)."""

    STALLED = "stalled"
    METADATA = "metadata"
    SLOW = "slow"
    PROGRESS = "progress"
    STRIKE_EXPIRY = "strike_expiry"
    MISSING_FILES = "missing_files"
    ERROR = "error"
    FAILED_IMPORT = "failed_import"
    DANGEROUS_FILE = "dangerous_file"
    UNPLAYABLE = "unplayable"
    ARCHIVE = "archive"
    FILE_FILTER = "file_filter"
    NO_WANTED_FILES = "no_wanted_files"
    IMPORT = "import"
    SEEDING_LIMIT = "seeding_limit"
    FREE_SPACE = "free_space"
    REMOVAL_LIMIT = "max_removals_per_cycle"
    SEARCH_MISSING = "missing"
    SEARCH_CUTOFF = "cutoff"


class RemovalKind(StrEnum):
    """Families of removal; each family has its own set of guards (see ``guards.py``)."""

    #: Strike-based: the download does not progress (stalled, metadata, slow).
    HEALTH = "health"
    #: The data on disk is broken (missing files after a recheck).
    BROKEN = "broken"
    #: The content is wrong whatever its health (dangerous file, failed import, ...).
    VERDICT = "verdict"
    #: Done seeding (imported, hit-and-run met, seeding limits reached).
    SEEDING = "seeding"


RULE_KIND: dict[Rule, RemovalKind] = {
    Rule.STALLED: RemovalKind.HEALTH,
    Rule.METADATA: RemovalKind.HEALTH,
    Rule.SLOW: RemovalKind.HEALTH,
    Rule.MISSING_FILES: RemovalKind.BROKEN,
    Rule.DANGEROUS_FILE: RemovalKind.VERDICT,
    Rule.FAILED_IMPORT: RemovalKind.VERDICT,
    Rule.UNPLAYABLE: RemovalKind.VERDICT,
    Rule.ARCHIVE: RemovalKind.VERDICT,
    Rule.NO_WANTED_FILES: RemovalKind.VERDICT,
    Rule.SEEDING_LIMIT: RemovalKind.SEEDING,
}


@dataclass(frozen=True, slots=True)
class TorrentView:
    """One torrent as qBittorrent reports it (``torrents/info`` / ``sync/maindata`` fields).

    ``tags`` is the comma-separated qBittorrent string split and stripped. ``private`` is
    qBittorrent's private flag (``is_private`` in 4.5 properties, ``private`` in 5.x info);
    unknown counts as not private unless a tracker rule says otherwise. ``trackers`` may hold
    every announce URL when the manager knows them (``tracker`` is empty while no tracker works).
    ``priority`` is the queue position (0 or -1 when not queued).
    """

    hash: str
    name: str = ""
    state: str = "downloading"
    progress: float = 0.0
    size: int = 0
    downloaded: int = 0
    amount_left: int = 0
    dlspeed: int = 0
    eta: int = ETA_INFINITE
    availability: float = -1.0
    ratio: float = 0.0
    seeding_time: int = 0
    added_on: float = 0.0
    completion_on: float = 0.0
    last_activity: float = 0.0
    tags: tuple[str, ...] = ()
    category: str = ""
    tracker: str = ""
    trackers: tuple[str, ...] = ()
    private: bool = False
    content_path: str = ""
    save_path: str = ""
    num_seeds: int = 0
    priority: int = 0

    @property
    def complete(self) -> bool:
        return self.progress >= 1.0


@dataclass(frozen=True, slots=True)
class FileView:
    """One file of a torrent (``torrents/files``): ``index`` is qBittorrent's file id,
    ``name`` the path relative to the save path (``/`` separated)."""

    index: int
    name: str
    size: int = 0
    progress: float = 0.0
    priority: int = 1


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One Arr queue record of the torrent (Sonarr: one per episode of a pack).

    ``status_messages`` are the ``messages`` of every ``statusMessages`` entry, flattened;
    the entries' titles (file names) are left out on purpose, since a file called
    ``sample.mkv`` must not match the failed-import message "Sample".
    ``runtime`` is how long the media of this record plays, in seconds, when the Arr says
    (movie runtime, episode runtime, album duration); media validation compares it with
    what the files play.
    """

    id: int
    media_ids: tuple[int, ...] = ()
    status: str = ""
    tracked_download_status: str = ""
    tracked_download_state: str = ""
    status_messages: tuple[str, ...] = ()
    error_message: str = ""
    runtime: float | None = None


@dataclass(frozen=True, slots=True)
class History:
    """What the store remembers about the torrent.

    ``last_progress_at`` is when the manager last saw ``downloaded`` grow (None: not seen
    yet, then qBittorrent's ``last_activity`` is used). ``speed_samples`` are
    ``(at, downloaded)`` pairs, oldest first; keep at least one older than ``slow_window``.
    ``kept_for_hnr`` is set by the manager once it executed a REMOVE with
    ``delete_from_client=False``: the release left the Arr and only seeds for hit-and-run.
    """

    strikes: int = 0
    strike_reason: str | None = None
    first_seen: float | None = None
    last_strike_at: float | None = None
    downloaded_at_last_strike: int | None = None
    last_progress_at: float | None = None
    import_sent_at: float | None = None
    imported: bool = False
    last_recheck_at: float | None = None
    rechecks: int = 0
    speed_samples: tuple[tuple[float, int], ...] = ()
    kept_for_hnr: bool = False


@dataclass(frozen=True, slots=True)
class MediaVerdict:
    """ffprobe's answer about a torrent's wanted media files (``qbitrr_mqtt.media.probe``).

    ``ok`` False fails the torrent (blocklist, re-search); ``reason`` says why, naming
    ``file``, the first file that failed. A skipped validation (ffprobe not installed) is
    ``ok`` with a reason saying so.
    """

    ok: bool
    reason: str
    file: str | None = None


@dataclass(frozen=True, slots=True)
class TorrentSnapshot:
    """Everything the policy needs about one torrent.

    ``files`` None means the file list was not fetched (file rules are skipped). ``unplayable``
    names media files that ffprobe could not read; ``media_verdict`` is the validator's
    result for the torrent (None: not probed yet, or still probing). With ``validate_media``
    on, the import command waits for a passing verdict (see ``media.py``).
    """

    torrent: TorrentView
    queue: tuple[QueueItem, ...] = ()
    history: History = field(default_factory=History)
    files: tuple[FileView, ...] | None = None
    unplayable: tuple[str, ...] = ()
    media_verdict: MediaVerdict | None = None

    @property
    def media_ids(self) -> tuple[int, ...]:
        seen: dict[int, None] = {}
        for item in self.queue:
            for media_id in item.media_ids:
                seen[media_id] = None
        return tuple(seen)

    @property
    def queue_ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.queue)


@dataclass(frozen=True, slots=True)
class ClientView:
    """qBittorrent as a whole: reachability, ``connection_status`` (connected, firewalled,
    disconnected), free space of the watched folder (None unknown), global download rate and
    limit (0 unlimited), alternative speed limits on."""

    reachable: bool = True
    connection_status: str = "connected"
    free_space: int | None = None
    dl_rate: int = 0
    dl_rate_limit: int = 0
    alt_speed: bool = False


@dataclass(frozen=True, slots=True)
class ArrView:
    reachable: bool = True


@dataclass(frozen=True, slots=True)
class Context:
    """The instance's rules and the world around the torrents, for one cycle."""

    policy: Policy
    now: float
    arr_type: ArrType = "radarr"
    client: ClientView = field(default_factory=ClientView)
    arr: ArrView = field(default_factory=ArrView)
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """One thing to do (or, for HOLD, not to do), with a reason a human understands.

    For REMOVE: ``blocklist`` marks the release failed in the Arr, ``re_search`` asks for a new
    search after blocklisting (``skipRedownload = not re_search``), ``delete_from_client``
    False keeps the torrent seeding (hit-and-run) and only drops it from the Arr queue.
    ``dry_run`` marks decisions the caller must record as would-be and not execute.
    """

    action: Action
    rule: Rule
    reason: str
    hash: str | None = None
    name: str | None = None
    dry_run: bool = False
    blocklist: bool = False
    re_search: bool = False
    delete_from_client: bool = False
    queue_ids: tuple[int, ...] = ()
    media_ids: tuple[int, ...] = ()
    file_ids: tuple[int, ...] = ()
    priority: int | None = None
    tag: str | None = None
    path: str | None = None
    strikes: int | None = None

    @property
    def is_removal(self) -> bool:
        return self.action is Action.REMOVE

    @property
    def executes(self) -> bool:
        """Whether the manager has to call qBittorrent or the Arr for it."""
        return self.action not in BOOKKEEPING

    @property
    def audit_name(self) -> str:
        """The store's action name: ``blocklist`` for a blocklisting removal, and the
        ``would_`` prefix in dry-run (``would_remove``, ``would_blocklist``, ...)."""
        name = "blocklist" if self.action is Action.REMOVE and self.blocklist else self.action.value
        return f"would_{name}" if self.dry_run else name


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Decisions of one cycle, in execution order. ``blocked`` says why no torrent was struck
    or removed this cycle (fail-closed), None when the cycle ran normally."""

    decisions: tuple[Decision, ...]
    blocked: str | None = None

    @property
    def removals(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.is_removal)


@dataclass(frozen=True, slots=True)
class WantedItem:
    """One entry of the Arr's wanted/missing (or cutoff-unmet) list."""

    media_id: int
    cutoff_unmet: bool = False
    title: str = ""
