"""File classification and filtering (issue 10).

Each file is classified by its extension and path:

- ``dangerous``: the last extension (after dropping qBittorrent's ``.!qB``) is one of
  ``executable_extensions``, compared case-insensitively: ``Movie.2020.mkv.exe`` and
  ``SETUP.EXE`` are dangerous. A torrent with one is removed, blocklisted and searched
  again at once, whatever the file's priority (the release is what is bad).
- ``media``: video (Radarr/Sonarr) or audio (Lidarr), plus any extension the user listed
  in ``allowed_extensions`` that is not a subtitle, archive or partial-file marker.
- ``extra``: a media file excluded by ``folder_exclusion_regex`` (any folder of its path
  but the torrent's own root folder, whose name is the release name) or by
  ``file_name_exclusion_regex``: samples, trailers, featurettes.
- ``subtitle``, ``archive`` (rar/zip/7z/split parts/disc images), ``partial`` (``.parts``),
  ``other`` (nfo, txt, images, ...).

Wanted files: not dangerous, not excluded by a regex, and with an allowed extension
(``allowed_extensions``, or the built-in list: media of the Arr type, subtitles, ``.!qB``,
``.parts``). When the media-like content of a torrent is only archives, the archives are
wanted under ``archive_policy: allow`` and the torrent is blocklisted under ``blocklist``.
Unwanted files still downloading are set to priority 0. A torrent left without wanted
content (media, or allowed archives; subtitles alone do not count) is removed and
blocklisted. Nothing here runs before the file list is known (metadata) or after import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from qbitrr_mqtt.config.models import ArrType, Policy

from . import text
from .types import Action, Context, Decision, FileView, Rule, TorrentSnapshot

VIDEO_EXTENSIONS = frozenset(
    [
        ".mkv",
        ".mp4",
        ".m4v",
        ".avi",
        ".mov",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".m2ts",
        ".mts",
        ".ts",
        ".webm",
        ".flv",
        ".vob",
        ".ogv",
        ".divx",
        ".xvid",
        ".3gp",
        ".asf",
        ".rmvb",
        ".strm",
    ]
)
AUDIO_EXTENSIONS = frozenset(
    [
        ".flac",
        ".mp3",
        ".m4a",
        ".m4b",
        ".aac",
        ".ogg",
        ".oga",
        ".opus",
        ".wav",
        ".wma",
        ".alac",
        ".ape",
        ".wv",
        ".aiff",
        ".aif",
        ".dsf",
        ".dff",
        ".mka",
        ".mpc",
    ]
)
SUBTITLE_EXTENSIONS = frozenset([".srt", ".ass", ".ssa", ".sub", ".idx", ".vtt", ".sup", ".smi"])
ARCHIVE_EXTENSIONS = frozenset(
    [
        ".rar",
        ".zip",
        ".7z",
        ".tar",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".iso",
        ".img",
        ".bin",
        ".cab",
        ".arj",
        ".lzh",
    ]
)
#: Split archive parts: .r00, .r01 ..., .001, .002 ...
_SPLIT_ARCHIVE = re.compile(r"^\.(r\d{2,3}|\d{3})$")
INCOMPLETE_SUFFIX = ".!qb"
PARTS_EXTENSION = ".parts"


class FileKind(StrEnum):
    MEDIA = "media"
    SUBTITLE = "subtitle"
    EXTRA = "extra"
    ARCHIVE = "archive"
    DANGEROUS = "dangerous"
    PARTIAL = "partial"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FileVerdict:
    file: FileView
    kind: FileKind
    ext: str
    wanted: bool
    why: str = ""


def split_name(name: str) -> tuple[list[str], str, str]:
    """``(folders, base name, extension)``; ``.!qB`` is dropped, the extension lower-cased."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    base = parts[-1] if parts else ""
    if base.lower().endswith(INCOMPLETE_SUFFIX) and len(base) > len(INCOMPLETE_SUFFIX):
        base = base[: -len(INCOMPLETE_SUFFIX)]
    dot = base.rfind(".")
    ext = base[dot:].lower() if dot != -1 and dot < len(base) - 1 else ""
    return parts[:-1], base, ext


def media_extensions(policy: Policy, arr_type: ArrType) -> frozenset[str]:
    builtin = AUDIO_EXTENSIONS if arr_type == "lidarr" else VIDEO_EXTENSIONS
    if policy.allowed_extensions is None:
        return builtin
    listed = {e.lower() for e in policy.allowed_extensions}
    special = SUBTITLE_EXTENSIONS | ARCHIVE_EXTENSIONS | {INCOMPLETE_SUFFIX, PARTS_EXTENSION}
    return builtin | frozenset(e for e in listed if e not in special and not is_archive(e))


def allowed_extensions(policy: Policy, arr_type: ArrType) -> frozenset[str]:
    if policy.allowed_extensions is not None:
        return frozenset(e.lower() for e in policy.allowed_extensions)
    builtin = AUDIO_EXTENSIONS if arr_type == "lidarr" else VIDEO_EXTENSIONS
    return builtin | SUBTITLE_EXTENSIONS | {INCOMPLETE_SUFFIX, PARTS_EXTENSION}


def is_archive(ext: str) -> bool:
    return ext in ARCHIVE_EXTENSIONS or bool(_SPLIT_ARCHIVE.match(ext))


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...], case_sensitive: bool) -> tuple[re.Pattern[str], ...]:
    flags = 0 if case_sensitive else re.IGNORECASE
    return tuple(re.compile(p, flags) for p in patterns)


def exclusion(name: str, torrent_name: str, policy: Policy) -> str | None:
    """Which exclusion regex drops this file, or None."""
    folders, base, _ = split_name(name)
    if folders and torrent_name and folders[0].casefold() == torrent_name.casefold():
        folders = folders[1:]
    case = policy.case_sensitive_matches
    for folder in folders:
        for rx in _compiled(policy.folder_exclusion_regex, case):
            if rx.search(folder):
                return f"folder {folder!r} excluded"
    for rx in _compiled(policy.file_name_exclusion_regex, case):
        if rx.search(base):
            return f"name matches {rx.pattern!r}"
    return None


def classify(
    files: Sequence[FileView], torrent_name: str, policy: Policy, arr_type: ArrType
) -> tuple[FileVerdict, ...]:
    """Kind and wantedness of every file of one torrent."""
    dangerous = {e.lower() for e in policy.executable_extensions}
    media = media_extensions(policy, arr_type)
    allowed = allowed_extensions(policy, arr_type)
    first: list[tuple[FileView, FileKind, str, str | None]] = []
    for f in files:
        _, _, ext = split_name(f.name)
        excluded = exclusion(f.name, torrent_name, policy)
        if ext in dangerous:
            kind = FileKind.DANGEROUS
        elif ext == PARTS_EXTENSION:
            kind = FileKind.PARTIAL
        elif ext in SUBTITLE_EXTENSIONS:
            kind = FileKind.SUBTITLE
        elif ext in media:
            kind = FileKind.EXTRA if excluded else FileKind.MEDIA
        elif is_archive(ext):
            kind = FileKind.ARCHIVE
        else:
            kind = FileKind.OTHER
        first.append((f, kind, ext, excluded))
    archive_only = not any(k is FileKind.MEDIA for _, k, _, _ in first)
    allow_archives = archive_only and policy.archive_policy == "allow"
    out = []
    for f, kind, ext, excluded in first:
        if kind is FileKind.DANGEROUS:
            out.append(FileVerdict(f, kind, ext, False, f"dangerous extension {ext}"))
        elif excluded:
            out.append(FileVerdict(f, kind, ext, False, excluded))
        elif ext in allowed or (kind is FileKind.ARCHIVE and allow_archives):
            out.append(FileVerdict(f, kind, ext, True))
        else:
            out.append(FileVerdict(f, kind, ext, False, f"extension {ext or '(none)'} not allowed"))
    return tuple(out)


def verdict_removal(snap: TorrentSnapshot, ctx: Context, rule: Rule, reason: str) -> Decision:
    """A removal for wrong content: blocklist, delete from the client, re-search per policy."""
    t = snap.torrent
    return Decision(
        action=Action.REMOVE,
        rule=rule,
        reason=reason,
        hash=t.hash,
        name=t.name,
        blocklist=True,
        re_search=ctx.policy.re_search,
        delete_from_client=True,
        queue_ids=snap.queue_ids,
        media_ids=snap.media_ids,
    )


def _applies(snap: TorrentSnapshot) -> bool:
    h = snap.history
    return bool(snap.files) and not h.imported and not h.kept_for_hnr


def dangerous_candidate(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    """Removal (blocklist, re-search) of a torrent holding a dangerous file, naming it."""
    if not _applies(snap):
        return None
    assert snap.files is not None
    verdicts = classify(snap.files, snap.torrent.name, ctx.policy, ctx.arr_type)
    bad = [v.file.name for v in verdicts if v.kind is FileKind.DANGEROUS]
    if not bad:
        return None
    return verdict_removal(snap, ctx, Rule.DANGEROUS_FILE, f"dangerous file: {text.names(bad)}")


def content_candidate(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    """Removal of an archive-only torrent (``archive_policy: blocklist``) or of one with no
    wanted content left."""
    if not _applies(snap):
        return None
    assert snap.files is not None
    verdicts = classify(snap.files, snap.torrent.name, ctx.policy, ctx.arr_type)
    kinds = {v.kind for v in verdicts}
    if (
        ctx.policy.archive_policy == "blocklist"
        and FileKind.MEDIA not in kinds
        and FileKind.ARCHIVE in kinds
    ):
        archives = [v.file.name for v in verdicts if v.kind is FileKind.ARCHIVE]
        return verdict_removal(
            snap, ctx, Rule.ARCHIVE, f"only archives, no media: {text.names(archives)}"
        )
    content = [
        v for v in verdicts if v.wanted and v.kind not in (FileKind.SUBTITLE, FileKind.PARTIAL)
    ]
    if not content:
        dropped = [f"{v.file.name} ({v.why or v.kind.value})" for v in verdicts]
        return verdict_removal(
            snap, ctx, Rule.NO_WANTED_FILES, f"no wanted file: {text.names(dropped)}"
        )
    return None


def priority_decision(snap: TorrentSnapshot, ctx: Context) -> Decision | None:
    """Set unwanted files still being downloaded to priority 0 (incomplete torrents only)."""
    if not _applies(snap) or snap.torrent.complete:
        return None
    assert snap.files is not None
    verdicts = classify(snap.files, snap.torrent.name, ctx.policy, ctx.arr_type)
    drop = [v for v in verdicts if not v.wanted and v.file.priority > 0]
    if not drop:
        return None
    t = snap.torrent
    listed = [f"{v.file.name}: {v.why}" for v in drop]
    return Decision(
        action=Action.SET_FILE_PRIORITY,
        rule=Rule.FILE_FILTER,
        reason=f"not wanted: {text.names(listed)}",
        hash=t.hash,
        name=t.name,
        file_ids=tuple(v.file.index for v in drop),
        priority=0,
    )
