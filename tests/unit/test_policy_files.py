"""File classification (issue 10) and file filtering."""

from __future__ import annotations

import pytest
from policy_cases import NOW, acts, complete, ctx, files, only, policy, snap, torrent

from qbitrr_mqtt.policy import Action, FileKind, FileView, History, Rule, classify, decide_torrent
from qbitrr_mqtt.policy.files import split_name

ROOT = "Movie.2020.1080p"


def kinds(names: list[str], arr_type: str = "radarr", **pol: object) -> list[tuple[str, bool]]:
    verdicts = classify(files(*names), ROOT, policy(**pol), arr_type)  # type: ignore[arg-type]
    return [(v.kind.value, v.wanted) for v in verdicts]


@pytest.mark.parametrize(
    ("name", "arr_type", "kind", "wanted"),
    [
        (f"{ROOT}/{ROOT}.mkv", "radarr", "media", True),
        (f"{ROOT}/{ROOT}.MKV", "radarr", "media", True),
        (f"{ROOT}/{ROOT}.mkv.!qB", "radarr", "media", True),
        (f"{ROOT}/Movie.2020.mkv.exe", "radarr", "dangerous", False),
        (f"{ROOT}/SETUP.EXE", "radarr", "dangerous", False),
        (f"{ROOT}/codec/install.Bat", "radarr", "dangerous", False),
        (f"{ROOT}/deep/er/run.sh.!qB", "radarr", "dangerous", False),
        ("Movie.2020.mkv.lnk", "radarr", "dangerous", False),
        (f"{ROOT}/Subs/English.srt", "radarr", "subtitle", True),
        (f"{ROOT}/Subs/English.SUP", "radarr", "subtitle", True),
        (f"{ROOT}/Sample/{ROOT}.sample.mkv", "radarr", "extra", False),
        (f"{ROOT}/samples/clip.mkv", "radarr", "extra", False),
        (f"{ROOT}/Extras/Deleted Scenes/scene1.mkv", "radarr", "extra", False),
        (f"{ROOT}/Featurettes/making-of.mp4", "radarr", "extra", False),
        (f"{ROOT}/{ROOT}-trailer.mp4", "radarr", "extra", False),
        (f"{ROOT}/{ROOT}.rar", "radarr", "archive", False),
        (f"{ROOT}/{ROOT}.r01", "radarr", "archive", False),
        (f"{ROOT}/{ROOT}.7z.001", "radarr", "archive", False),
        (f"{ROOT}/{ROOT}.iso", "radarr", "archive", False),
        (f"{ROOT}/{ROOT}.nfo", "radarr", "other", False),
        (f"{ROOT}/cover.jpg", "radarr", "other", False),
        (f"{ROOT}/README", "radarr", "other", False),
        (f"{ROOT}/.{ROOT}.parts", "radarr", "partial", True),
        ("Album/01 - Track.flac", "lidarr", "media", True),
        ("Album/01 - Track.FLAC", "lidarr", "media", True),
        ("Album/video.mkv", "lidarr", "other", False),
        ("Album/cover.jpg", "lidarr", "other", False),
        ("Show.S01/Show.S01E01.mkv", "sonarr", "media", True),
        ("Show.S01/NCOP/NCOP1.mkv", "sonarr", "extra", False),
    ],
)
def test_classification(name: str, arr_type: str, kind: str, wanted: bool) -> None:
    """One file at a time next to a real media file, so archives are not the only content."""
    media = "Album/02.flac" if arr_type == "lidarr" else f"{ROOT}/{ROOT}.mkv"
    result = kinds([name, media], arr_type)
    assert result[0] == (kind, wanted)


def test_torrent_root_folder_is_not_matched_by_folder_regexes() -> None:
    """A release called '...Extras.Edition' keeps its main file; a real Extras subfolder does not."""
    root = "Movie.2020.Extras.Edition.1080p"
    verdicts = classify(
        files(f"{root}/{root}.mkv", f"{root}/Extras/scene.mkv"), root, policy(), "radarr"
    )
    assert [(v.kind, v.wanted) for v in verdicts] == [(FileKind.MEDIA, True), (FileKind.EXTRA, False)]


def test_case_sensitive_matches() -> None:
    names = [f"{ROOT}/SAMPLE/clip.mkv", f"{ROOT}/{ROOT}.mkv"]
    assert kinds(names)[0] == ("extra", False)
    assert kinds(names, case_sensitive_matches=True)[0] == ("media", True)


def test_custom_allowed_extensions() -> None:
    names = [f"{ROOT}/{ROOT}.mkv", f"{ROOT}/{ROOT}.avi", f"{ROOT}/{ROOT}.nfo", f"{ROOT}/en.srt"]
    result = kinds(names, allowed_extensions=(".mkv", ".NFO"))
    assert result == [("media", True), ("media", False), ("media", True), ("subtitle", False)]


def test_split_name() -> None:
    assert split_name("A\\B/c.MKV.!qB") == (["A", "B"], "c.MKV", ".mkv")
    assert split_name("noext") == ([], "noext", "")
    assert split_name("trailing.") == ([], "trailing.", "")


# ---- decisions ------------------------------------------------------------------------


def test_dangerous_file_removes_at_once_naming_it() -> None:
    """No strikes, no age wait, any progress: the release is blocklisted and searched again."""
    t = torrent(added_on=NOW - 10, progress=0.995)
    fs = files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/Movie.2020.mkv.exe")
    decisions = decide_torrent(snap(t, files=fs), ctx())
    assert acts(decisions) == ["remove:dangerous_file"]
    d = decisions[0]
    assert (d.blocklist, d.re_search, d.delete_from_client) == (True, True, True)
    assert d.reason == f"dangerous file: {ROOT}/Movie.2020.mkv.exe"


def test_dangerous_file_even_when_not_downloaded() -> None:
    fs = (FileView(0, f"{ROOT}/{ROOT}.mkv"), FileView(1, f"{ROOT}/setup.exe", priority=0))
    assert acts(decide_torrent(snap(files=fs), ctx())) == ["remove:dangerous_file"]


@pytest.mark.parametrize(
    ("t_kw", "expected"),
    [
        ({"tags": ("qbitrr-protected",)}, ["hold:dangerous_file"]),
        ({"state": "pausedDL"}, ["set_file_priority:file_filter", "hold:dangerous_file"]),
        ({"state": "checkingDL"}, ["set_file_priority:file_filter", "hold:dangerous_file"]),
        ({"state": "forcedDL"}, ["set_file_priority:file_filter", "hold:dangerous_file"]),
    ],
)
def test_dangerous_file_guards(t_kw: dict, expected: list[str]) -> None:
    """Held removals still stop the dangerous file from downloading (except when protected)."""
    fs = files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/setup.exe")
    decisions = decide_torrent(snap(torrent(**t_kw), files=fs), ctx())
    assert acts(decisions) == expected
    held = only(decisions, Action.HOLD)
    assert "dangerous file" in held.reason and "kept:" in held.reason


def test_unwanted_files_get_priority_zero() -> None:
    fs = files(
        f"{ROOT}/{ROOT}.mkv",
        f"{ROOT}/Sample/sample.mkv",
        f"{ROOT}/{ROOT}.nfo",
        f"{ROOT}/en.srt",
    )
    d = only(decide_torrent(snap(files=fs), ctx()), Action.SET_FILE_PRIORITY)
    assert d.file_ids == (1, 2) and d.priority == 0 and d.rule is Rule.FILE_FILTER
    assert "Sample/sample.mkv: folder 'Sample' excluded" in d.reason
    assert "Movie.2020.1080p.nfo: extension .nfo not allowed" in d.reason


def test_files_already_skipped_are_not_set_again() -> None:
    fs = (FileView(0, f"{ROOT}/{ROOT}.mkv"), FileView(1, f"{ROOT}/{ROOT}.nfo", priority=0))
    assert decide_torrent(snap(files=fs), ctx()) == []


@pytest.mark.parametrize(
    ("snap_kw", "t_kw"),
    [
        ({"files": None}, {}),
        ({"files": ()}, {}),
        ({"history": History(imported=True)}, {}),
        ({}, {"tags": ("qbitrr-protected",)}),
    ],
    ids=["files-unknown", "no-metadata-yet", "imported", "protected"],
)
def test_no_file_filtering(snap_kw: dict, t_kw: dict) -> None:
    kw = {"files": files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/{ROOT}.nfo")} | snap_kw
    assert decide_torrent(snap(torrent(**t_kw), **kw), ctx()) == []


def test_complete_torrent_files_are_left_alone() -> None:
    fs = files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/{ROOT}.nfo")
    assert acts(decide_torrent(snap(complete(), files=fs), ctx())) == ["import:import"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([f"{ROOT}/Sample/sample.mkv", f"{ROOT}/{ROOT}.nfo"], ["remove:no_wanted_files"]),
        ([f"{ROOT}/en.srt", f"{ROOT}/{ROOT}.txt"], ["remove:no_wanted_files"]),
        ([f"{ROOT}/{ROOT}.mkv", f"{ROOT}/{ROOT}.txt"], ["set_file_priority:file_filter"]),
    ],
)
def test_no_wanted_file_left_removes_and_blocklists(names: list[str], expected: list[str]) -> None:
    decisions = decide_torrent(snap(files=files(*names)), ctx())
    assert acts(decisions) == expected
    for d in decisions:
        if d.is_removal:
            assert d.blocklist and d.delete_from_client
            assert "no wanted file" in d.reason


@pytest.mark.parametrize(
    ("archive_policy", "expected"),
    [("allow", ["set_file_priority:file_filter"]), ("blocklist", ["remove:archive"])],
)
def test_archive_only_torrents(archive_policy: str, expected: list[str]) -> None:
    fs = files(f"{ROOT}/{ROOT}.rar", f"{ROOT}/{ROOT}.r00", f"{ROOT}/{ROOT}.nfo")
    decisions = decide_torrent(snap(files=fs), ctx(archive_policy=archive_policy))
    assert acts(decisions) == expected
    if archive_policy == "allow":
        assert decisions[0].file_ids == (2,)  # the archives stay wanted, only the nfo goes


def test_archives_next_to_media_are_extras() -> None:
    fs = files(f"{ROOT}/{ROOT}.mkv", f"{ROOT}/{ROOT}.rar")
    d = only(decide_torrent(snap(files=fs), ctx(archive_policy="blocklist")), Action.SET_FILE_PRIORITY)
    assert d.file_ids == (1,)


def test_unplayable_media_is_blocklisted() -> None:
    t = complete()
    decisions = decide_torrent(snap(t, unplayable=(f"{ROOT}/{ROOT}.mkv",)), ctx())
    assert acts(decisions) == ["remove:unplayable"]
    assert decide_torrent(snap(t, unplayable=(f"{ROOT}/{ROOT}.mkv",)), ctx(validate_media=False)) != decisions
