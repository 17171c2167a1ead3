"""The ffprobe validator against real ffprobe on files made offline with ffmpeg.

Only the timeout test uses a fake "ffprobe" (a shell script that sleeps); the cache and
concurrency tests put a wrapper in front of the real ffprobe that logs each run and, for
the concurrency test, holds it until the test lets it go.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qbitrr_mqtt.media.probe import SKIPPED_NO_FFPROBE, MediaValidator, Verdict

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
WAIT = 60.0


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG or "ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Playable and broken files, generated once."""
    assert FFMPEG and FFPROBE, "ffmpeg/ffprobe are not installed: run make setup"
    d = tmp_path_factory.mktemp("media")
    video = ["-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10"]
    tone = ["-f", "lavfi", "-i", "sine=duration=2"]
    ffmpeg(*video, *tone, "-shortest", str(d / "movie.mp4"))
    ffmpeg(*video, *tone, "-shortest", str(d / "movie.mkv"))
    ffmpeg(*video, str(d / "silent.mkv"))
    ffmpeg(*tone, str(d / "track.mp3"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1", str(d / "cover.jpg"))
    ffmpeg(
        "-i", str(d / "track.mp3"), "-i", str(d / "cover.jpg"), "-map", "0", "-map", "1",
        "-c", "copy", "-id3v2_version", "3", "-disposition:v", "attached_pic",
        str(d / "with-cover.mp3"),
    )  # fmt: skip
    (d / "text.mkv").write_text("This is a text file, renamed: not a movie.\n" * 20)
    data = (d / "movie.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "zero.mkv").write_bytes(b"")
    # Seeded, not os.urandom: some random buffers happen to look like another format to
    # ffprobe's probing (an MPEG sync word), which changes its error text from run to run.
    (d / "random.mkv").write_bytes(random.Random(20261129).randbytes(64 * 1024))
    shutil.copy(d / "cover.jpg", d / "still.mkv")
    shutil.copy(d / "movie.mkv", d / "-dash.mkv")
    shutil.copy(d / "movie.mkv", d / "concat:colon.mkv")
    return {p.name: p for p in d.iterdir()}


@pytest.fixture
def validators() -> Iterator[Callable[..., MediaValidator]]:
    made: list[MediaValidator] = []

    def make(**kw: object) -> MediaValidator:
        v = MediaValidator(**kw)  # type: ignore[arg-type]
        made.append(v)
        return v

    yield make
    for v in made:
        v.close()


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def verdict_of(v: MediaValidator, h: str) -> Verdict:
    wait_for(lambda: v.result(h) is not None, f"the verdict of {h}")
    verdict = v.result(h)
    assert verdict is not None
    return verdict


def check(
    v: MediaValidator, paths: list[Path], kind: str = "video", expected: float | None = None
) -> Verdict:
    h = f"h{time.monotonic_ns()}"
    v.submit(h, [str(p) for p in paths], kind, expected)  # type: ignore[arg-type]
    return verdict_of(v, h)


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# ---- verdicts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (["movie.mp4"], "video"),
        (["movie.mkv", "silent.mkv"], "video"),
        (["-dash.mkv", "concat:colon.mkv"], "video"),
        (["track.mp3", "with-cover.mp3"], "audio"),
        (["movie.mkv"], "audio"),
    ],
)
def test_playable_media_passes(
    media: dict[str, Path], validators, names: list[str], kind: str
) -> None:
    verdict = check(validators(), [media[n] for n in names], kind)
    assert verdict == Verdict(True, f"{len(names)} media file(s) probed ok")


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        (
            "text.mkv",
            "video",
            "text.mkv: Invalid data found when processing input (EBML header parsing failed)",
        ),
        (
            "truncated.mp4",
            "video",
            "truncated.mp4: Invalid data found when processing input (moov atom not found)",
        ),
        (
            "zero.mkv",
            "video",
            "zero.mkv: Invalid data found when processing input (EBML header parsing failed)",
        ),
        (
            "random.mkv",
            "video",
            "random.mkv: Invalid data found when processing input (EBML header parsing failed)",
        ),
        ("still.mkv", "video", "still.mkv: a picture or text, not a video file"),
        ("track.mp3", "video", "track.mp3: no video stream (audio only)"),
        ("with-cover.mp3", "video", "with-cover.mp3: no video stream (audio only)"),
        ("silent.mkv", "audio", "silent.mkv: no audio stream"),
        (
            "text.mkv",
            "audio",
            "text.mkv: Invalid data found when processing input (EBML header parsing failed)",
        ),
    ],
)
def test_broken_media_fails_naming_the_file(
    media: dict[str, Path], validators, name: str, kind: str, reason: str
) -> None:
    verdict = check(validators(), [media[name]], kind)
    assert verdict == Verdict(False, reason, str(media[name]))


def test_one_bad_file_fails_the_pack(media: dict[str, Path], validators) -> None:
    verdict = check(validators(), [media["movie.mkv"], media["random.mkv"], media["movie.mp4"]])
    assert not verdict.ok and verdict.file == str(media["random.mkv"])
    assert verdict.reason.startswith("random.mkv: Invalid data found")


@pytest.mark.parametrize(
    ("names", "expected", "ratio", "ok", "reason"),
    [
        (["movie.mkv"], None, 0.5, True, "1 media file(s) probed ok"),
        (["movie.mkv"], 3.0, 0.5, True, "1 media file(s) probed ok"),
        (["movie.mkv"], 3.0, 0.9, False, "movie.mkv: plays 2 s, far below the expected 3 s"),
        (["movie.mkv"], 7200.0, 0.5, False, "movie.mkv: plays 2 s, far below the expected 2 h"),
        (["movie.mkv", "movie.mp4"], 5.0, 0.75, True, "2 media file(s) probed ok"),
        (
            ["movie.mkv", "movie.mp4"],
            10.0,
            0.5,
            False,
            "movie.mkv, movie.mp4: play 4 s together, far below the expected 10 s",
        ),
    ],
)
def test_duration_far_below_expectation_fails(
    media: dict[str, Path],
    validators,
    names: list[str],
    expected: float | None,
    ratio: float,
    ok: bool,
    reason: str,
) -> None:
    paths = [media[n] for n in names]
    verdict = check(validators(min_duration_ratio=ratio), paths, "video", expected)
    assert verdict == Verdict(ok, reason, None if ok else str(paths[0]))


def test_missing_file_is_skipped_not_failed(
    media: dict[str, Path], validators, tmp_path: Path
) -> None:
    gone = tmp_path / "not-here.mkv"
    verdict = check(validators(), [media["movie.mkv"], gone])
    assert verdict == Verdict(
        True, "1 media file(s) probed ok; not-here.mkv not found here: validation skipped"
    )


def test_submit_is_idempotent_and_nothing_to_probe_passes(
    media: dict[str, Path], validators
) -> None:
    v = validators()
    v.submit("a", [str(media["movie.mkv"])], "video")
    v.submit("a", [str(media["random.mkv"])], "video")  # ignored: "a" is known
    assert verdict_of(v, "a").ok
    v.forget("a")
    assert v.result("a") is None
    v.submit("a", [str(media["random.mkv"])], "video")
    assert not verdict_of(v, "a").ok
    v.submit("empty", [], "video")
    assert v.result("empty") == Verdict(True, "no media file to probe")
    v.retain(["empty"])
    assert v.result("a") is None and v.result("empty") is not None
    with pytest.raises(ValueError, match="kind must be 'video' or 'audio'"):
        v.submit("b", [], "picture")  # type: ignore[arg-type]


# ---- cache ----------------------------------------------------------------------------


def counting_wrapper(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "runs.log"
    wrapper = script(tmp_path / "ffprobe", f'echo run >> "{log}"\nexec "{FFPROBE}" "$@"\n')
    return wrapper, log


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_cache_by_path_size_and_mtime(media: dict[str, Path], validators, tmp_path: Path) -> None:
    wrapper, log = counting_wrapper(tmp_path)
    movie = tmp_path / "movie.mkv"
    shutil.copy(media["movie.mkv"], movie)
    cache: dict = {}
    v = validators(ffprobe=str(wrapper), cache=cache)
    assert check(v, [movie]).ok
    assert (runs(log), v.stats.runs, v.stats.cache_hits) == (1, 1, 0)
    assert check(v, [movie]).ok  # another torrent, same file: no ffprobe run
    assert (runs(log), v.stats.runs, v.stats.cache_hits) == (1, 1, 1)
    assert list(cache) == [(str(movie), movie.stat().st_size, movie.stat().st_mtime_ns)]

    other = validators(ffprobe=str(wrapper), cache=cache)  # e.g. after a restart, store-backed
    assert check(other, [movie]).ok
    assert (runs(log), other.stats.runs, other.stats.cache_hits) == (1, 0, 1)

    st = movie.stat()
    os.utime(movie, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # replaced file
    assert check(v, [movie]).ok
    assert runs(log) == 2 and len(cache) == 2


def test_failures_are_cached_too(media: dict[str, Path], validators, tmp_path: Path) -> None:
    wrapper, log = counting_wrapper(tmp_path)
    v = validators(ffprobe=str(wrapper))
    first, second = check(v, [media["random.mkv"]]), check(v, [media["random.mkv"]])
    assert not first.ok and second == first and runs(log) == 1


# ---- concurrency and timeout ----------------------------------------------------------


def test_at_most_max_workers_probes_run_and_the_caller_never_waits(
    media: dict[str, Path], validators, tmp_path: Path
) -> None:
    running, release, log = tmp_path / "running", tmp_path / "release", tmp_path / "seen.log"
    running.mkdir()
    gate = script(
        tmp_path / "ffprobe",
        f'touch "{running}/$$"\n'
        f'ls "{running}" | wc -l >> "{log}"\n'
        f'while [ ! -e "{release}" ]; do sleep 0.02; done\n'
        f'"{FFPROBE}" "$@"; rc=$?\n'
        f'rm -f "{running}/$$"\n'
        "exit $rc\n",
    )
    files = []
    for i in range(6):
        files.append(tmp_path / f"copy{i}.mkv")
        shutil.copy(media["movie.mkv"], files[-1])
    v = validators(max_workers=2, ffprobe=str(gate))
    for i in range(3):
        v.submit(f"t{i}", [str(files[2 * i]), str(files[2 * i + 1])], "video")
    wait_for(lambda: len(list(running.iterdir())) == 2, "two probes to start")
    with pytest.raises(AssertionError):  # held probes: a third one must not start
        wait_for(lambda: len(list(running.iterdir())) > 2, "a third probe", timeout=1.0)
    assert [v.result(f"t{i}") for i in range(3)] == [None, None, None]  # answers at once
    assert v.stats.running == 2
    release.touch()
    assert all(verdict_of(v, f"t{i}").ok for i in range(3))
    seen = [int(line) for line in log.read_text().split()]
    assert len(seen) == 6 and max(seen) <= 2
    assert v.stats.max_running == 2 and v.stats.runs == 6


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_timeout_kills_the_probe_and_its_children(
    media: dict[str, Path], validators, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    slow = script(tmp_path / "ffprobe", f'sleep 600 &\necho $$ $! > "{pids}"\nwait\n')
    v = validators(timeout=1, ffprobe=str(slow))
    verdict = check(v, [media["movie.mkv"]])
    assert verdict == Verdict(
        False, "movie.mkv: ffprobe timed out after 1 s", str(media["movie.mkv"])
    )
    assert v.stats.timeouts == 1
    shell, child = (int(p) for p in pids.read_text().split())
    wait_for(lambda: not alive(shell) and not alive(child), "the slow probe to be killed")
    assert not check(v, [media["movie.mkv"]]).ok  # a timeout is not cached: tried again
    assert v.stats.runs == 2


def test_close_kills_running_probes(media: dict[str, Path], tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    slow = script(tmp_path / "ffprobe", f'sleep 600 &\necho $$ $! > "{pids}"\nwait\n')
    v = MediaValidator(timeout=600, ffprobe=str(slow))
    v.submit("t", [str(media["movie.mkv"])], "video")
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, "the probe to start")
    shell, child = (int(p) for p in pids.read_text().split())
    v.close()
    wait_for(lambda: not alive(shell) and not alive(child), "the probe to be killed")


# ---- ffprobe missing ------------------------------------------------------------------


def test_ffprobe_missing_skips_validation_with_one_warning(
    media: dict[str, Path], validators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with caplog.at_level(logging.WARNING, logger="qbitrr.media"):
        v = validators()
        for i in range(3):
            v.submit(f"t{i}", [str(media["random.mkv"])], "video")
    assert not v.available
    assert v.problem == "ffprobe not installed: media validation is skipped (install ffmpeg)"
    assert [v.result(f"t{i}") for i in range(3)] == [Verdict(True, SKIPPED_NO_FFPROBE)] * 3
    assert v.stats.runs == 0
    assert [r.getMessage() for r in caplog.records] == [v.problem]


def test_ffprobe_removed_while_running(
    media: dict[str, Path], validators, tmp_path: Path, caplog
) -> None:
    wrapper, _ = counting_wrapper(tmp_path)
    v = validators(ffprobe=str(wrapper))
    assert v.available and v.problem is None
    wrapper.unlink()
    with caplog.at_level(logging.WARNING, logger="qbitrr.media"):
        assert check(v, [media["random.mkv"]]) == Verdict(True, SKIPPED_NO_FFPROBE)
        assert check(v, [media["random.mkv"]]) == Verdict(True, SKIPPED_NO_FFPROBE)
    assert not v.available and len(caplog.records) == 1


def test_bad_settings_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1"):
        MediaValidator(max_workers=0)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        MediaValidator(timeout=0)
    with pytest.raises(ValueError, match="min_duration_ratio must be between 0 and 1"):
        MediaValidator(min_duration_ratio=2)
