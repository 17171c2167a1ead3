"""Folder cleanup after import (auto_delete) on a real temporary folder: what goes, what
stays, and the paths it refuses (symlinks out, ``..``, a torrent without its own folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from policy_cases import complete, ctx, policy, snap

from qbitrr_mqtt.media.cleanup import (
    CleanupPlan,
    Entry,
    cleanup_due,
    execute_cleanup,
    plan_cleanup,
    plan_for_torrent,
    scan,
)
from qbitrr_mqtt.policy import FileView, History

ROOT = "Movie.2020.1080p"


def write(path: Path, data: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A finished release next to a folder that is not the torrent's."""
    save = tmp_path / "downloads"
    root = save / ROOT
    outside = tmp_path / "outside"
    write(outside / "secret.txt", "keep me")
    write(outside / "sample.mkv", "not ours")
    write(root / f"{ROOT}.mkv", "movie")
    write(root / f"{ROOT}.nfo")
    write(root / "Sample" / "sample.mkv")
    write(root / "Subs" / "en.srt")
    write(root / "cover.jpg")
    write(root / "leftover.txt")
    write(root / "nested" / "deeper" / "setup.exe")
    (root / "Extras").mkdir()
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "Featurettes").symlink_to(outside, target_is_directory=True)
    return {"save": save, "root": root, "outside": outside}


#: The torrent's own file list: the media and cover are seeded, the rest was skipped.
TORRENT_FILES = (
    FileView(0, f"{ROOT}/{ROOT}.mkv", priority=1),
    FileView(1, f"{ROOT}/{ROOT}.nfo", priority=0),
    FileView(2, f"{ROOT}/Sample/sample.mkv", priority=0),
    FileView(3, f"{ROOT}/Subs/en.srt", priority=1),
    FileView(4, f"{ROOT}/cover.jpg", priority=1),
)


def plan_of(
    tree: dict[str, Path], files: tuple[FileView, ...] = TORRENT_FILES, **pol: object
) -> CleanupPlan:
    return plan_cleanup(
        scan(str(tree["root"])),
        content_path=str(tree["root"]),
        save_path=str(tree["save"]),
        policy=policy(**pol),
        arr_type="radarr",
        files=files,
    )


def rels(root: Path, paths: object) -> set[str]:
    return {os.path.relpath(p, root) for p in paths}  # type: ignore[attr-defined]


def test_plan_deletes_unwanted_unseeded_files_and_empty_folders(tree: dict[str, Path]) -> None:
    plan = plan_of(tree)
    root = tree["root"]
    assert plan.error is None
    assert rels(root, [p for p, _ in plan.files]) == {
        f"{ROOT}.nfo",
        "Sample/sample.mkv",
        "leftover.txt",
        "nested/deeper/setup.exe",
    }
    assert [os.path.relpath(d, root) for d in plan.dirs] == [
        "nested/deeper",
        "Extras",
        "Sample",
        "nested",
    ]
    assert dict(plan.kept) == {
        f"{ROOT}.mkv": "media",
        "Subs/en.srt": "wanted subtitle",
        "cover.jpg": "qBittorrent still seeds it",
    }
    assert dict(plan.refused) == {
        "link_out.txt": "symlink: never followed nor deleted",
        "Featurettes": "symlink: never followed nor deleted",
    }
    reasons = {os.path.relpath(p, root): why for p, why in plan.files}
    assert reasons["leftover.txt"] == "not in the torrent; extension .txt not allowed"
    assert reasons["Sample/sample.mkv"] == "folder 'Sample' excluded"


def test_execute_deletes_exactly_the_plan(tree: dict[str, Path]) -> None:
    root, outside = tree["root"], tree["outside"]
    plan = plan_of(tree)
    result = execute_cleanup(plan)
    assert not result.dry_run and result.skipped == ()
    assert set(result.deleted) == {p for p, _ in plan.files} | set(plan.dirs)
    left = {str(p.relative_to(root)) for p in root.rglob("*")}
    assert left == {
        f"{ROOT}.mkv",
        "Subs",
        "Subs/en.srt",
        "cover.jpg",
        "link_out.txt",
        "Featurettes",
    }
    assert (outside / "secret.txt").read_text() == "keep me"
    assert (outside / "sample.mkv").read_text() == "not ours"
    assert (root / "link_out.txt").is_symlink() and (root / "Featurettes").is_symlink()


def test_dry_run_deletes_nothing_and_says_what_it_would(tree: dict[str, Path]) -> None:
    root = tree["root"]
    before = sorted(str(p) for p in root.rglob("*"))
    plan = plan_of(tree)
    result = execute_cleanup(plan, dry_run=True)
    assert result.dry_run and result.skipped == ()
    assert set(result.deleted) == {p for p, _ in plan.files} | set(plan.dirs)
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_media_is_never_deleted_even_when_not_allowed(tree: dict[str, Path]) -> None:
    write(tree["root"] / "bonus.avi")
    plan = plan_of(tree, allowed_extensions=(".mkv",))
    deleted = rels(tree["root"], [p for p, _ in plan.files])
    assert "bonus.avi" not in deleted and f"{ROOT}.mkv" not in deleted
    assert dict(plan.kept)["bonus.avi"] == "media"
    # not in the user's list now, but qBittorrent seeds it: deleting it would break the torrent
    assert dict(plan.kept)["Subs/en.srt"] == "qBittorrent still seeds it"


def test_allowed_archives_of_an_archive_only_release_stay(tmp_path: Path) -> None:
    root = tmp_path / "dl" / ROOT
    write(root / f"{ROOT}.rar")
    write(root / f"{ROOT}.r00")
    write(root / f"{ROOT}.nfo")
    plan = plan_cleanup(
        scan(str(root)),
        content_path=str(root),
        save_path=str(tmp_path / "dl"),
        policy=policy(),
        arr_type="radarr",
        files=(),
    )
    assert rels(root, [p for p, _ in plan.files]) == {f"{ROOT}.nfo"}


@pytest.mark.parametrize(
    "rel",
    [
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "Sample/../../outside/secret.txt",
        "/etc/hostname",
        ".",
    ],
)
def test_escaping_entries_are_refused(tree: dict[str, Path], rel: str) -> None:
    plan = plan_cleanup(
        [Entry(rel, "file"), Entry("leftover.txt", "file")],
        content_path=str(tree["root"]),
        save_path=str(tree["save"]),
        policy=policy(),
        arr_type="radarr",
        files=(),
    )
    assert [os.path.basename(p) for p, _ in plan.files] == ["leftover.txt"]
    assert [r for r, _ in plan.refused] == [rel]


def test_execute_refuses_paths_outside_the_folder_even_in_a_forged_plan(
    tree: dict[str, Path],
) -> None:
    root, outside = tree["root"], tree["outside"]
    forged = CleanupPlan(
        str(root),
        str(tree["save"]),
        files=(
            (str(outside / "secret.txt"), "forged"),
            (f"{root}/../../outside/secret.txt", "forged"),
            (str(root / "link_out.txt"), "forged"),
        ),
        dirs=(str(outside), str(root)),
    )
    result = execute_cleanup(forged)
    assert result.deleted == ()
    assert [why for _, why in result.skipped] == [
        "outside the torrent folder",
        "outside the torrent folder",
        "became a symlink: not deleted",
        "outside the torrent folder",
        "outside the torrent folder",
    ]
    assert (outside / "secret.txt").read_text() == "keep me"


def test_folder_swapped_for_a_symlink_after_planning_is_not_followed(tree: dict[str, Path]) -> None:
    root, outside = tree["root"], tree["outside"]
    plan = plan_of(tree)
    (root / "Sample" / "sample.mkv").unlink()
    (root / "Sample").rmdir()
    (root / "Sample").symlink_to(outside, target_is_directory=True)
    result = execute_cleanup(plan)
    skipped = dict(result.skipped)
    assert (
        skipped[str(root / "Sample" / "sample.mkv")]
        == "resolves outside the torrent folder: not deleted"
    )
    assert skipped[str(root / "Sample")] == "became a symlink: not deleted"
    assert (outside / "sample.mkv").read_text() == "not ours"


@pytest.mark.parametrize(
    ("content", "save"),
    [
        ("downloads", "downloads"),
        ("outside", "downloads"),
        ("downloads/..", "downloads"),
        ("", "downloads"),
    ],
    ids=["no-own-folder", "outside-save-path", "parent-of-save-path", "empty"],
)
def test_torrent_without_its_own_folder_is_refused(
    tree: dict[str, Path], content: str, save: str
) -> None:
    base = tree["save"].parent
    content_path = str(base / content) if content else ""
    plan = plan_cleanup(
        scan(content_path) if content_path else (),
        content_path=content_path,
        save_path=str(base / save),
        policy=policy(),
        arr_type="radarr",
        files=(),
    )
    assert plan.error is not None and "not a folder of its own" in plan.error
    assert plan.files == () and plan.dirs == ()
    assert execute_cleanup(plan).skipped == ((plan.root, plan.error),)


def test_content_path_that_is_a_symlink_is_neither_scanned_nor_cleaned(
    tree: dict[str, Path],
) -> None:
    link = tree["save"] / "Linked.Release"
    link.symlink_to(tree["outside"], target_is_directory=True)
    assert scan(str(link)) == ()
    forged = CleanupPlan(
        str(link), str(tree["save"]), files=((str(link / "secret.txt"), "forged"),)
    )
    result = execute_cleanup(forged)
    assert result.deleted == () and "symlink" in result.skipped[0][1]
    assert (tree["outside"] / "secret.txt").exists()


def test_plan_for_torrent_uses_qbittorrent_paths(tree: dict[str, Path]) -> None:
    t = complete(content_path=str(tree["root"]), save_path=str(tree["save"]))
    plan = plan_for_torrent(snap(t, files=TORRENT_FILES), ctx())
    assert plan == plan_of(tree)


@pytest.mark.parametrize(
    ("pol_kw", "history", "t_kw", "files", "due"),
    [
        ({"auto_delete": True}, History(imported=True), {}, TORRENT_FILES, True),
        ({}, History(imported=True), {}, TORRENT_FILES, False),
        ({"auto_delete": True}, History(), {}, TORRENT_FILES, False),
        ({"auto_delete": True}, History(imported=True), {"progress": 0.9}, TORRENT_FILES, False),
        ({"auto_delete": True}, History(imported=True), {}, None, False),
        (
            {"auto_delete": True},
            History(imported=True),
            {"tags": ("qbitrr-protected",)},
            TORRENT_FILES,
            False,
        ),
    ],
    ids=["due", "off-by-default", "not-imported", "incomplete", "files-unknown", "protected"],
)
def test_cleanup_due(
    pol_kw: dict, history: History, t_kw: dict, files: tuple | None, due: bool
) -> None:
    assert cleanup_due(snap(complete(**t_kw), history=history, files=files), ctx(**pol_kw)) is due
