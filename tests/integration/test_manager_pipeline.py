"""The manager loop end to end: a real qbittorrent-nox, the Arr emulator linked to it (the
queue is derived from the torrents of the category, removals really delete), a real SQLite
store. The manager runs in-process with a clock the test moves forward, so thresholds in
minutes pass without waiting; everything it touches is real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from qbitrr_mqtt.clients.arr import ArrClient
from qbitrr_mqtt.clients.qbit import QbitClient
from qbitrr_mqtt.config import Config, config_from_dict
from qbitrr_mqtt.manager import loop, views
from qbitrr_mqtt.manager.loop import Manager
from qbitrr_mqtt.store import Store
from qbitrr_mqtt.store.lean import LeanStore
from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import QbitHandle
from services.torrents import add_seeding, add_stalled, api, info, wait_for

KEY = "pipeline-key"
KiB = 1024

#: What each Arr calls its search for one item, and the id field of that item.
SEARCH = {
    "radarr": ("MoviesSearch", "movieIds"),
    "sonarr": ("EpisodeSearch", "episodeIds"),
    "lidarr": ("AlbumSearch", "albumIds"),
}
IMPORT = {
    "radarr": "DownloadedMoviesScan",
    "sonarr": "DownloadedEpisodesScan",
    "lidarr": "DownloadedAlbumsScan",
}


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Pipeline:
    kind: str
    category: str
    qbit: QbitHandle
    arr: EmulatorProcess
    store: Store  # the test's view of the database (every query the ORM store has)
    config: Config
    config_path: Path
    clock: Clock
    #: What the manager runs on, as in production (``manager/main.py``): the lean store on
    #: the same database, so every check through ``store`` also reads what LeanStore wrote.
    lean: LeanStore

    def manager(self, **policy: Any) -> Manager:
        config = self.config if not policy else with_policy(self.config_path, policy)
        instance = config.arr[self.kind]
        return Manager(
            config,
            self.kind,
            self.lean,
            QbitClient(self.qbit.url),
            ArrClient(instance),
            clock=self.clock,
            sleep=lambda _s: None,
        )

    def calls(self, method: str, path: str) -> list[dict[str, Any]]:
        return [c for c in self.arr.calls(method=method) if c["path"].endswith(path)]

    def commands(self, name: str) -> list[dict[str, Any]]:
        return [
            c["json"]
            for c in self.calls("POST", "/command")
            if (c.get("json") or {}).get("name") == name
        ]


def write_config(path: Path, doc: dict[str, Any]) -> Config:
    path.write_text(yaml.safe_dump(doc))
    return config_from_dict(doc, source=path)


def with_policy(path: Path, policy: dict[str, Any]) -> Config:
    doc = yaml.safe_load(path.read_text())
    for instance in doc["arr"].values():
        instance["policy"] = {**instance.get("policy", {}), **policy}
    return write_config(path, doc)


@pytest.fixture(params=["radarr", "sonarr", "lidarr"])
def pipeline(request: pytest.FixtureRequest, qbit: QbitHandle, workdir: Path) -> Iterator[Pipeline]:
    kind = request.param
    category = f"{kind}-{uuid.uuid4().hex[:8]}"
    with start_arr_emulator(
        workdir, kind, api_key=KEY, qbit_url=qbit.url, category=category, command_step=0.05
    ) as arr:
        doc = {
            "settings": {
                "check_interval": 10,
                "data_dir": str(workdir / "data"),
                "policy": {
                    "stalled_strikes": 2,
                    "stalled_delay": 0,
                    "ignore_younger_than": 0,
                    "metadata_timeout": 60,
                    "import_grace": 0,
                    "validate_media": False,
                    # A qbittorrent-nox on loopback never gets an incoming connection, so it
                    # reports "firewalled"; the default would (rightly) stop every removal.
                    "fail_closed_firewalled": False,
                },
            },
            "qbittorrent": {"default": {"url": qbit.url}},
            "mqtt": {"enabled": False},
            "database": {"url": f"sqlite:///{workdir / 'state.db'}"},
            "arr": {kind: {"type": kind, "url": arr.url, "api_key": KEY, "category": category}},
        }
        config_path = workdir / "config.yaml"
        config = write_config(config_path, doc)
        store = Store.open(config.database.url)
        lean = LeanStore.open(config.database.url)
        try:
            yield Pipeline(kind, category, qbit, arr, store, config, config_path, Clock(), lean)
        finally:
            lean.close()
            store.close()


def release_files(p: Pipeline, name: str, size: int = 32 * KiB) -> dict[str, int]:
    """The files of a release of this Arr: one video (or audio track) and an .nfo."""
    ext = ".flac" if p.kind == "lidarr" else ".mkv"
    return {f"{name}{ext}": size, f"{name}.nfo": 200}


def stalled_torrent(p: Pipeline, name: str) -> tuple[str, int]:
    """A stalled torrent of the category, linked to one new library item."""
    added = add_stalled(p.qbit, f"{name}.{p.category}", release_files(p, name), category=p.category)
    media = p.arr.generate(1)
    p.arr.link(added.hash, media)
    return added.hash, media[0]


def cycles(manager: Manager, clock: Clock, n: int, step: float = 60.0) -> None:
    for _ in range(n):
        manager.cycle()
        clock.advance(step)


def test_stalled_torrent_is_struck_then_blocklisted_removed_and_searched_again(
    pipeline: Pipeline,
) -> None:
    p = pipeline
    h, media_id = stalled_torrent(p, "Dead.Release")
    healthy = add_seeding(
        p.qbit, f"Fine.{p.category}", release_files(p, "Fine"), category=p.category
    )
    manager = p.manager()

    manager.cycle()
    row = p.store.get_torrent(p.kind, h)
    assert row is not None and row.strikes == 1 and row.health == "stalled"
    assert info(api(p.qbit), h) is not None, "one strike must not remove"
    assert p.calls("DELETE", "/queue/" + str(row.arr_queue_id)) == []

    p.clock.advance(120)
    manager.cycle()

    deletes = [c for c in p.arr.calls(method="DELETE") if "/queue/" in c["path"]]
    assert len(deletes) == 1
    query = deletes[0]["query"]
    assert query.get("blocklist") == "true" and query.get("removeFromClient") == "true"
    wait_for(lambda: info(api(p.qbit), h) is None, "the torrent to leave qBittorrent")
    assert info(api(p.qbit), healthy.hash) is not None, "the healthy torrent stays"

    # The blocklist call asks the Arr itself for another release (skipRedownload=false), as
    # the real apps do; the manager must not search a second time on top.
    assert query.get("skipRedownload") == "false"
    p.arr.finish_commands()
    assert any(media_id in s["ids"] for s in p.arr.state()["searches"])
    assert p.commands(SEARCH[p.kind][0]) == []
    actions, _ = p.store.list_actions(instance=p.kind)
    removals = [a for a in actions if a.hash == h and a.action == "blocklist"]
    assert [a.status for a in removals] == ["done"]
    assert all(a.status != "intent" for a in actions)
    assert any(h == a.hash and "stalled" in a.reason for a in actions)


def test_strikes_survive_a_manager_restart(pipeline: Pipeline) -> None:
    p = pipeline
    h, _ = stalled_torrent(p, "Restarted")
    p.manager().cycle()
    assert p.store.get_torrent(p.kind, h).strikes == 1  # type: ignore[union-attr]

    p.clock.advance(120)
    fresh = p.manager()  # a new process: only the store remembers
    fresh.cycle()
    wait_for(lambda: info(api(p.qbit), h) is None, "removal after the second strike")


def test_dry_run_records_what_it_would_do_and_touches_nothing(pipeline: Pipeline) -> None:
    p = pipeline
    h, media_id = stalled_torrent(p, "Dry.Run")
    manager = p.manager()
    manager.dry_run = True
    cycles(manager, p.clock, 4, step=120)

    assert info(api(p.qbit), h) is not None
    assert [c for c in p.arr.calls(method="DELETE")] == []
    command, _ = SEARCH[p.kind]
    assert p.commands(command) == []
    actions, _ = p.store.list_actions(instance=p.kind, hash=h)
    assert actions and all(a.dry_run for a in actions)
    assert any(a.action == "would_blocklist" for a in actions), [
        (a.action, a.reason) for a in actions
    ]


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_by_default_a_firewalled_client_fails_closed(pipeline: Pipeline) -> None:
    """The real qbittorrent-nox here reports "firewalled": with the default policy nothing
    is struck or removed, and the cycle says why."""
    p = pipeline
    h, _ = stalled_torrent(p, "Firewalled")
    manager = p.manager(fail_closed_firewalled=True)
    assert manager.qbit.sync().server_state["connection_status"] == "firewalled"
    cycles(manager, p.clock, 4, step=120)
    row = p.store.get_torrent(p.kind, h)
    assert row is not None and row.strikes == 0
    assert info(api(p.qbit), h) is not None
    assert [c for c in p.arr.calls(method="DELETE")] == []


def test_protected_torrent_is_never_struck(pipeline: Pipeline) -> None:
    p = pipeline
    added = add_stalled(
        p.qbit,
        f"Protected.{p.category}",
        release_files(p, "Protected"),
        category=p.category,
        tags=["qbitrr-protected"],
    )
    p.arr.link(added.hash, p.arr.generate(1))
    cycles(p.manager(), p.clock, 4, step=120)
    row = p.store.get_torrent(p.kind, added.hash)
    assert row is not None and row.strikes == 0 and row.protected
    assert info(api(p.qbit), added.hash) is not None


def test_finished_download_is_imported_once(pipeline: Pipeline) -> None:
    p = pipeline
    added = add_seeding(
        p.qbit, f"Finished.{p.category}", release_files(p, "Finished"), category=p.category
    )
    p.arr.link(added.hash, p.arr.generate(1))
    # The Arr does not pick it up by itself: its record stays importBlocked-free but pending.
    manager = p.manager()
    cycles(manager, p.clock, 4, step=120)
    imports = p.commands(IMPORT[p.kind])
    assert len(imports) == 1, imports
    assert imports[0].get("downloadClientId", "").lower() == added.hash
    wait_for(
        lambda: (manager.cycle(), p.store.get_torrent(p.kind, added.hash))[1].imported,  # type: ignore[union-attr]
        "the torrent to be recorded as imported once the Arr took it",
    )
    cycles(manager, p.clock, 2, step=120)
    assert len(p.commands(IMPORT[p.kind])) == 1, "never asked twice"


def test_arr_down_means_no_removal_and_no_strike(pipeline: Pipeline) -> None:
    p = pipeline
    h, _ = stalled_torrent(p, "Arr.Down")
    p.arr.fault("*", status=500, count=-1)
    manager = p.manager()
    cycles(manager, p.clock, 4, step=120)
    row = p.store.get_torrent(p.kind, h)
    assert row is not None and row.strikes == 0
    assert info(api(p.qbit), h) is not None
    p.arr.clear_faults()
    cycles(manager, p.clock, 3, step=120)
    wait_for(lambda: info(api(p.qbit), h) is None, "removal once the Arr is back")


# --- crash safety on a real process ---------------------------------------------------------


def run_manager_process(p: Pipeline, env: dict[str, str], timeout: float) -> int:
    """``qbitrr-mqtt manager <kind>`` as supervisord would run it; its exit status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbitrr_mqtt", "manager", p.kind, "-c", str(p.config_path)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=open(p.config_path.parent / "manager.log", "a"),  # noqa: SIM115
    )
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(60)


@pytest.mark.parametrize("point", ["after_intent", "after_effect"])
@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_sigkill_between_intent_and_effect_neither_repeats_nor_loses_the_action(
    pipeline: Pipeline, point: str
) -> None:
    p = pipeline
    with_policy(p.config_path, {"stalled_strikes": 1})
    h, _ = stalled_torrent(p, f"Killed.{point}")

    code = run_manager_process(p, {"QBITRR_FAULT": point}, timeout=120)
    assert code == -signal.SIGKILL, (code, (p.config_path.parent / "manager.log").read_text())
    pending = p.store.pending_intents(p.kind)
    assert len(pending) == 1 and pending[0].hash == h

    # The restarted process finds the intent, checks the world, and finishes it once.
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbitrr_mqtt", "manager", p.kind, "-c", str(p.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=open(p.config_path.parent / "manager.log", "a"),  # noqa: SIM115
    )
    try:
        wait_for(lambda: not p.store.pending_intents(p.kind), "the intent to be settled")
        wait_for(lambda: info(api(p.qbit), h) is None, "the torrent to be gone")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    deletes = [c for c in p.arr.calls(method="DELETE") if "/queue/" in c["path"]]
    assert len(deletes) == 1, deletes
    actions, _ = p.store.list_actions(instance=p.kind, hash=h)
    removals = [a for a in actions if a.action == "blocklist"]
    assert len(removals) == 1 and removals[0].status == "done", [
        (a.action, a.status) for a in actions
    ]
    assert p.store.integrity_check() == []


# --- more of the policy on real torrents ----------------------------------------------------


def test_real_download_from_a_peer_completes_and_is_imported_once(
    qbit_pair: Any, workdir: Path, request: pytest.FixtureRequest
) -> None:
    """The leecher downloads from the seeder over loopback; once complete the manager asks
    the Arr to import it, exactly once."""
    from services.torrents import add_downloading

    seeder, leecher = qbit_pair.seeder, qbit_pair.leecher
    for kind in ("radarr", "sonarr", "lidarr"):
        category = f"{kind}-dl-{uuid.uuid4().hex[:6]}"
        with start_arr_emulator(
            workdir / kind, kind, api_key=KEY, qbit_url=leecher.url, category=category
        ) as arr:
            doc = yaml.safe_load(
                yaml.safe_dump(
                    {
                        "settings": {
                            "policy": {
                                "import_grace": 0,
                                "validate_media": False,
                                "fail_closed_firewalled": False,
                            }
                        },
                        "qbittorrent": {"default": {"url": leecher.url}},
                        "mqtt": {"enabled": False},
                        "arr": {
                            kind: {
                                "type": kind,
                                "url": arr.url,
                                "api_key": KEY,
                                "category": category,
                            }
                        },
                    }
                )
            )
            config_path = workdir / kind / "config.yaml"
            config = write_config(config_path, doc)
            url = f"sqlite:///{workdir / kind / 'state.db'}"
            with Store.open(url) as store, LeanStore.open(url) as lean:
                p = Pipeline(
                    kind, category, leecher, arr, store, config, config_path, Clock(), lean
                )
                ext = ".flac" if kind == "lidarr" else ".mkv"
                files = {f"Track{i}{ext}": 256 * KiB for i in range(3)}
                added = add_downloading(
                    seeder, leecher, f"Real.{category}", files, category=category
                )
                arr.link(added.hash, arr.generate(1))
                manager = p.manager()
                manager.cycle()
                h = added.hash
                wait_for(
                    lambda h=h: (info(api(leecher), h) or {}).get("progress") == 1,
                    "the real download to finish",
                )
                cycles(manager, p.clock, 3, step=120)
                imports = p.commands(IMPORT[kind])
                assert len(imports) == 1, imports
                assert imports[0]["downloadClientId"].lower() == added.hash
                cycles(manager, p.clock, 2, step=120)
                assert len(p.commands(IMPORT[kind])) == 1


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_missing_files_are_rechecked_first_then_removed_without_blocklist(
    pipeline: Pipeline,
) -> None:
    from services.torrents import add_missing_files

    p = pipeline
    added = add_missing_files(
        p.qbit, f"Gone.{p.category}", release_files(p, "Gone"), category=p.category
    )
    p.arr.link(added.hash, p.arr.generate(1))
    manager = p.manager()
    manager.cycle()
    actions, _ = p.store.list_actions(instance=p.kind, hash=added.hash)
    kinds = [a.action for a in actions if a.action != "set_file_priority"]  # the .nfo
    assert kinds == ["recheck"], [(a.action, a.reason) for a in actions]
    assert info(api(p.qbit), added.hash) is not None

    wait_for(
        lambda: (
            (info(api(p.qbit), added.hash) or {}).get("state", "").startswith("checking") is False
        ),
        "the recheck to end",
    )
    for _ in range(6):
        p.clock.advance(3600)
        manager.cycle()
        if info(api(p.qbit), added.hash) is None:
            break
    wait_for(lambda: info(api(p.qbit), added.hash) is None, "removal after the recheck")
    deletes = [c for c in p.arr.calls(method="DELETE") if "/queue/" in c["path"]]
    assert all(c["query"].get("blocklist") == "false" for c in deletes), deletes
    actions, _ = p.store.list_actions(instance=p.kind, hash=added.hash)
    ordered = [a.action for a in reversed(actions) if a.action != "set_file_priority"]
    assert ordered[0] == "recheck"
    assert any(a.action == "remove" and a.status == "done" for a in actions)


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_private_tracker_torrent_leaves_the_queue_but_stays_in_the_client(
    pipeline: Pipeline,
) -> None:
    """A finished private torrent whose import failed: blocklisted in the Arr, but kept in
    qBittorrent to meet its seeding obligation (hit-and-run protection)."""
    p = pipeline
    added = add_seeding(
        p.qbit,
        f"Private.{p.category}",
        release_files(p, "Private"),
        category=p.category,
        private=True,
    )
    p.arr.link(added.hash, p.arr.generate(1))
    p.arr.set_download(
        added.hash,
        trackedDownloadState="importBlocked",
        trackedDownloadStatus="warning",
        statusMessages=[
            {"title": "Private", "messages": ["No files found are eligible for import"]}
        ],
    )
    manager = p.manager(min_seed_ratio=1.0, hit_and_run="and")
    cycles(manager, p.clock, 3, step=120)
    deletes = [c for c in p.arr.calls(method="DELETE") if "/queue/" in c["path"]]
    assert len(deletes) == 1, deletes
    assert deletes[0]["query"]["removeFromClient"] == "false"
    assert deletes[0]["query"]["blocklist"] == "true"
    assert info(api(p.qbit), added.hash) is not None, "a hit-and-run-bound torrent stays"
    row = p.store.get_torrent(p.kind, added.hash)
    assert row is not None and row.kept_for_hnr


# --- commands, signals ----------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", ["sonarr"], indirect=True)
def test_inbox_commands_are_executed_and_answered(pipeline: Pipeline) -> None:
    import threading

    p = pipeline
    h, media_id = stalled_torrent(p, "Commanded")
    keep = add_seeding(p.qbit, f"Keep.{p.category}", release_files(p, "Keep"), category=p.category)
    manager = p.manager(stalled_strikes=50)  # only the commands remove anything here
    runner = threading.Thread(target=manager.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: manager.cycles >= 1, "the first cycle")

        def ask(command: str, payload: dict[str, Any]) -> Any:
            row = p.store.enqueue_command(command, p.kind, payload, "cli")
            return p.store.wait_command(row.id, timeout=30)

        done = ask("dry_run", {"value": True})
        assert (done.status, done.result_data) == ("done", {"dry_run": True})
        assert ask("dry_run", {"value": False}).status == "done"
        cycles_before = manager.cycles
        assert ask("run_now", {}).status == "done"
        wait_for(lambda: manager.cycles > cycles_before, "the cycle run_now asked for")

        searched = ask("search", {"media_ids": [media_id]})
        assert searched.status == "done"
        assert p.commands(SEARCH[p.kind][0]), "the search reached the Arr"

        protected = ask("protect", {"hash": keep.hash, "value": True})
        assert protected.status == "done"
        wait_for(
            lambda: "qbitrr-protected" in (info(api(p.qbit), keep.hash) or {}).get("tags", ""),
            "the protect tag",
        )
        assert ask("recheck", {"hash": keep.hash}).status == "done"

        removed = ask("remove", {"hash": h, "blocklist": True})
        assert removed.status == "done", removed.error
        late = ask("protect", {"hash": h})  # before the next cycle has seen it go
        assert late.status == "error" and "removed" in (late.error or ""), late.error
        wait_for(lambda: info(api(p.qbit), h) is None, "the removal asked for")

        bad = ask("remove", {"hash": "0" * 40})
        assert bad.status == "error" and "no torrent" in (bad.error or "")
    finally:
        manager.stopping = True
        runner.join(30)
    assert not runner.is_alive()


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_sighup_reloads_and_sigterm_stops_cleanly(pipeline: Pipeline) -> None:
    p = pipeline
    log = p.config_path.parent / "signals.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbitrr_mqtt", "manager", p.kind, "-c", str(p.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115
    )
    try:
        wait_for(lambda: "started" in log.read_text(), "the manager to start")
        good = p.config_path.read_text()
        p.config_path.write_text("arr: [not, a, map\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in log.read_text(), "a bad file to be refused")
        assert proc.poll() is None, "a bad config on reload keeps the manager running"
        p.config_path.write_text(good)
        with_policy(p.config_path, {"stalled_strikes": 7})
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in log.read_text(), "the good file to be loaded")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert time.monotonic() - started < 30
        assert "stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("pipeline", ["lidarr"], indirect=True)
def test_unwanted_files_are_skipped_once_and_really_skipped(pipeline: Pipeline) -> None:
    p = pipeline
    h, _ = stalled_torrent(p, "With.Extras")  # a .flac and an .nfo
    manager = p.manager(stalled_strikes=10)
    cycles(manager, p.clock, 4, step=30)
    actions, _ = p.store.list_actions(instance=p.kind, hash=h)
    skips = [a for a in actions if a.action == "set_file_priority"]
    assert len(skips) == 1 and ".nfo" in skips[0].reason, [(a.action, a.reason) for a in actions]
    files = {f["name"].rsplit("/", 1)[-1]: f["priority"] for f in manager.qbit.files(h)}
    assert files == {"With.Extras.flac": 1, "With.Extras.nfo": 0}


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_dry_run_switch_survives_a_restart_until_the_file_changes(pipeline: Pipeline) -> None:
    p = pipeline

    def switch(manager: Manager, value: bool) -> None:
        p.store.enqueue_command("dry_run", p.kind, {"value": value}, "mqtt")
        assert manager.commands.drain() == 1

    doc = yaml.safe_load(p.config_path.read_text())
    doc["settings"]["dry_run"] = True
    p.config = write_config(p.config_path, doc)
    started = p.manager()
    assert started.dry_run is True, "the file says dry run"
    time.sleep(0.05)
    switch(started, False)  # switched off from Home Assistant
    assert p.manager().dry_run is False, "a restart keeps the switch"
    time.sleep(0.05)
    p.config = write_config(p.config_path, doc)  # the user edits the file afterwards
    assert p.manager().dry_run is True, "a newer file wins"


class CapturedPublisher:
    """Stands in for ManagerPublisher (our own interface) to see what a cycle publishes."""

    def __init__(self) -> None:
        self.torrents: dict[str, dict[str, Any]] = {}

    def state(self, **_fields: Any) -> bool:
        return True

    def torrent(self, h: str, data: dict[str, Any]) -> bool:
        self.torrents[h] = data
        return True

    def torrent_gone(self, h: str) -> bool:
        self.torrents.pop(h, None)
        return True

    def action(self, row: Any, tag: str | None = None) -> None:
        pass


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_torrent_topics_show_new_strikes_and_an_idle_cycle_reads_no_rows(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    h, _ = stalled_torrent(p, "Published")
    manager = p.manager(stalled_strikes=10)
    manager.publisher = CapturedPublisher()
    reads: list[int] = []
    real = p.lean.torrent_rows

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(p.lean, "torrent_rows", counting)
    manager.cycle()
    assert manager.publisher.torrents[h]["strikes"] == 1  # written this cycle, read back
    p.clock.advance(120)
    manager.cycle()
    assert manager.publisher.torrents[h]["strikes"] == 2

    # A category with only a healthy seeding torrent: after its first cycle, nothing changes.
    other = p.manager()
    other.publisher = CapturedPublisher()
    p.store.enqueue_command("remove", p.kind, {"hash": h}, "cli")
    other.cycle()
    other.commands.drain()
    wait_for(lambda: info(api(p.qbit), h) is None, "the stalled torrent removed")
    calm = add_seeding(p.qbit, f"Calm.{p.category}", release_files(p, "Calm"), category=p.category)
    # A running seeding torrent ticks (seeding_time, time_active): a change. Stopped, it is
    # a library torrent nobody touches, and qBittorrent reports nothing new for it.
    api(p.qbit).torrents_pause(torrent_hashes=calm.hash)
    wait_for(lambda: info(api(p.qbit), calm.hash)["state"] in ("pausedUP", "stoppedUP"), "stopped")
    for _ in range(3):  # settle: first sighting, file list, state changes
        other.cycle()
        time.sleep(0.5)
    assert reads, "cycles that wrote rows read them back (the counter counts)"
    reads.clear()
    other.publisher.torrents.clear()
    synced: list[Any] = []
    real_sync = other.qbit.sync
    monkeypatch.setattr(
        other.qbit, "sync", lambda **kw: synced.append(real_sync(**kw)) or synced[-1]
    )
    other.cycle()
    assert not synced[0].changed, "qBittorrent reported no change (else not idle)"
    assert reads == [], "an idle cycle keeps the rows of earlier cycles: no read"
    assert other.memo.evaluated == 0, "nor does it run the rules for an unchanged torrent"
    assert other.publisher.torrents == {}, "nor encode its topic again"

    # Anything that changes it is seen: a tag from the user is a new dict from qBittorrent.
    api(p.qbit).torrents_add_tags(tags="mine", torrent_hashes=calm.hash)
    wait_for(lambda: "mine" in info(api(p.qbit), calm.hash)["tags"], "tagged")
    other.cycle()
    assert other.memo.evaluated == 1
    assert calm.hash in other.publisher.torrents


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_run_now_and_search_are_answered_while_a_cycle_waits_for_qbittorrent(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle can wait seconds for a busy qBittorrent: commands that touch no torrent are
    answered meanwhile; a command on a torrent still waits for the cycle to end."""
    p = pipeline
    keep = add_seeding(p.qbit, f"Keep.{p.category}", release_files(p, "Keep"), category=p.category)
    manager = p.manager()
    real_sync = manager.qbit.sync
    held, release = threading.Event(), threading.Event()

    def slow_sync(**kw: Any) -> Any:
        if manager.cycles >= 1:  # the second cycle hangs in qBittorrent until released
            held.set()
            release.wait(60)
        return real_sync(**kw)

    monkeypatch.setattr(manager.qbit, "sync", slow_sync)
    runner = threading.Thread(target=manager.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: manager.cycles >= 1, "the first cycle")
        manager.run_now = True
        assert held.wait(30), "the second cycle started"
        run_now = p.store.enqueue_command("run_now", p.kind, {}, "mqtt")
        search = p.store.enqueue_command("search", p.kind, {"missing": True}, "mqtt")
        recheck = p.store.enqueue_command("recheck", p.kind, {"hash": keep.hash}, "mqtt")
        assert p.store.wait_command(run_now.id, timeout=30).status == "done"
        searched = p.store.wait_command(search.id, timeout=30)
        assert searched.status == "done", searched.error
        assert searched.result_data["missing"] is True
        assert not release.is_set() and manager.cycles == 1, "answered during the cycle"
        assert p.store.get_command(recheck.id).status == "pending", "a torrent command waits"
        release.set()
        assert p.store.wait_command(recheck.id, timeout=30).status == "done"
    finally:
        release.set()
        manager.stopping = True
        runner.join(30)


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_a_recorded_torrent_is_written_again_only_when_what_it_records_changes(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    calm = add_seeding(p.qbit, f"Kept.{p.category}", release_files(p, "Kept"), category=p.category)
    api(p.qbit).torrents_pause(torrent_hashes=calm.hash)
    wait_for(lambda: info(api(p.qbit), calm.hash)["state"] in ("pausedUP", "stoppedUP"), "stopped")
    manager = p.manager()
    written: list[str] = []
    real = p.lean.upsert_torrents

    def counting(instance: str, rows: Any, *args: Any, **kwargs: Any) -> Any:
        rows = list(rows)
        written.extend(r["hash"] for r in rows)
        return real(instance, rows, *args, **kwargs)

    monkeypatch.setattr(p.lean, "upsert_torrents", counting)
    manager.cycle()
    assert calm.hash in written, "first sighting: recorded"
    for _ in range(3):  # the import is sent (a write), the row read back is a new object
        written.clear()
        p.clock.advance(60)
        manager.cycle()
    assert written == [], "the row already says what the torrent is: not written again"
    # Between cycles the manager holds the compact form of the row (no datetimes, no
    # strings of its own), and the torrent's snapshot shares its History.
    kept = manager._rows[calm.hash] if manager._rows is not None else None
    assert isinstance(kept, views.KeptRow)
    assert manager._snapmap[calm.hash].history is kept.history
    assert isinstance(manager._written[calm.hash], int)
    api(p.qbit).torrents_resume(torrent_hashes=calm.hash)
    wait_for(lambda: info(api(p.qbit), calm.hash)["state"] not in ("pausedUP", "stoppedUP"), "on")
    manager.cycle()
    assert written == [calm.hash], "its state changed: recorded"
    assert p.lean.torrent_rows(p.kind, hashes=[calm.hash])[calm.hash].state != "pausedUP"


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_a_torrent_moved_into_the_category_is_followed_and_moved_out_is_gone(
    pipeline: Pipeline,
) -> None:
    """The manager holds only its category's torrents: another category's torrent is not in
    its memory at all; moved in (qBittorrent's answer carries only the new category) it is
    followed with its whole record; moved out it is gone, as removed."""
    p = pipeline
    elsewhere = f"{p.category}-elsewhere"
    moving = add_seeding(p.qbit, f"Moving.{p.category}", release_files(p, "Moving"), category=elsewhere)  # fmt: skip
    manager = p.manager()
    manager.publisher = CapturedPublisher()
    manager.cycle()
    assert moving.hash not in manager._torrents and moving.hash not in manager.qbit._state.torrents
    assert p.store.get_torrent(p.kind, moving.hash) is None

    api(p.qbit).torrents_create_category(name=p.category)
    api(p.qbit).torrents_set_category(category=p.category, torrent_hashes=moving.hash)
    wait_for(lambda: info(api(p.qbit), moving.hash)["category"] == p.category, "moved in")
    manager.cycle()
    held = manager._torrents[moving.hash]
    assert held["name"] == f"Moving.{p.category}" and held["size"] == sum(release_files(p, "Moving").values())  # fmt: skip
    assert held["save_path"] and held["added_on"] > 0 and held["state"]
    assert manager.publisher.torrents[moving.hash]["name"] == held["name"]
    row = p.store.get_torrent(p.kind, moving.hash)
    assert row is not None and row.gone_at is None

    api(p.qbit).torrents_set_category(category=elsewhere, torrent_hashes=moving.hash)
    wait_for(lambda: info(api(p.qbit), moving.hash)["category"] == elsewhere, "moved out")
    manager.cycle()
    assert moving.hash not in manager._torrents
    assert moving.hash not in manager.publisher.torrents  # its topic cleared
    row = p.store.get_torrent(p.kind, moving.hash)
    assert row is not None and row.gone_at is not None


def queue_reads(p: Pipeline) -> int:
    return len([c for c in p.arr.calls(method="GET") if c["path"].endswith("/queue")])


@pytest.mark.parametrize("pipeline", ["sonarr"], indirect=True)
def test_the_arr_queue_is_read_while_qbittorrent_answers(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two reads of a cycle are independent: the Arr's answer is not made to wait for
    qBittorrent's (here qBittorrent answers only once the Arr has been asked)."""
    p = pipeline
    manager = p.manager()
    real_sync = manager.qbit.sync
    manager.cycle()
    before = queue_reads(p)

    def sync_after_the_queue(**kw: Any) -> Any:
        wait_for(lambda: queue_reads(p) > before, "the queue read during the sync", 15)
        return real_sync(**kw)

    monkeypatch.setattr(manager.qbit, "sync", sync_after_the_queue)
    p.clock.advance(60)
    manager.cycle()
    assert manager.qbit_ok and manager.arr_ok and manager.cycles == 2


@pytest.mark.parametrize("pipeline", ["sonarr"], indirect=True)
def test_a_torrent_added_after_the_arr_answered_is_blocklisted_in_the_cycle_that_sees_it(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue read beside the sync can predate a torrent the sync shows: the cycle reads
    the queue again rather than remove the torrent without its queue record (which would
    delete it in qBittorrent with no blocklist entry)."""
    p = pipeline
    manager = p.manager(stalled_strikes=1)
    manager.cycle()
    real_sync = manager.qbit.sync
    added: list[str] = []
    before = queue_reads(p)

    def torrent_arrives_after_the_queue_read(**kw: Any) -> Any:
        if not added:
            wait_for(lambda: queue_reads(p) > before, "the queue read during the sync", 15)
            added.append(stalled_torrent(p, "Late.Release")[0])
        return real_sync(**kw)

    monkeypatch.setattr(manager.qbit, "sync", torrent_arrives_after_the_queue_read)
    p.clock.advance(60)
    manager.cycle()
    assert added, "the torrent was added during the cycle's sync"
    deletes = [c for c in p.arr.calls(method="DELETE") if "/queue/" in c["path"]]
    assert len(deletes) == 1, "removed through the Arr queue in the first cycle that saw it"
    assert deletes[0]["query"].get("blocklist") == "true"
    wait_for(lambda: info(api(p.qbit), added[0]) is None, "the torrent to leave qBittorrent")


def _cycle_starts(pipeline: Pipeline, took: float, cycles: int = 4) -> list[float]:
    """Run the real loop (``Manager.run``) on the test's clock, each cycle taking ``took``
    seconds of it after its work (qBittorrent answering slowly); the clock times of the
    cycles' starts. Waiting between cycles moves the clock instead of sleeping."""
    config = pipeline.config
    m = Manager(
        config,
        pipeline.kind,
        pipeline.lean,
        QbitClient(pipeline.qbit.url),
        ArrClient(config.arr[pipeline.kind]),
        clock=pipeline.clock,
        sleep=pipeline.clock.advance,
    )
    starts: list[float] = []
    real_cycle = m.cycle

    def slow_cycle() -> float:
        starts.append(pipeline.clock())
        delay = real_cycle()
        pipeline.clock.advance(took)
        m.stopping = len(starts) >= cycles
        return delay

    m.cycle = slow_cycle  # type: ignore[method-assign]
    assert m.run() == 0
    return starts


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_the_interval_counts_from_a_cycle_start_however_slow_the_cycle(
    pipeline: Pipeline,
) -> None:
    """A stalled torrent must be looked at within one interval: cycles that take 60 % of it
    (a busy qBittorrent answering one request at a time) must not stretch the period."""
    interval = pipeline.config.settings.check_interval
    starts = _cycle_starts(pipeline, took=0.6 * interval)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # The real work adds a little real time; a period counted from the end would add 6 s.
    assert all(interval - 0.1 <= g < interval + 1.0 for g in gaps), gaps


@pytest.mark.parametrize("pipeline", ["radarr"], indirect=True)
def test_a_cycle_longer_than_the_interval_is_followed_by_a_pause(pipeline: Pipeline) -> None:
    interval = pipeline.config.settings.check_interval
    took = 1.5 * interval
    starts = _cycle_starts(pipeline, took=took, cycles=3)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    pause = min(loop.MIN_PAUSE, interval / 4)
    assert all(took + pause - 0.1 <= g < took + pause + 1.0 for g in gaps), gaps
