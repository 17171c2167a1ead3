"""Media validation in the policy (issue 10): what to probe, failed verdicts, the import gate,
and dangerous / archive-only releases next to it."""

from __future__ import annotations

import pytest
from policy_cases import PLAYS, acts, complete, ctx, files, only, queue_item, snap, torrent

from qbitrr_mqtt.policy import (
    Action,
    FileView,
    History,
    MediaVerdict,
    ProbeRequest,
    Rule,
    decide_cycle,
    decide_torrent,
    probe_request,
)

ROOT = "Movie.2020.1080p"
MOVIE = f"{ROOT}/{ROOT}.mkv"
FAILED = MediaVerdict(
    False, f"{ROOT}.mkv: Invalid data found when processing input", f"/downloads/{MOVIE}"
)
SKIPPED = MediaVerdict(True, "ffprobe not installed: validation skipped")
RELEASE = files(
    MOVIE, f"{ROOT}/Sample/{ROOT}.sample.mkv", f"{ROOT}/{ROOT}.nfo", f"{ROOT}/Subs/en.srt"
)


# ---- what to probe --------------------------------------------------------------------


def test_probe_request_lists_the_wanted_media_as_absolute_paths() -> None:
    req = probe_request(snap(complete(), files=RELEASE, media_verdict=None), ctx())
    assert req == ProbeRequest((f"/downloads/{MOVIE}",), "video")


def test_probe_request_for_lidarr_is_audio() -> None:
    fs = files("Album/01 - One.flac", "Album/02 - Two.FLAC", "Album/cover.jpg")
    t = complete(name="Album", content_path="/music/Album", save_path="/music")
    req = probe_request(snap(t, files=fs, media_verdict=None), ctx(arr_type="lidarr"))
    assert req == ProbeRequest(
        ("/music/Album/01 - One.flac", "/music/Album/02 - Two.FLAC"), "audio"
    )


@pytest.mark.parametrize(
    ("runtimes", "expected"),
    [
        ((None,), None),
        ((6000.0,), 6000.0),
        ((1500.0, 1400.0), 2900.0),
        ((1500.0, None), None),
        ((), None),
    ],
)
def test_probe_request_expects_the_queue_runtimes_together(
    runtimes: tuple[float | None, ...], expected: float | None
) -> None:
    queue = tuple(queue_item(id=100 + i, media_ids=(i,), runtime=r) for i, r in enumerate(runtimes))
    req = probe_request(snap(complete(), queue=queue, files=RELEASE, media_verdict=None), ctx())
    assert req is not None and req.expected_seconds == expected


def test_probe_request_drops_the_incomplete_suffix_of_an_early_file_list() -> None:
    fs = files(f"{MOVIE}.!qB", f"{ROOT}/{ROOT}.nfo")
    req = probe_request(snap(complete(), files=fs, media_verdict=None), ctx())
    assert req is not None and req.paths == (f"/downloads/{MOVIE}",)


def test_probe_request_leaves_out_skipped_files_and_escaping_names() -> None:
    fs = (
        FileView(0, MOVIE),
        FileView(1, f"{ROOT}/Part2.mkv", priority=0),
        FileView(2, "../../etc/evil.mkv"),
        FileView(3, f"{ROOT}/../../outside.mkv"),
    )
    req = probe_request(snap(complete(), files=fs, media_verdict=None), ctx())
    assert req is not None and req.paths == (f"/downloads/{MOVIE}",)


@pytest.mark.parametrize(
    ("t_kw", "snap_kw", "pol_kw"),
    [
        ({}, {}, {"validate_media": False}),
        ({"progress": 0.5, "state": "downloading", "completion_on": 0.0}, {}, {}),
        ({}, {"media_verdict": PLAYS}, {}),
        ({}, {"media_verdict": FAILED}, {}),
        ({}, {"files": None}, {}),
        ({}, {"files": files(f"{ROOT}/{ROOT}.rar", f"{ROOT}/{ROOT}.r00")}, {}),
        ({}, {"history": History(imported=True)}, {}),
        ({}, {"history": History(import_sent_at=1.0)}, {}),
        ({}, {"history": History(kept_for_hnr=True)}, {}),
    ],
    ids=[
        "validation-off",
        "incomplete",
        "already-passed",
        "already-failed",
        "files-unknown",
        "archives-only",
        "imported",
        "import-sent",
        "kept-for-hnr",
    ],
)
def test_nothing_to_probe(t_kw: dict, snap_kw: dict, pol_kw: dict) -> None:
    kw = {"files": RELEASE, "media_verdict": None} | snap_kw
    assert probe_request(snap(complete(**t_kw), **kw), ctx(**pol_kw)) is None


# ---- failed verdicts ------------------------------------------------------------------


def test_failed_verdict_blocklists_and_searches_again_instead_of_importing() -> None:
    decisions = decide_torrent(snap(complete(), files=RELEASE, media_verdict=FAILED), ctx())
    assert acts(decisions) == ["remove:unplayable"]
    d = decisions[0]
    assert (d.blocklist, d.re_search, d.delete_from_client) == (True, True, True)
    assert d.reason == f"media does not play: {ROOT}.mkv: Invalid data found when processing input"
    assert d.queue_ids == (101,) and d.media_ids == (7,)


def test_failed_verdict_follows_re_search_setting() -> None:
    d = only(
        decide_torrent(snap(complete(), media_verdict=FAILED), ctx(re_search=False)), Action.REMOVE
    )
    assert d.blocklist and not d.re_search


def test_failed_verdict_in_dry_run_is_a_would_blocklist() -> None:
    d = only(
        decide_torrent(snap(complete(), media_verdict=FAILED), ctx(dry_run=True)), Action.REMOVE
    )
    assert d.dry_run and d.audit_name == "would_blocklist"


@pytest.mark.parametrize(
    ("t_kw", "expected"),
    [
        ({"tags": ("qbitrr-protected",)}, ["hold:unplayable"]),
        ({"state": "checkingUP"}, ["hold:unplayable"]),
    ],
)
def test_failed_verdict_respects_guards(t_kw: dict, expected: list[str]) -> None:
    decisions = decide_torrent(snap(complete(**t_kw), media_verdict=FAILED), ctx())
    assert acts(decisions) == expected
    assert "kept:" in decisions[0].reason


@pytest.mark.parametrize(
    ("history", "pol_kw"),
    [
        (History(imported=True), {}),
        (History(kept_for_hnr=True), {}),
        (History(), {"validate_media": False}),
    ],
    ids=["imported", "kept-for-hnr", "validation-off"],
)
def test_failed_verdict_is_ignored(history: History, pol_kw: dict) -> None:
    decisions = decide_torrent(
        snap(complete(), history=history, media_verdict=FAILED), ctx(**pol_kw)
    )
    assert not any(d.rule is Rule.UNPLAYABLE for d in decisions)


def test_failed_verdicts_come_first_under_the_removal_cap() -> None:
    stalled = snap(
        torrent(hash="b" * 40, name="stalled", state="stalledDL"),
        history=History(strikes=9, last_strike_at=0, last_progress_at=0),
    )
    bad = snap(complete(hash="c" * 40, name="bad"), media_verdict=FAILED)
    result = decide_cycle([stalled, bad], ctx(max_removals_per_cycle=1))
    assert [(d.name, d.rule) for d in result.removals] == [("bad", Rule.UNPLAYABLE)]


# ---- the import gate ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snap_kw", "pol_kw", "expected", "why"),
    [
        ({"media_verdict": None}, {}, "hold:import", "ffprobe is checking it"),
        (
            {"media_verdict": None, "files": None},
            {},
            "hold:import",
            "the file list is not known yet",
        ),
        ({"media_verdict": PLAYS}, {}, "import:import", None),
        ({"media_verdict": SKIPPED}, {}, "import:import", None),
        ({"media_verdict": None}, {"validate_media": False}, "import:import", None),
        ({"media_verdict": FAILED}, {"validate_media": False}, "import:import", None),
        (
            {"media_verdict": None, "files": files(f"{ROOT}/{ROOT}.rar", f"{ROOT}/{ROOT}.r00")},
            {},
            "import:import",
            None,
        ),
    ],
    ids=[
        "probing",
        "files-unknown",
        "passed",
        "ffprobe-missing",
        "validation-off",
        "failed-but-off",
        "nothing-to-probe",
    ],
)
def test_import_waits_for_a_passing_verdict(
    snap_kw: dict, pol_kw: dict, expected: str, why: str | None
) -> None:
    kw = {"files": RELEASE} | snap_kw
    decisions = decide_torrent(snap(complete(), **kw), ctx(**pol_kw))
    assert acts(decisions) == [expected]
    if why:
        assert decisions[0].reason == f"import waits for media validation: {why}"
        assert not decisions[0].executes


def test_no_hold_while_the_import_is_not_due() -> None:
    """Before import_grace, nothing is said (the gate only speaks for a due import)."""
    t = complete(completion_on=1_700_000_000.0 - 5)
    assert decide_torrent(snap(t, files=RELEASE, media_verdict=None), ctx()) == []


# ---- dangerous and archive-only releases ----------------------------------------------


@pytest.mark.parametrize("verdict", [None, PLAYS, FAILED], ids=["unprobed", "passed", "failed"])
def test_dangerous_file_wins_at_once_without_strikes(verdict: MediaVerdict | None) -> None:
    exe = f"{ROOT}/Codec/Movie.2020.mkv.EXE"
    for t in (torrent(added_on=1_700_000_000.0 - 5), complete()):
        decisions = decide_torrent(snap(t, files=files(MOVIE, exe), media_verdict=verdict), ctx())
        assert acts(decisions) == ["remove:dangerous_file"]
        d = decisions[0]
        assert d.reason == f"dangerous file: {exe}"
        assert (d.blocklist, d.re_search, d.delete_from_client) == (True, True, True)


def test_archive_only_release_under_blocklist_names_the_archives() -> None:
    fs = files(f"{ROOT}/{ROOT}.rar", f"{ROOT}/{ROOT}.r00")
    decisions = decide_torrent(
        snap(complete(), files=fs, media_verdict=None), ctx(archive_policy="blocklist")
    )
    assert acts(decisions) == ["remove:archive"]
    assert decisions[0].reason == f"only archives, no media: {ROOT}/{ROOT}.rar, {ROOT}/{ROOT}.r00"
    assert decisions[0].blocklist
