"""ffprobe validation of downloaded media, off the manager's cycle.

The manager calls, every cycle and without waiting:

- ``submit(hash, paths, kind, expected_seconds)`` for a finished torrent (the paths and kind
  come from ``policy.probe_request``); a second submit for the same hash does nothing;
- ``result(hash)``: None while probing, then a ``Verdict`` (``policy.MediaVerdict``) to put
  in the torrent's snapshot as ``media_verdict``;
- ``forget(hash)`` / ``retain(hashes)`` when torrents leave, ``close()`` on shutdown.

Each file is probed once per (path, size, mtime) thanks to ``cache`` (any mutable mapping:
a dict, or one backed by the store; values are ``ProbeFacts``). Probes run in a thread pool
of ``max_workers`` ffprobe processes, each killed (its whole process group) after
``timeout`` seconds.

A file fails when ffprobe cannot read it ("Invalid data found when processing input"), when
it is a still image or text rather than media, when it has no stream of the expected kind
(cover art does not count as video), or when ffprobe times out; and the torrent fails when
its files together play far shorter than expected (``total < min_duration_ratio *
expected_seconds``: a CD1/CD2 movie or a season pack counts as a whole). Reasons
name the file. Files that are not there or not readable from here are skipped (a path
mapping problem is not the release's fault), as is everything when ffprobe is not
installed: then ``available`` is False, ``problem`` says so for health, one warning is
logged and verdicts are ok with the reason ``SKIPPED_NO_FFPROBE``. Nothing here raises into
the manager.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ..policy import text
from ..policy.types import MediaVerdict

log = logging.getLogger("qbitrr.media")

#: The verdict type the policy reads (``TorrentSnapshot.media_verdict``).
Verdict = MediaVerdict
MediaKind = Literal["video", "audio"]
#: Cache key: (path, size in bytes, mtime in nanoseconds).
CacheKey = tuple[str, int, int]

SKIPPED_NO_FFPROBE = "ffprobe not installed: validation skipped"
PROBLEM_NO_FFPROBE = "ffprobe not installed: media validation is skipped (install ffmpeg)"
_ENTRIES = "format=format_name,duration:stream=codec_type,duration:stream_disposition=attached_pic"
#: Containers that hold a picture or text, never playable media.
_STILL_FORMATS = frozenset({"image2", "tty", "ico", "gif", "webp", "svg"})
_LOG_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-fA-F]+\]\s*")


@dataclass(frozen=True, slots=True)
class ProbeFacts:
    """What one ffprobe run found in a file; cached, judged per request."""

    error: str | None = None
    video: bool = False
    audio: bool = False
    still: bool = False
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class _Skipped:
    """A file that could not be judged (not the release's fault)."""

    reason: str


@dataclass
class ProbeStats:
    """Counters for health and tests: ffprobe runs, cache hits, timeouts, concurrency."""

    runs: int = 0
    cache_hits: int = 0
    timeouts: int = 0
    running: int = 0
    max_running: int = 0


@dataclass
class _Job:
    paths: tuple[str, ...]
    kind: MediaKind
    expected: float | None
    futures: list[Future[ProbeFacts | _Skipped]] = field(default_factory=list)
    verdict: Verdict | None = None


class MediaValidator:
    """Probes the media of finished torrents in the background; see the module docstring."""

    def __init__(
        self,
        max_workers: int = 2,
        timeout: float = 30,
        cache: MutableMapping[CacheKey, ProbeFacts] | None = None,
        *,
        ffprobe: str = "ffprobe",
        min_duration_ratio: float = 0.5,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        if not 0 <= min_duration_ratio <= 1:
            raise ValueError(
                f"min_duration_ratio must be between 0 and 1, got {min_duration_ratio}"
            )
        self.timeout = float(timeout)
        self.min_duration_ratio = min_duration_ratio
        self.cache: MutableMapping[CacheKey, ProbeFacts] = {} if cache is None else cache
        self.stats = ProbeStats()
        self._ffprobe = shutil.which(ffprobe)
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._warned = False
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ffprobe")
        if self._ffprobe is None:
            self._missing()

    # --- the manager's API -------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether ffprobe can be run (False: validation is skipped)."""
        return self._ffprobe is not None

    @property
    def problem(self) -> str | None:
        """A health problem to report (API, MQTT, HA problem sensor), or None."""
        return None if self.available else PROBLEM_NO_FFPROBE

    def submit(
        self,
        hash: str,
        paths: Sequence[str],
        kind: MediaKind,
        expected_seconds: float | None = None,
    ) -> None:
        """Start probing ``paths`` for torrent ``hash`` unless already submitted; never blocks.

        ``expected_seconds`` is how long the files should play together (the Arr's movie
        runtime, the episodes' runtimes summed, the album duration: see
        ``policy.ProbeRequest``); None skips the duration check.
        """
        if kind not in ("video", "audio"):
            raise ValueError(f"kind must be 'video' or 'audio', got {kind!r}")
        with self._lock:
            if hash in self._jobs or self._closed:
                return
            job = _Job(tuple(paths), kind, expected_seconds)
            self._jobs[hash] = job
            if not self.available:
                job.verdict = Verdict(True, SKIPPED_NO_FFPROBE)
            elif not job.paths:
                job.verdict = Verdict(True, "no media file to probe")
            else:
                job.futures = [self._pool.submit(self._probe_file, p) for p in job.paths]

    def result(self, hash: str) -> Verdict | None:
        """The torrent's verdict, or None while probing (or when never submitted)."""
        with self._lock:
            job = self._jobs.get(hash)
            if job is None:
                return None
            if job.verdict is None:
                job.verdict = self._judge(job)
            return job.verdict

    def forget(self, hash: str) -> None:
        """Drop what is known about a torrent (it left qBittorrent, or must be probed again)."""
        with self._lock:
            job = self._jobs.pop(hash, None)
        for future in job.futures if job else ():
            future.cancel()

    def retain(self, hashes: Iterable[str]) -> None:
        """Forget every torrent not in ``hashes``."""
        keep = set(hashes)
        with self._lock:
            gone = [h for h in self._jobs if h not in keep]
        for h in gone:
            self.forget(h)

    def close(self) -> None:
        """Stop: cancel queued probes and kill running ffprobe processes."""
        with self._lock:
            self._closed = True
            procs = list(self._procs)
        for proc in procs:
            _kill(proc)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- judging -----------------------------------------------------------------------

    def _judge(self, job: _Job) -> Verdict | None:
        """The verdict once every file is done, or at the first failure; else None."""
        outcomes: list[ProbeFacts | _Skipped | None] = []
        for path, future in zip(job.paths, job.futures, strict=True):
            outcome = _outcome(future, path)
            if isinstance(outcome, ProbeFacts):
                failure = self._failure(outcome, path, job)
                if failure is not None:
                    for other in job.futures:
                        other.cancel()
                    return Verdict(False, failure, path)
            outcomes.append(outcome)
        if any(o is None for o in outcomes):
            return None
        facts = [o for o in outcomes if isinstance(o, ProbeFacts)]
        short = self._too_short(job, facts)
        if short is not None:
            return short
        probed = len(facts)
        skipped = list(dict.fromkeys(o.reason for o in outcomes if isinstance(o, _Skipped)))
        parts = [f"{probed} media file(s) probed ok"] if probed else []
        return Verdict(True, "; ".join(parts + skipped))

    def _failure(self, facts: ProbeFacts, path: str, job: _Job) -> str | None:
        name = os.path.basename(path)
        if facts.error is not None:
            return f"{name}: {facts.error}"
        if facts.still:
            return f"{name}: a picture or text, not a {job.kind} file"
        if job.kind == "video" and not facts.video:
            return f"{name}: no video stream" + (" (audio only)" if facts.audio else "")
        if job.kind == "audio" and not facts.audio:
            return f"{name}: no audio stream"
        return None

    def _too_short(self, job: _Job, facts: list[ProbeFacts]) -> Verdict | None:
        """Fails when the files together play far less than ``expected`` (only when every
        file was probed and has a duration: a partial sum would be unfair)."""
        expected = job.expected
        durations = [f.duration for f in facts]
        if not expected or len(facts) != len(job.paths) or None in durations:
            return None
        total = sum(d for d in durations if d is not None)
        if total >= self.min_duration_ratio * expected:
            return None
        names = [os.path.basename(p) for p in job.paths]
        plays = (
            f"plays {text.duration(total)}"
            if len(names) == 1
            else (f"play {text.duration(total)} together")
        )
        reason = f"{text.names(names)}: {plays}, far below the expected {text.duration(expected)}"
        return Verdict(False, reason, job.paths[0])

    # --- probing (pool threads) --------------------------------------------------------

    def _probe_file(self, path: str) -> ProbeFacts | _Skipped:
        name = os.path.basename(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return _Skipped(f"{name} not found here: validation skipped")
        except OSError as exc:
            return _Skipped(f"{name} not readable ({exc.strerror}): validation skipped")
        key: CacheKey = (path, st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self.cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
                return cached
        outcome, cacheable = self._run(path)
        if cacheable and isinstance(outcome, ProbeFacts):
            with self._lock:
                self.cache[key] = outcome
        return outcome

    def _run(self, path: str) -> tuple[ProbeFacts | _Skipped, bool]:
        """One ffprobe run: (outcome, whether it may be cached)."""
        if self._ffprobe is None or self._closed:
            return _Skipped(SKIPPED_NO_FFPROBE), False
        cmd = [self._ffprobe, "-v", "error", "-print_format", "json", "-show_entries", _ENTRIES]
        # ``file:`` keeps names like "-x.mkv" or "concat:..." from being read as options/URLs.
        cmd.append(f"file:{path}")
        with self._lock:
            self.stats.runs += 1
            self.stats.running += 1
            self.stats.max_running = max(self.stats.max_running, self.stats.running)
        try:
            return self._communicate(cmd, path)
        finally:
            with self._lock:
                self.stats.running -= 1

    def _communicate(self, cmd: list[str], path: str) -> tuple[ProbeFacts | _Skipped, bool]:
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError:
            self._ffprobe = None
            self._missing()
            return _Skipped(SKIPPED_NO_FFPROBE), False
        except OSError as exc:
            return _Skipped(f"ffprobe could not start ({exc.strerror}): validation skipped"), False
        with self._lock:
            self._procs.add(proc)
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.communicate()
            with self._lock:
                self.stats.timeouts += 1
            return ProbeFacts(error=f"ffprobe timed out after {self.timeout:g} s"), False
        finally:
            with self._lock:
                self._procs.discard(proc)
        if proc.returncode < 0:
            return _Skipped(f"ffprobe was stopped (signal {-proc.returncode})"), False
        return parse_ffprobe(proc.returncode, out, err, path), True

    def _missing(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(PROBLEM_NO_FFPROBE)


def parse_ffprobe(returncode: int, out: bytes, err: bytes, path: str) -> ProbeFacts:
    """ffprobe's JSON (``-show_entries`` of this module) as ``ProbeFacts``."""
    if returncode != 0:
        return ProbeFacts(
            error=_error_text(err, path) or f"ffprobe exited with status {returncode}"
        )
    try:
        doc = json.loads(out or b"{}")
    except ValueError:
        return ProbeFacts(error="ffprobe gave unreadable output")
    streams = [s for s in doc.get("streams", []) if isinstance(s, dict)]
    fmt = doc.get("format", {}) if isinstance(doc.get("format"), dict) else {}
    video = any(
        s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
        for s in streams
    )
    audio = any(s.get("codec_type") == "audio" for s in streams)
    format_name = str(fmt.get("format_name", ""))
    still = format_name in _STILL_FORMATS or format_name.endswith("_pipe")
    duration = _seconds(fmt.get("duration"))
    if duration is None:
        known = [d for d in (_seconds(s.get("duration")) for s in streams) if d is not None]
        duration = max(known, default=None)
    return ProbeFacts(video=video, audio=audio, still=still, duration=duration)


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def _error_text(err: bytes, path: str) -> str:
    """ffprobe's last error line without the file name, with the line before it as detail:
    ``Invalid data found when processing input (moov atom not found)``."""
    lines = []
    for raw in err.decode("utf-8", "replace").splitlines():
        line = _LOG_PREFIX.sub("", raw.strip())
        for prefix in (f"file:{path}: ", f"{path}: "):
            line = line.removeprefix(prefix)
        if line:
            lines.append(line)
    if not lines:
        return ""
    main = lines[-1][:200]
    return f"{main} ({lines[-2][:200]})" if len(lines) > 1 else main


def _outcome(future: Future[ProbeFacts | _Skipped], path: str) -> ProbeFacts | _Skipped | None:
    """A finished probe's outcome, None while it runs; a crash skips (and is logged)."""
    if future.cancelled() or not future.done():
        return None  # cancelled: only on forget/close, where nobody asks again
    exc = future.exception()
    if exc is not None:
        log.error("probing %s failed unexpectedly", path, exc_info=exc)
        return _Skipped(f"{os.path.basename(path)}: probe error ({exc}): validation skipped")
    return future.result()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill ffprobe and anything it started (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
