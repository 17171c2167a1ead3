"""Property tests: whatever the torrents and settings, the safety guards hold."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_cases import DAY, GIB, NOW, default_policy

from qbitrr_mqtt.config.models import TrackerRule
from qbitrr_mqtt.policy import (
    Action,
    ArrView,
    ClientView,
    Context,
    FileView,
    History,
    QueueItem,
    RemovalKind,
    TorrentSnapshot,
    TorrentView,
    decide_cycle,
)
from qbitrr_mqtt.policy.guards import REMOVABLE_STATES
from qbitrr_mqtt.policy.seeding import hnr_bound, seed_rules
from qbitrr_mqtt.policy.types import RULE_KIND

STATES = [
    "downloading", "stalledDL", "metaDL", "forcedMetaDL", "missingFiles", "error", "uploading",
    "stalledUP", "pausedUP", "stoppedUP", "queuedUP", "forcedUP", "pausedDL", "stoppedDL",
    "queuedDL", "checkingDL", "checkingUP", "checkingResumeData", "moving", "forcedDL",
    "allocating", "unknown",
]  # fmt: skip
COMMON_STATES = ["downloading", "stalledDL", "metaDL", "stalledUP", "missingFiles"]
TAGS = ["qbitrr-protected", "qbitrr-free-space-paused", "other"]
FILE_NAMES = [
    "R/R.mkv", "R/R.MKV.!qB", "R/Sample/s.mkv", "R/R.nfo", "R/R.mkv.exe", "R/setup.EXE",
    "R/R.rar", "R/R.r00", "R/en.srt", "R/Extras/x.mp4", "R/R.flac",
]  # fmt: skip
MESSAGES = ["Not an upgrade for existing movie file", "downloading", "Sample", "ok"]
PRIVATE_URL = "https://private.example/announce"

times = st.floats(min_value=NOW - 30 * DAY, max_value=NOW)
opt_times = st.none() | times


def mostly[T](usual: T, *rare: T) -> st.SearchStrategy[T]:
    """``usual`` about four times in five, so most cycles get past the fail-closed guard."""
    return st.sampled_from([usual] * 4 * len(rare) + list(rare))


@st.composite
def torrents(draw: st.DrawFn, index: int) -> TorrentSnapshot:
    state = draw(st.sampled_from(COMMON_STATES) | st.sampled_from(STATES))
    progress = draw(st.sampled_from([0.0, 0.3, 0.98, 0.99, 0.995, 1.0, 1.0, 1.0]) | st.floats(0, 1))
    size = GIB
    downloaded = int(size * progress) + draw(st.integers(0, 5 * 1024**2))
    t = TorrentView(
        hash=f"{index:040x}",
        name="R",
        state=state,
        progress=progress,
        size=size,
        downloaded=downloaded,
        amount_left=int(size * (1 - progress)),
        eta=draw(st.sampled_from([60, 3600, 8 * DAY, 8640000])),
        availability=draw(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 4.0])),
        ratio=draw(st.floats(0, 5)),
        seeding_time=draw(st.integers(0, 30 * DAY)),
        added_on=draw(st.sampled_from([0.0, NOW - 10, NOW - 179, NOW - 180, NOW - DAY]) | times),
        completion_on=draw(st.sampled_from([0.0]) | times),
        last_activity=draw(st.sampled_from([0.0]) | times),
        tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
        tracker=draw(st.sampled_from(["", PRIVATE_URL, "http://public.example/announce"])),
        private=draw(st.booleans()),
        priority=draw(st.integers(-1, 5)),
    )
    h = History(
        strikes=draw(st.integers(0, 12)),
        first_seen=draw(opt_times),
        last_strike_at=draw(opt_times),
        downloaded_at_last_strike=draw(st.none() | st.integers(0, GIB)),
        last_progress_at=draw(opt_times),
        import_sent_at=draw(opt_times),
        imported=draw(st.booleans()),
        last_recheck_at=draw(opt_times),
        rechecks=draw(st.integers(0, 3)),
        speed_samples=tuple(sorted(draw(st.lists(st.tuples(times, st.integers(0, GIB)), max_size=3)))),
        kept_for_hnr=draw(st.booleans()),
    )
    queue = tuple(
        QueueItem(id=100 + index * 10 + i, media_ids=(index,), status_messages=(draw(st.sampled_from(MESSAGES)),))
        for i in range(draw(st.integers(0, 2)))
    )
    names = draw(st.none() | st.lists(st.sampled_from(FILE_NAMES), max_size=4, unique=True))
    fs = None if names is None else tuple(FileView(i, n, priority=draw(st.sampled_from([0, 1]))) for i, n in enumerate(names))
    unplayable = tuple(draw(st.lists(st.sampled_from(["R/R.mkv"]), max_size=1)))
    return TorrentSnapshot(torrent=t, queue=queue, history=h, files=fs, unplayable=unplayable)


@st.composite
def contexts(draw: st.DrawFn) -> Context:
    tracker = TrackerRule(
        uri="private.example",
        private=draw(st.none() | st.booleans()),
        hit_and_run=draw(st.none() | st.sampled_from(["and", "or", "off"])),
        min_seed_ratio=draw(st.none() | st.floats(0, 3)),
        remove_torrent=draw(st.none() | st.sampled_from([-1, 1, 2, 3, 4])),
        max_ratio=draw(st.none() | st.floats(-1, 3)),
    )
    pol = replace(
        default_policy(),
        stalled_strikes=draw(st.integers(1, 4)),
        stalled_delay=draw(st.sampled_from([0, 1, 15])),
        ignore_younger_than=draw(st.sampled_from([0, 180, 3600])),
        metadata_timeout=draw(st.sampled_from([-1, 0, 600])),
        do_not_remove_slow=draw(st.booleans()),
        min_speed=draw(st.sampled_from([0, 10**6])),
        strike_expiry=draw(st.sampled_from([0, 3600, DAY])),
        maximum_deletable_percentage=draw(st.sampled_from([0.0, 0.5, 0.99, 1.0])),
        max_removals_per_cycle=draw(st.integers(0, 4)),
        re_search=draw(st.booleans()),
        hit_and_run=draw(st.sampled_from(["and", "or", "off"])),
        min_seed_ratio=draw(st.floats(0, 3)),
        min_seed_days=draw(st.sampled_from([0, 1, 10])),
        max_ratio=draw(st.floats(-1, 3)),
        max_seed_time=draw(st.sampled_from([-1, 0, DAY])),
        remove_torrent=draw(st.sampled_from([-1, 1, 2, 3, 4])),
        trackers=draw(st.sampled_from([(), (tracker,)])),
        archive_policy=draw(st.sampled_from(["allow", "blocklist"])),
        free_space=draw(st.sampled_from([-1, 0, GIB])),
    )
    client = ClientView(
        reachable=draw(mostly(True, False)),
        connection_status=draw(mostly("connected", "firewalled", "disconnected")),
        free_space=draw(st.none() | st.integers(0, 4 * GIB)),
        dl_rate=draw(st.integers(0, 2000)),
        dl_rate_limit=draw(st.sampled_from([0, 1000])),
        alt_speed=draw(st.booleans()),
    )
    return Context(
        policy=pol,
        now=NOW,
        arr_type=draw(st.sampled_from(["radarr", "sonarr", "lidarr"])),
        client=client,
        arr=ArrView(reachable=draw(mostly(True, False))),
        dry_run=draw(st.booleans()),
    )


@st.composite
def cycles(draw: st.DrawFn) -> tuple[list[TorrentSnapshot], Context]:
    n = draw(st.integers(0, 8))
    return [draw(torrents(i)) for i in range(n)], draw(contexts())


def _age(s: TorrentSnapshot) -> float | None:
    added = s.torrent.added_on if s.torrent.added_on > 0 else s.history.first_seen
    return None if added is None else NOW - added


def _young(s: TorrentSnapshot, c: Context) -> bool:
    a = _age(s)
    return a is None or a < c.policy.ignore_younger_than


def _fail_closed(c: Context) -> bool:
    return (
        not c.client.reachable
        or c.client.connection_status in ("firewalled", "disconnected")
        or not c.arr.reachable
    )


PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(cycles())
def test_guards_hold_for_every_removal(cycle: tuple[list[TorrentSnapshot], Context]) -> None:
    snaps, c = cycle
    by_hash = {s.torrent.hash: s for s in snaps}
    result = decide_cycle(snaps, c)
    if not c.client.reachable:
        assert result.decisions == ()
    for d in result.decisions:
        assert d.reason, d
        if not d.is_removal:
            continue
        s = by_hash[d.hash or ""]
        kind = RULE_KIND[d.rule]
        assert not _fail_closed(c), d
        assert c.policy.protect_tag not in s.torrent.tags, d
        assert s.torrent.state in REMOVABLE_STATES, d
        if kind in (RemovalKind.HEALTH, RemovalKind.BROKEN):
            assert not _young(s, c), d
        if kind is RemovalKind.HEALTH:
            assert s.torrent.progress < c.policy.maximum_deletable_percentage, d
        if hnr_bound(s.torrent, seed_rules(s.torrent, c.policy)):
            assert not d.delete_from_client, d
            assert kind is not RemovalKind.SEEDING and s.queue, d


@PROPERTY_SETTINGS
@given(cycles())
def test_removal_cap_is_never_exceeded(cycle: tuple[list[TorrentSnapshot], Context]) -> None:
    snaps, c = cycle
    result = decide_cycle(snaps, c)
    assert len(result.removals) <= c.policy.max_removals_per_cycle
    removed = [d.hash for d in result.removals]
    assert len(removed) == len(set(removed)), "at most one removal per torrent"


@PROPERTY_SETTINGS
@given(cycles())
def test_no_strike_where_no_removal_could_follow(cycle: tuple[list[TorrentSnapshot], Context]) -> None:
    snaps, c = cycle
    by_hash = {s.torrent.hash: s for s in snaps}
    for d in decide_cycle(snaps, c).decisions:
        if d.action is not Action.STRIKE:
            continue
        s = by_hash[d.hash or ""]
        assert not _fail_closed(c)
        assert c.policy.protect_tag not in s.torrent.tags
        assert not _young(s, c)
        assert s.torrent.progress < c.policy.maximum_deletable_percentage
        assert s.torrent.state in REMOVABLE_STATES


@PROPERTY_SETTINGS
@given(cycles())
def test_dry_run_marks_everything_that_executes(cycle: tuple[list[TorrentSnapshot], Context]) -> None:
    snaps, c = cycle
    for d in decide_cycle(snaps, c).decisions:
        assert d.dry_run is (c.dry_run and d.executes)
        if d.dry_run:
            assert d.audit_name.startswith("would_")


@PROPERTY_SETTINGS
@given(cycles())
def test_protected_torrents_only_get_harmless_decisions(cycle: tuple[list[TorrentSnapshot], Context]) -> None:
    snaps, c = cycle
    protected = {s.torrent.hash for s in snaps if c.policy.protect_tag in s.torrent.tags}
    harmless = {Action.HOLD, Action.RESET_STRIKES, Action.RECHECK, Action.IMPORT}
    harmless |= {Action.PAUSE, Action.RESUME, Action.ADD_TAG, Action.REMOVE_TAG}  # free space
    for d in decide_cycle(snaps, c).decisions:
        if d.hash in protected:
            assert d.action in harmless, d
