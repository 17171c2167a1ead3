"""Folder cleanup after import: qBitrr's AutoDelete (``policy.auto_delete``, off by default).

Three steps, so that the part deciding what goes is pure and table-testable:

1. ``scan(content_path)`` lists what is under the torrent's own folder, never following a
   symlink (I/O, read only).
2. ``plan_cleanup(entries, ...)`` decides (pure): a file is deleted when the file rules of
   ``policy.files.classify`` do not want it (samples and extras matching the exclusion
   regexes, nfo/txt/images, unwanted archives, ...) and qBittorrent does not seed it (it is
   not in the torrent, or its priority is 0). Media files are never deleted, nor wanted
   ones (subtitles, allowed extensions). Folders left empty go too, the torrent's folder
   itself never. Symlinks, special files and names that climb out (``..``, absolute) are
   refused, and so is the whole torrent when its content path is not a folder strictly
   inside its save path (a torrent without a folder of its own shares the save path).
3. ``execute_cleanup(plan, dry_run=...)`` deletes, checking every path again right before
   (no symlink, real path still inside the torrent's real folder), and reports what it did
   or, in dry run, would do.

``cleanup_due(snap, ctx)`` says when: auto_delete on, imported, finished, not protected.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..config.models import ArrType, Policy
from ..policy.files import FileKind, classify
from ..policy.guards import is_protected
from ..policy.types import Context, FileView, TorrentSnapshot

EntryKind = Literal["file", "dir", "symlink", "other"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing under the content folder: ``rel`` is its path relative to it."""

    rel: str
    kind: EntryKind


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    """What to delete: absolute paths with the reason, folders deepest first.

    ``kept`` and ``refused`` are ``(relative path, why)``; ``error`` set means nothing at
    all may be deleted for this torrent.
    """

    root: str
    save_path: str
    files: tuple[tuple[str, str], ...] = ()
    dirs: tuple[str, ...] = ()
    kept: tuple[tuple[str, str], ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """What ``execute_cleanup`` deleted (in dry run: would delete) and what it skipped."""

    deleted: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False


def cleanup_due(snap: TorrentSnapshot, ctx: Context) -> bool:
    """Whether the torrent's folder may be cleaned now (the manager does it once)."""
    h = snap.history
    return (
        ctx.policy.auto_delete
        and h.imported
        and snap.torrent.complete
        and snap.files is not None
        and not is_protected(snap, ctx)
    )


def scan(content_path: str) -> tuple[Entry, ...]:
    """Everything under ``content_path`` (empty when it is not a real folder)."""
    if os.path.islink(content_path) or not os.path.isdir(content_path):
        return ()
    out: list[Entry] = []
    for top, dirs, names in os.walk(content_path, followlinks=False):
        for name in dirs:
            path = os.path.join(top, name)
            out.append(
                Entry(_rel(path, content_path), "symlink" if os.path.islink(path) else "dir")
            )
        for name in names:
            path = os.path.join(top, name)
            out.append(Entry(_rel(path, content_path), _kind(path)))
    return tuple(out)


def plan_for_torrent(snap: TorrentSnapshot, ctx: Context) -> CleanupPlan:
    """``scan`` + ``plan_cleanup`` for one torrent as qBittorrent reports it."""
    t = snap.torrent
    return plan_cleanup(
        scan(t.content_path),
        content_path=t.content_path,
        save_path=t.save_path,
        policy=ctx.policy,
        arr_type=ctx.arr_type,
        files=snap.files or (),
    )


def plan_cleanup(
    entries: Sequence[Entry],
    *,
    content_path: str,
    save_path: str,
    policy: Policy,
    arr_type: ArrType,
    files: Sequence[FileView],
) -> CleanupPlan:
    """Decide what to delete under ``content_path``; no file-system access.

    ``files`` is the torrent's file list (names relative to ``save_path``), used to keep
    what qBittorrent still seeds.
    """
    root, save = os.path.normpath(content_path), os.path.normpath(save_path)
    if not content_path or not save_path or not _inside(root, save) or root == save:
        why = f"content path {content_path!r} is not a folder of its own inside the save path {save_path!r}"
        return CleanupPlan(root, save, error=why)
    refused: list[tuple[str, str]] = []
    plain: list[Entry] = []
    for e in entries:
        refusal = _refusal(e, root)
        if refusal:
            refused.append((e.rel, refusal))
        else:
            plain.append(Entry(os.path.normpath(e.rel), e.kind))
    regular = [e for e in plain if e.kind == "file"]
    seeded = {os.path.normpath(f.name) for f in files if f.priority > 0}
    in_torrent = {os.path.normpath(f.name) for f in files}
    torrent_rel = os.path.relpath(root, save)
    views = [FileView(i, e.rel.replace(os.sep, "/")) for i, e in enumerate(regular)]
    kept: list[tuple[str, str]] = []
    delete: list[tuple[str, str]] = []
    for e, v in zip(regular, classify(views, "", policy, arr_type), strict=True):
        name = os.path.join(torrent_rel, e.rel)
        if v.kind is FileKind.MEDIA:
            kept.append((e.rel, "media"))
        elif v.wanted:
            kept.append((e.rel, f"wanted {v.kind.value}"))
        elif name in seeded:
            kept.append((e.rel, "qBittorrent still seeds it"))
        else:
            origin = "" if name in in_torrent else "not in the torrent; "
            delete.append((e.rel, f"{origin}{v.why or v.kind.value}"))
    dirs = _empty_dirs(plain, {rel for rel, _ in delete}, {rel for rel, _ in kept + refused})
    return CleanupPlan(
        root,
        save,
        files=tuple((os.path.join(root, rel), why) for rel, why in delete),
        dirs=tuple(os.path.join(root, d) for d in dirs),
        kept=tuple(kept),
        refused=tuple(refused),
    )


def execute_cleanup(plan: CleanupPlan, *, dry_run: bool = False) -> CleanupResult:
    """Delete the plan's files, then its folders, re-checking each path on disk first."""
    if plan.error:
        return CleanupResult(skipped=((plan.root, plan.error),), dry_run=dry_run)
    root_problem = _root_problem(plan)
    if root_problem:
        return CleanupResult(skipped=((plan.root, root_problem),), dry_run=dry_run)
    real_root = os.path.realpath(plan.root)
    deleted: list[str] = []
    skipped: list[tuple[str, str]] = []
    for path, _ in plan.files:
        problem = _path_problem(path, plan.root, real_root, stat.S_ISREG)
        if problem is None and not dry_run:
            problem = _attempt(os.unlink, path)
        _record(path, problem, deleted, skipped)
    for path in plan.dirs:
        problem = _path_problem(path, plan.root, real_root, stat.S_ISDIR)
        if problem is None and not dry_run:
            problem = _attempt(os.rmdir, path)
        _record(path, problem, deleted, skipped)
    return CleanupResult(tuple(deleted), tuple(skipped), dry_run)


# --- helpers -------------------------------------------------------------------------


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root)


def _kind(path: str) -> EntryKind:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file" if stat.S_ISREG(mode) else "other"


def _inside(path: str, root: str) -> bool:
    """Whether normalised ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _refusal(e: Entry, root: str) -> str | None:
    rel = os.path.normpath(e.rel) if e.rel else ""
    if not rel or rel == "." or os.path.isabs(e.rel):
        return "not a path inside the torrent folder"
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.pardir in e.rel.split(os.sep):
        return "climbs out of the torrent folder ('..')"
    if not _inside(os.path.join(root, rel), root):
        return "outside the torrent folder"
    if e.kind == "symlink":
        return "symlink: never followed nor deleted"
    if e.kind == "other":
        return "not a regular file"
    return None


def _empty_dirs(plain: Sequence[Entry], deleted: set[str], kept: set[str]) -> list[str]:
    """Folders that hold nothing once ``deleted`` is gone, deepest first."""
    dirs = [e.rel for e in plain if e.kind == "dir"]
    blocked: set[str] = set()
    for rel in kept | {e.rel for e in plain if e.kind == "file" and e.rel not in deleted}:
        parent = os.path.dirname(os.path.normpath(rel))
        while parent and parent != os.path.dirname(parent):
            blocked.add(parent)
            parent = os.path.dirname(parent)
    empty = [d for d in dirs if d not in blocked]
    return sorted(empty, key=lambda d: (-d.count(os.sep), d))


def _root_problem(plan: CleanupPlan) -> str | None:
    if os.path.islink(plan.root):
        return "the torrent folder is a symlink: nothing deleted"
    if not os.path.isdir(plan.root):
        return "the torrent folder does not exist"
    real_root, real_save = os.path.realpath(plan.root), os.path.realpath(plan.save_path)
    if real_root == real_save or not _inside(real_root, real_save):
        return "the torrent folder resolves outside its save path: nothing deleted"
    return None


def _path_problem(
    path: str, root: str, real_root: str, is_kind: Callable[[int], bool]
) -> str | None:
    """Why ``path`` must not be touched now, or None."""
    norm = os.path.normpath(path)
    if norm == root or not _inside(norm, root):
        return "outside the torrent folder"
    try:
        mode = os.lstat(norm).st_mode
    except FileNotFoundError:
        return "already gone"
    except OSError as exc:
        return exc.strerror or str(exc)
    if stat.S_ISLNK(mode):
        return "became a symlink: not deleted"
    if not is_kind(mode):
        return "changed kind since the scan: not deleted"
    real_parent = os.path.realpath(os.path.dirname(norm))
    if not _inside(real_parent, real_root):
        return "resolves outside the torrent folder: not deleted"
    return None


def _attempt(op: Callable[[str], None], path: str) -> str | None:
    try:
        op(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _record(
    path: str, problem: str | None, deleted: list[str], skipped: list[tuple[str, str]]
) -> None:
    if problem is None:
        deleted.append(path)
    else:
        skipped.append((path, problem))
