"""QbitClient against a real qbittorrent-nox: incremental sync, actions, errors, a real download."""

from __future__ import annotations

import gc
import time
import uuid
from pathlib import Path

import pytest

from qbitrr_mqtt.clients.qbit import (
    SERVER_STATE_EVERY,
    MainData,
    QbitClient,
    QbitError,
    QbitUnavailable,
)
from qbitrr_mqtt.manager import views
from services import torrents as T
from services.runners import free_port, start_qbittorrent

MULTI = {"disc1/a.bin": 96 * 1024, "disc1/b.bin": 40 * 1024, "c.nfo": 3000}


@pytest.fixture
def client(qbit):
    with QbitClient(qbit.url) as c:
        yield c


@pytest.fixture
def category() -> str:
    return f"cat-{uuid.uuid4().hex[:8]}"


def sync_until(client: QbitClient, predicate, what: str) -> MainData:
    """Sync until the merged state satisfies ``predicate``; returns that answer."""
    return T.wait_for(lambda: (d := client.sync()) and predicate(d) and d, what)


def test_incremental_sync_merges_partial_updates_and_rid_advances(qbit, client, category):
    first = client.sync()
    assert first.full and first.rid > 0
    a = T.add_seeding(qbit, "inc-a", 50_000, category=category)
    b = T.add_seeding(qbit, "inc-b", 50_000, category=category)
    client.pause([a.hash, b.hash])
    settled = sync_until(
        client,
        lambda d: all(d.torrents.get(h, {}).get("state") == "pausedUP" for h in (a.hash, b.hash)),
        "both paused",
    )
    assert not settled.full and settled.rid > first.rid
    quiet = sync_until(client, lambda d: not d.changed & {a.hash, b.hash}, "a quiet answer")
    client.add_tags([a.hash], ["marked"])
    tagged = sync_until(client, lambda d: "marked" in d.torrents[a.hash]["tags"], "tag seen")
    assert not tagged.full and tagged.rid > quiet.rid
    assert a.hash in tagged.changed and b.hash not in tagged.changed  # only what changed came
    merged = tagged.torrents[a.hash]
    assert merged["hash"] == a.hash and merged["name"] == "inc-a"  # fields not resent are kept
    assert merged["category"] == category and merged["size"] == 50_000
    assert "dl_info_speed" in tagged.server_state


def test_removals_and_delete_with_and_without_files(qbit, client, category):
    keep = T.add_seeding(qbit, "keep-data", MULTI, category=category)
    drop = T.add_seeding(qbit, "drop-data", 70_000, category=category)
    client.sync()
    client.delete([keep.hash], delete_files=False)
    client.delete([drop.hash], delete_files=True)
    seen = set()
    sync_until(
        client, lambda d: seen.update(d.removed) or {keep.hash, drop.hash} <= seen, "removed"
    )
    state = client.sync()
    assert keep.hash not in state.torrents and drop.hash not in state.torrents
    assert (keep.payload / "disc1" / "a.bin").stat().st_size == 96 * 1024
    T.wait_for(lambda: not drop.payload.exists(), "deleted data gone from disk")


def test_full_update_for_a_new_client(qbit, category):
    added = T.add_seeding(qbit, "fresh", 20_000, category=category)
    with QbitClient(qbit.url) as c:
        state = c.sync()
    assert state.full and added.hash in state.torrents and added.hash in state.changed


def test_torrents_in_filters_by_category(qbit, client, category):
    mine = T.add_seeding(qbit, "mine", 20_000, category=category)
    other = T.add_seeding(qbit, "other", 20_000, category=category + "-other")
    found = client.torrents_in(category)
    assert set(found) == {mine.hash}
    assert found[mine.hash]["name"] == "mine" and other.hash not in found


def test_recheck_finds_corrupted_data(qbit, client, category):
    added = T.add_seeding(qbit, "corrupt", 200_000, category=category)
    client.pause([added.hash])
    T.wait_state(T.api(qbit), added.hash, {"pausedUP"})
    with added.payload.open("r+b") as f:
        f.write(b"\0" * 100_000)  # the first pieces no longer match their hashes
    client.recheck([added.hash])
    row = T.wait_for(
        lambda: (t := client.torrents_in(category)[added.hash])["state"] == "pausedDL" and t,
        "recheck done",
    )
    assert 0 < row["progress"] < 1


def test_pause_and_resume(qbit, client, category):
    added = T.add_seeding(qbit, "pause-me", 20_000, category=category)
    client.pause([added.hash])
    T.wait_state(T.api(qbit), added.hash, {"pausedUP", "stoppedUP"})
    client.resume([added.hash])
    T.wait_state(T.api(qbit), added.hash, T.SEEDING_STATES)


def test_tags_added_and_removed(qbit, client, category):
    added = T.add_seeding(qbit, "tagged", 20_000, category=category)
    client.add_tags([added.hash], ["qbitrr-protected", "other"])
    tags = lambda: set(filter(None, client.torrents_in(category)[added.hash]["tags"].split(", ")))  # noqa: E731
    assert T.wait_for(lambda: tags() == {"qbitrr-protected", "other"}, "tags added")
    client.remove_tags([added.hash], ["other"])
    assert T.wait_for(lambda: tags() == {"qbitrr-protected"}, "tag removed")


def test_file_priority_files_and_properties(qbit, client, category):
    added = T.add_stalled(qbit, "prio", MULTI, category=category)
    files = client.files(added.hash)
    assert [f["index"] for f in files] == [0, 1, 2]
    assert sorted(Path(f["name"]).name for f in files) == ["a.bin", "b.bin", "c.nfo"]
    nfo = next(f["index"] for f in files if f["name"].endswith(".nfo"))
    client.set_file_priority(added.hash, [nfo], 0)
    assert T.wait_for(lambda: client.files(added.hash)[nfo]["priority"] == 0, "priority set")
    assert all(f["priority"] == 1 for f in client.files(added.hash) if f["index"] != nfo)
    assert client.properties(added.hash)["total_size"] == sum(MULTI.values())
    assert isinstance(client.trackers(added.hash), list)


def test_share_limits_are_set(qbit, client, category):
    added = T.add_seeding(qbit, "limits", 20_000, category=category)
    client.set_share_limits([added.hash], ratio_limit=1.5, seeding_time_limit=60)
    row = T.wait_for(
        lambda: (t := client.torrents_in(category)[added.hash])["ratio_limit"] == 1.5 and t,
        "limits applied",
    )
    assert row["seeding_time_limit"] == 60


def test_misuse_is_a_qbit_error(qbit, client):
    with pytest.raises(QbitError, match="priority"):
        client.set_file_priority("a" * 40, [0], 3)
    with pytest.raises(QbitError, match="no torrent hashes"):
        client.delete([], delete_files=False)
    with pytest.raises(QbitError, match="refused"):
        client.files("0" * 40)  # unknown torrent: 404
    with pytest.raises(QbitError, match="not one string"):
        client.recheck("abc")  # type: ignore[arg-type]


def test_login_failure_message(workdir):
    with start_qbittorrent(workdir, username="admin", password="right-pass") as q:
        with (
            QbitClient(q.url, username="admin", password="wrong") as bad,
            pytest.raises(QbitUnavailable, match="login failed") as err,
        ):
            bad.sync()
        assert q.url in str(err.value) and "wrong" not in str(err.value)
        with QbitClient(q.url) as anonymous, pytest.raises(QbitUnavailable, match="login failed"):
            anonymous.version()


def test_expired_login_logs_in_again(workdir):
    with (
        start_qbittorrent(workdir, username="admin", password="right-pass") as q,
        QbitClient(q.url, username="admin", password="right-pass") as c,
    ):
        assert c.sync().full
        q.restart()  # the session cookie is now unknown to qBittorrent: 403, then re-login
        assert c.sync().full  # a restarted server answers the old rid with a full update
        assert c.version().startswith("v")


def test_server_down_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    with QbitClient(url, timeout=3) as c, pytest.raises(QbitUnavailable) as err:
        c.sync()
    assert url in str(err.value) and "connection refused" in str(err.value)


def test_stats_count_requests_and_bytes(qbit):
    with QbitClient(qbit.url) as c:
        c.sync()
        c.sync()
        c.version()
        assert c.stats.requests == 3 and c.stats.bytes_received > 0


def test_real_download_from_a_local_peer(qbit_pair, category):
    files = {"show/ep1.mkv": 1_500_000, "show/ep2.mkv": 700_000, "show/info.nfo": 2048}
    added = T.add_downloading(qbit_pair.seeder, qbit_pair.leecher, "show", files, category=category)
    with QbitClient(qbit_pair.leecher.url) as c:
        done = sync_until(
            c,
            lambda d: (
                d.torrents[added.hash]["progress"] == 1
                and d.torrents[added.hash]["state"] in ("uploading", "stalledUP")
            ),
            "download complete",
        )
    row = done.torrents[added.hash]
    assert row["category"] == category and row["size"] == sum(files.values())
    for rel in files:
        got = (added.save_path / "show" / rel).read_bytes()
        assert got == (added.payload / rel).read_bytes()


# --- one category: only the watched category's torrents are held ----------------------------

FIELDS = views.TORRENT_FIELDS


def paused(qbit, *added: T.Added) -> None:
    """Stop torrents so their fields hold still (records can then be compared whole)."""
    T.api(qbit).torrents_pause(torrent_hashes=[a.hash for a in added])
    for a in added:
        T.wait_state(T.api(qbit), a.hash, {"pausedUP", "stoppedUP"})


def set_category(qbit, h: str, category: str) -> None:
    client = T.api(qbit)
    client.torrents_set_category(category=category, torrent_hashes=h)
    T.wait_for(lambda: T.info(client, h)["category"] == category, f"{h} in {category!r}")


def record(qbit, h: str, category: str | None = None) -> dict:
    """The record a new client holds for ``h`` (as if it had followed it from the start)."""
    with QbitClient(qbit.url, small_category=None) as fresh:
        return fresh.sync(fields=FIELDS, category=category).torrents[h]


def test_one_category_follows_torrents_moved_in_and_out(qbit, category):
    mine = T.add_seeding(qbit, "cat-mine", 20_000, category=category)
    other = T.add_seeding(qbit, "cat-other", 30_000, category=category + "-other")
    paused(qbit, mine, other)
    with QbitClient(qbit.url, small_category=None) as c:  # sync/maindata throughout
        first = c.sync(fields=FIELDS, category=category)
        assert first.full and set(first.torrents) == {mine.hash}
        T.wait_for(lambda: not c.sync(fields=FIELDS, category=category).changed, "quiet")
        before = c.stats.requests
        idle = c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 1 and not idle.changed  # idle: one request

        set_category(qbit, other.hash, category)  # moved in: the answer says only that
        before = c.stats.requests
        moved = c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 2  # sync/maindata, then torrents/info once
        assert set(moved.torrents) == {mine.hash, other.hash} and other.hash in moved.changed
        held = moved.torrents[other.hash]
        assert held["name"] == "cat-other" and held["size"] == 30_000
        assert held == record(qbit, other.hash, category)  # whole, as if there from the start
        assert held == record(qbit, other.hash)  # and as the unfiltered client holds it
        before = c.stats.requests
        c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 1  # read once only

        set_category(qbit, other.hash, category + "-other")  # moved out: gone from the view
        out = c.sync(fields=FIELDS, category=category)
        assert set(out.torrents) == {mine.hash} and other.hash in out.removed
        assert other.hash not in out.changed

        set_category(qbit, other.hash, category)  # and back in again
        back = c.sync(fields=FIELDS, category=category)
        assert back.torrents[other.hash] == held

        c.delete([mine.hash], delete_files=False)  # removed: torrents_removed
        seen: set[str] = set()
        gone = T.wait_for(
            lambda: (
                (d := c.sync(fields=FIELDS, category=category))
                and not seen.update(d.removed)
                and mine.hash in seen
                and d
            ),
            "removal seen",
        )
        assert set(gone.torrents) == {other.hash}


def test_no_category_is_a_category_like_the_filter_on_the_whole_state(qbit, category):
    loose = T.add_seeding(qbit, "cat-loose", 20_000, category=category)
    paused(qbit, loose)
    with QbitClient(qbit.url, small_category=None) as c, QbitClient(qbit.url) as whole:
        c.sync(fields=FIELDS, category="")
        set_category(qbit, loose.hash, "")  # no category (the answer carries "category": "")
        held = c.sync(fields=FIELDS, category="").torrents
        every = whole.sync(fields=FIELDS).torrents
        assert held == {h: t for h, t in every.items() if t.get("category") == ""}
        assert loose.hash in held


def test_one_category_holds_nothing_of_the_others_through_a_restart(workdir):
    """50 torrents of another category: the client holds none of them (no dict, no hash),
    before and after qBittorrent restarts (a full update) and when one moves in after."""
    with start_qbittorrent(workdir) as q:
        others = add_many(q, 50, "other")
        mine = T.add_seeding(q, "restart-mine", 20_000, category="mine")
        paused(q, mine)
        with QbitClient(q.url, small_category=None) as c:  # sync/maindata throughout
            state = c.sync(fields=FIELDS, category="mine")
            assert set(state.torrents) == {mine.hash}
            strings = reachable_strings(c)
            assert mine.hash in strings and not strings & set(others)  # the walk finds hashes
            q.restart()
            after = T.wait_for(
                lambda: (d := c.sync(fields=FIELDS, category="mine")).full and d, "full update"
            )
            assert set(after.torrents) == {mine.hash} and after.changed == {mine.hash}
            assert not reachable_strings(c) & set(others)
            moved = others[0]
            set_category(q, moved, "mine")
            state = c.sync(fields=FIELDS, category="mine")
            assert set(state.torrents) == {mine.hash, moved}
            assert state.torrents[moved] == record(q, moved, "mine") == record(q, moved)
            assert not reachable_strings(c) & set(others[1:])


def add_many(qbit, n: int, category: str) -> list[str]:
    """``n`` small paused torrents in ``category`` (added in one call); their hashes."""
    client = T.api(qbit)
    torrents, hashes = [], []
    for i in range(n):
        payload = T.make_payload(qbit.workdir / "many", f"many-{category}-{i}", 1000 + i)
        torrent, h = T.make_torrent(payload)
        torrents.append(torrent)
        hashes.append(h)
    client.torrent_categories.create_category(name=category)
    client.torrents_add(
        torrent_files=torrents,
        save_path=str(qbit.workdir / "many"),
        category=category,
        is_paused=True,
        is_skip_checking=True,
    )
    T.wait_for(lambda: len(client.torrents_info(category=category)) == n, f"{n} torrents added")
    return hashes


def reachable_strings(client: QbitClient) -> set[str]:
    """Every string reachable from the client's own state (not its HTTP library)."""
    seen: set[int] = set()
    out: set[str] = set()
    todo = [v for k, v in vars(client).items() if k != "_api"]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            out.add(obj)
        elif isinstance(obj, MainData):
            todo.extend(vars(obj).values())
        elif isinstance(obj, (dict, list, tuple, set, frozenset)):
            todo.extend(gc.get_referents(obj))
    return out


class Clock:
    """Monotonic time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def in_category(qbit, category: str) -> dict:
    """What a client following qBittorrent's whole state holds of ``category``."""
    with QbitClient(qbit.url, small_category=None) as whole:
        every = whole.sync(fields=FIELDS).torrents
    return {h: t for h, t in every.items() if t.get("category") == category}


def test_a_small_category_is_read_with_torrents_info_and_server_state_now_and_then(qbit, category):
    """After its first sync/maindata a small category costs qBittorrent one
    torrents/info?category= per call (it filters before serializing) and a sync/maindata
    every SERVER_STATE_EVERY seconds for server_state; what is held is what a client of the
    whole state holds of that category, through moves in and out, edits and removals."""
    mine = T.add_seeding(qbit, "small-mine", 20_000, category=category)
    other = T.add_seeding(qbit, "small-other", 30_000, category=category + "-other")
    paused(qbit, mine, other)
    clock = Clock()
    with QbitClient(qbit.url, clock=clock) as c:
        first = c.sync(fields=FIELDS, category=category)
        assert first.full and set(first.torrents) == {mine.hash}
        assert "connection_status" in first.server_state
        assert "free_space_on_disk" in first.server_state

        before = c.stats.requests
        idle = c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 1  # torrents/info only
        assert not idle.full and not idle.changed and not idle.removed
        assert idle.torrents[mine.hash] is first.torrents[mine.hash]  # unchanged: same dict
        assert idle.server_state == first.server_state

        set_category(qbit, other.hash, category)  # moved in
        before = c.stats.requests
        moved = c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 1
        assert moved.changed == {other.hash} and not moved.removed
        assert moved.torrents == in_category(qbit, category)

        T.api(qbit).torrents_rename(torrent_hash=mine.hash, new_torrent_name="small-renamed")
        renamed = T.wait_for(
            lambda: (d := c.sync(fields=FIELDS, category=category)).changed and d, "the rename"
        )
        assert renamed.changed == {mine.hash}
        assert renamed.torrents[mine.hash]["name"] == "small-renamed"

        set_category(qbit, other.hash, category + "-other")  # moved out
        out = c.sync(fields=FIELDS, category=category)
        assert out.removed == {other.hash} and not out.changed
        assert out.torrents == in_category(qbit, category)

        clock.offset += SERVER_STATE_EVERY  # time for server_state again
        before = c.stats.requests
        again = c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 2  # sync/maindata (server_state), torrents/info
        assert "connection_status" in again.server_state
        assert "free_space_on_disk" in again.server_state
        before = c.stats.requests
        c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 1  # and not again until the next period

        c.delete([mine.hash], delete_files=False)
        gone = T.wait_for(
            lambda: (d := c.sync(fields=FIELDS, category=category)).removed and d, "removal"
        )
        assert gone.removed == {mine.hash} and gone.torrents == {}


def test_a_small_category_keeps_its_server_state_through_a_restart(workdir):
    """qBittorrent restarted: the small reader's server_state session starts again (a full
    answer) and torrents/info goes on; nothing held goes stale or missing."""
    clock = Clock()
    with start_qbittorrent(workdir) as q:
        mine = T.add_seeding(q, "restart-small", 20_000, category="small")
        paused(q, mine)
        with QbitClient(q.url, clock=clock) as c:
            c.sync(fields=FIELDS, category="small")
            c.sync(fields=FIELDS, category="small")  # small from here on
            q.restart()
            clock.offset += SERVER_STATE_EVERY
            after = T.wait_for(
                lambda: _quietly(lambda: c.sync(fields=FIELDS, category="small")), "answers"
            )
            assert set(after.torrents) == {mine.hash}
            assert "connection_status" in after.server_state
            assert after.torrents == in_category(q, "small")


def _quietly(call):
    try:
        return call()
    except QbitUnavailable:
        return None


def test_a_category_grown_past_small_goes_back_to_sync_maindata(qbit, category):
    one = T.add_seeding(qbit, "grow-1", 20_000, category=category)
    paused(qbit, one)
    with QbitClient(qbit.url, small_category=1) as c:
        c.sync(fields=FIELDS, category=category)
        before = c.stats.requests
        c.sync(fields=FIELDS, category=category)
        assert c.stats.requests - before == 1  # small: torrents/info
        two = T.add_seeding(qbit, "grow-2", 20_000, category=category)
        paused(qbit, two)
        grown = c.sync(fields=FIELDS, category=category)  # read small, found too large
        assert grown.changed >= {two.hash} and set(grown.torrents) == {one.hash, two.hash}
        full = c.sync(fields=FIELDS, category=category)
        assert full.full and set(full.torrents) == {one.hash, two.hash}  # sync/maindata
        assert full.torrents == in_category(qbit, category)
