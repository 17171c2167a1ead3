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
