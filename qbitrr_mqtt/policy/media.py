"""Media validation in the policy (issue 10): what to probe, failed probes, the import gate.

The probing itself (ffprobe in a thread pool, with a cache) is ``qbitrr_mqtt.media.probe``;
this module only decides, from plain data:

- ``probe_request``: which files of a finished torrent the manager should hand to the
  validator (the wanted media files actually downloaded, as absolute paths) and as what
  kind (video for Radarr/Sonarr, audio for Lidarr). None when nothing is to be probed.
- ``unplayable_candidate``: a failed ``MediaVerdict`` (or names in ``unplayable``) makes
  the torrent a removal candidate: blocklist and re-search, before any import trigger.
- ``gate_import``: with ``validate_media`` on, the import command waits for a passing
  verdict; while it waits, a HOLD note says so. A torrent with nothing to probe (no wanted
  media file, e.g. allowed archives) is not held.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

from . import text
from .files import INCOMPLETE_SUFFIX, FileKind, classify, verdict_removal
from .imports import SEEDING_STATES
from .types import Action, Context, Decision, Rule, TorrentSnapshot

MediaKind = Literal["video", "audio"]


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """What to pass to ``MediaValidator.submit(hash, paths, kind, expected_seconds)``:
    ``expected_seconds`` is how long the files should play together (the sum of the queue
    records' ``runtime``), None when the Arr did not say for every record."""

    paths: tuple[str, ...]
    kind: MediaKind
    expected_seconds: float | None = None


def media_kind(ctx: Context) -> MediaKind:
    """The stream a media file of this instance must have: audio for Lidarr, else video."""
    return "audio" if ctx.arr_type == "lidarr" else "video"


def probe_targets(snap: TorrentSnapshot, ctx: Context) -> tuple[str, ...]:
    """Absolute paths of the wanted media files qBittorrent downloaded (priority > 0).

    Names are joined to ``save_path`` as qBittorrent does, without the ``.!qB`` suffix a
    list fetched mid-download may still carry; a name that would climb out of the save path
    (``..``) is left out rather than probed.
    """
    if not snap.files:
        return ()
    base = snap.torrent.save_path
    verdicts = classify(snap.files, snap.torrent.name, ctx.policy, ctx.arr_type)
    out = []
    for v in verdicts:
        if v.kind is not FileKind.MEDIA or not v.wanted or v.file.priority <= 0:
            continue
        rel = posixpath.normpath(v.file.name.replace("\\", "/"))
        if rel.lower().endswith(INCOMPLETE_SUFFIX):
            rel = rel[: -len(INCOMPLETE_SUFFIX)]
        if rel.startswith(("../", "/")) or rel == "..":
            continue
        out.append(posixpath.join(base, rel) if base else rel)
    return tuple(out)


def _probe_phase(snap: TorrentSnapshot, ctx: Context) -> bool:
    """Whether the torrent is where validation matters: finished, not yet handed over."""
    t, h = snap.torrent, snap.history
    if not ctx.policy.validate_media or h.imported or h.kept_for_hnr:
        return False
    return t.complete and t.state in SEEDING_STATES and h.import_sent_at is None


def probe_request(snap: TorrentSnapshot, ctx: Context) -> ProbeRequest | None:
    """The files to probe now, or None (validation off, not finished, already judged,
    file list unknown, or no wanted media file)."""
    if snap.media_verdict is not None or snap.files is None or not _probe_phase(snap, ctx):
        return None
    paths = probe_targets(snap, ctx)
    return ProbeRequest(paths, media_kind(ctx), expected_runtime(snap)) if paths else None


def expected_runtime(snap: TorrentSnapshot) -> float | None:
    """How long the torrent's media should play in total, per its Arr queue records."""
    runtimes = [q.runtime for q in snap.queue]
    if not runtimes or any(r is None or r <= 0 for r in runtimes):
        return None
    return float(sum(r for r in runtimes if r is not None))


def unplayable_candidate(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    """Removal (blocklist, re-search) of a torrent whose media failed validation."""
    h = snap.history
    if not ctx.policy.validate_media or h.imported or h.kept_for_hnr:
        return None
    verdict = snap.media_verdict
    if verdict is not None and not verdict.ok:
        reason = f"media does not play: {verdict.reason}"
    elif snap.unplayable:
        reason = f"media does not play: {text.names(list(snap.unplayable))}"
    else:
        return None
    return verdict_removal(snap, ctx, Rule.UNPLAYABLE, reason)


def gate_import(imp: Decision | None, snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    """The import decision as it may run: unchanged, or a HOLD while validation is pending.

    Passes when validation is off, the verdict is ok (including "ffprobe not installed"),
    or the file list is known and holds no wanted media file to probe.
    """
    if imp is None or imp.action is not Action.IMPORT or not ctx.policy.validate_media:
        return imp
    verdict = snap.media_verdict
    if verdict is not None:
        return imp if verdict.ok else None
    if snap.files is not None and not probe_targets(snap, ctx):
        return imp
    why = "the file list is not known yet" if snap.files is None else "ffprobe is checking it"
    return Decision(
        Action.HOLD,
        Rule.IMPORT,
        f"import waits for media validation: {why}",
        hash=imp.hash,
        name=imp.name,
    )
