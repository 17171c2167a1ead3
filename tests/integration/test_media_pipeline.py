"""Bad-release protection end to end (issue 10): real torrents in a real qbittorrent-nox,
the Arr emulator linked to it, real ffprobe on real files made with ffmpeg."""

# ruff: noqa: F811 - the ``pipeline`` fixture is imported, and then named as a parameter

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from test_manager_pipeline import (  # noqa: F401 - the fixture comes along
    IMPORT,
    Clock,
    Pipeline,
    cycles,
    pipeline,
)

from services.torrents import (
    SEEDING_STATES,
    add,
    add_stalled,
    api,
    info,
    make_torrent,
    wait_for,
    wait_state,
)

KiB = 1024


def blocklist_calls(p: Pipeline) -> list[dict]:
    return [
        c
        for c in p.arr.calls(method="DELETE")
        if "/queue/" in c["path"] and c["query"].get("blocklist") == "true"
    ]


@pytest.mark.parametrize("pipeline", ["radarr", "lidarr"], indirect=True)
def test_a_release_with_an_executable_is_removed_at_once_naming_the_file(
    pipeline: Pipeline,
) -> None:
    p = pipeline
    media = "Song.flac" if p.kind == "lidarr" else "Movie.mkv"
    added = add_stalled(
        p.qbit,
        f"Trap.{p.category}",
        {media: 32 * KiB, "Codec.Installer.exe": 4 * KiB},
        category=p.category,
    )
    p.arr.link(added.hash, p.arr.generate(1))
    p.manager().cycle()  # one cycle: no strikes to wait for
    calls = blocklist_calls(p)
    assert len(calls) == 1 and calls[0]["query"]["removeFromClient"] == "true"
    wait_for(lambda: info(api(p.qbit), added.hash) is None, "the trap to leave qBittorrent")
    actions, _ = p.store.list_actions(instance=p.kind, hash=added.hash)
    removal = next(a for a in actions if a.action == "blocklist")
    assert "Codec.Installer.exe" in removal.reason
    row = p.store.get_torrent(p.kind, added.hash)
    assert row is None or row.strikes == 0
    p.arr.finish_commands()
    assert p.arr.state()["searches"], "the Arr searched for another release"


def ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def seed_folder(p: Pipeline, folder: Path) -> str:
    """Add a finished torrent of ``folder`` (data in place) to the pipeline's category."""
    torrent, _ = make_torrent(folder)
    h = add(p.qbit, torrent, folder.parent, category=p.category, skip_checking=True)
    wait_state(api(p.qbit), h, SEEDING_STATES)
    return h


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_ffprobe_fails_a_fake_video_and_passes_a_real_one(
    pipeline: Pipeline, workdir: Path
) -> None:
    p = pipeline
    fake_dir = workdir / "payload-fake" / f"Fake.Movie.{uuid.uuid4().hex[:6]}"
    fake_dir.mkdir(parents=True)
    (fake_dir / "Fake.Movie.mkv").write_bytes(b"this is not a video\n" * 4000)
    real_dir = workdir / "payload-real" / f"Real.Movie.{uuid.uuid4().hex[:6]}"
    real_dir.mkdir(parents=True)
    ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=160x120:rate=10",
            str(real_dir / "Real.Movie.mkv"),
        ]
    )
    fake, real = seed_folder(p, fake_dir), seed_folder(p, real_dir)
    p.arr.link(fake, p.arr.generate(1))
    p.arr.link(real, p.arr.generate(1))

    manager = p.manager(validate_media=True)
    for _ in range(20):  # probes run in the background; a cycle picks up their verdicts
        manager.cycle()
        p.clock.advance(120)
        if blocklist_calls(p) and p.commands(IMPORT[p.kind]):
            break
        time.sleep(0.5)
    calls = blocklist_calls(p)
    everything, _ = p.store.list_actions(instance=p.kind)
    assert len(calls) == 1, [(a.action, a.reason) for a in everything]
    wait_for(lambda: info(api(p.qbit), fake) is None, "the fake to leave qBittorrent")
    actions, _ = p.store.list_actions(instance=p.kind, hash=fake)
    assert any(a.action == "blocklist" and "Fake.Movie.mkv" in a.reason for a in actions), [
        (a.action, a.reason) for a in actions
    ]
    imports = p.commands(IMPORT[p.kind])
    assert [i["downloadClientId"].lower() for i in imports] == [real], "only the real one"
    assert manager.media is not None and manager.media.available

    # Once judged, a quiet cycle neither asks for verdicts nor re-runs the rules: what a
    # probe needs is in the snapshot, and an unchanged torrent keeps last cycle's object.
    for _ in range(3):  # settle: the import's row writes, the queue leaving
        manager.cycle()
        p.clock.advance(5)
        time.sleep(0.5)
    asked: list[str] = []
    result = manager.media.result
    manager.media.result = lambda h: asked.append(h) or result(h)  # type: ignore[method-assign]
    manager.cycle()
    assert asked == [] and manager.memo.evaluated == 0, (asked, manager.memo.evaluated)


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_without_ffprobe_the_manager_keeps_working_and_says_so(
    pipeline: Pipeline, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    empty = workdir / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no ffprobe anywhere
    folder = workdir / "payload-x" / f"Any.Movie.{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    (folder / "Any.Movie.mkv").write_bytes(b"not checked without ffprobe\n" * 1000)
    h = seed_folder(p, folder)
    p.arr.link(h, p.arr.generate(1))
    manager = p.manager(validate_media=True)
    cycles(manager, p.clock, 3, step=120)
    assert manager.media is not None and not manager.media.available
    problem = "ffprobe"
    assert any(problem in x for x in manager.problems())
    state = p.store.get_instance_state(p.kind)
    assert state is not None and problem in (state.error or "")
    # Validation skipped, not failed: the release is imported as without validation.
    assert [i["downloadClientId"].lower() for i in p.commands(IMPORT[p.kind])] == [h]
    assert blocklist_calls(p) == []


@pytest.mark.parametrize("pipeline", ["sonarr"], indirect=True)
def test_auto_delete_cleans_the_extras_after_import_and_never_the_media(
    pipeline: Pipeline, workdir: Path
) -> None:
    p = pipeline
    folder = workdir / "payload-c" / f"Show.S01E01.{uuid.uuid4().hex[:6]}"
    (folder / "Sample").mkdir(parents=True)
    (folder / "Show.S01E01.mkv").write_bytes(b"v" * 40_000)
    (folder / "Show.S01E01.nfo").write_text("info")
    (folder / "Sample" / "sample.mkv").write_bytes(b"s" * 5_000)
    h = seed_folder(p, folder)
    (folder / "leftover.txt").write_text("not part of the torrent")
    p.arr.link(h, p.arr.generate(1))
    manager = p.manager(auto_delete=True)
    # What the manager does while a release downloads: unwanted files get priority 0, so
    # qBittorrent stops seeding them and they may go after the import.
    unwanted = [f["index"] for f in manager.qbit.files(h) if not f["name"].endswith("E01.mkv")]
    manager.qbit.set_file_priority(h, unwanted, 0)
    for _ in range(8):
        manager.cycle()
        p.clock.advance(120)
        p.arr.finish_commands()  # the Arr imports: its queue record goes away
        row = p.store.get_torrent(p.kind, h)
        if row is not None and row.imported and not (folder / "Show.S01E01.nfo").exists():
            break
    row = p.store.get_torrent(p.kind, h)
    assert row is not None and row.imported
    assert (folder / "Show.S01E01.mkv").exists(), "the media is never deleted"
    actions, _ = p.store.list_actions(instance=p.kind, hash=h)
    assert not (folder / "Show.S01E01.nfo").exists(), (
        [(a.action, a.status, a.reason, a.error) for a in actions],
        [(f["name"], f["priority"]) for f in manager.qbit.files(h)],
    )
    assert not (folder / "Sample").exists()
    assert not (folder / "leftover.txt").exists()
    actions, _ = p.store.list_actions(instance=p.kind, hash=h)
    cleanups = [a for a in actions if a.action == "cleanup"]
    assert [a.status for a in cleanups] == ["done"]
