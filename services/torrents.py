"""Real torrents for tests, the demo and the benchmark: payloads, .torrent files (torf), and
helpers that put them into a running qbittorrent-nox in a wanted state.

States (``add_in_state``): ``seeding`` (complete data, added with skip_checking),
``stalled`` (data nowhere, no peers), ``downloading`` (a second qbittorrent-nox seeds it over
loopback), ``missingFiles`` (complete, then the data is deleted), ``metaDL`` (a magnet of a
hash nobody has). Payloads are random bytes, so every torrent has a new infohash.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qbittorrentapi
import torf

from .runners import QbitHandle

PIECE_SIZE = 16 * 1024  # small pieces: even a 100 KB file has several
WAIT_TIMEOUT = 120.0
SEEDING_STATES = frozenset({"uploading", "stalledUP", "forcedUP", "queuedUP"})
COMPLETE_STATES = SEEDING_STATES | {"pausedUP", "stoppedUP", "checkingUP"}


@dataclass(frozen=True)
class Added:
    """A torrent added to qBittorrent: its hash, name, save path and .torrent bytes."""

    hash: str
    name: str
    save_path: Path
    torrent: bytes
    payload: Path | None = None


def api(handle: QbitHandle) -> qbittorrentapi.Client:
    """A qbittorrent-api client for a handle started by ``services.runners``."""
    return qbittorrentapi.Client(
        host=handle.url,
        username=handle.username,
        password=handle.password,
        FORCE_SCHEME_FROM_HOST=True,
        REQUESTS_ARGS={"timeout": 30},
    )


def make_payload(directory: Path, name: str, files: dict[str, int] | int) -> Path:
    """Write random data: one file ``directory/name`` of ``files`` bytes, or a folder
    ``directory/name`` holding each relative path of ``files`` with its size."""
    root = Path(directory) / name
    if isinstance(files, int):
        root.parent.mkdir(parents=True, exist_ok=True)
        _write_random(root, files)
        return root
    if not files:
        raise ValueError("a multi-file payload needs at least one file")
    for rel, size in files.items():
        _write_random(root / rel, size)
    return root


def _write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            chunk = min(remaining, 1 << 20)
            out.write(os.urandom(chunk))
            remaining -= chunk


def make_torrent(
    payload_path: Path, *, private: bool = False, trackers: Iterable[str] = ()
) -> tuple[bytes, str]:
    """A v1 .torrent of ``payload_path`` (a file or a folder): its bytes and infohash."""
    t = torf.Torrent(
        path=Path(payload_path),
        private=private or None,
        trackers=list(trackers) or None,
        piece_size=PIECE_SIZE,
        created_by="qbitrr-mqtt tests",
    )
    t.generate()
    return t.dump(), t.infohash.lower()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT) -> Any:
    """Poll ``predicate`` until it returns something truthy; TimeoutError names ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(0.1)


def info(client: qbittorrentapi.Client, torrent_hash: str) -> dict[str, Any] | None:
    """``torrents/info`` of one torrent, or None when qBittorrent does not have it."""
    rows = client.torrents_info(torrent_hashes=torrent_hash)
    return dict(rows[0]) if rows else None


#: What ``wait_state(..., or_gone=True)`` returns for a torrent no longer listed.
GONE: dict[str, Any] = {"state": None, "gone": True}


def wait_state(
    client: qbittorrentapi.Client,
    torrent_hash: str,
    states: Iterable[str],
    timeout: float = WAIT_TIMEOUT,
    *,
    or_gone: bool = False,
) -> dict[str, Any]:
    """Wait until the torrent is in one of ``states``; returns its info. With ``or_gone``
    the torrent no longer listed also ends the wait (its info is then ``GONE``)."""
    wanted = frozenset(states)
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        row = info(client, torrent_hash)
        last["state"] = row and row["state"]
        if row is None:
            return GONE if or_gone else None
        return row if row["state"] in wanted else None

    what = f"torrent {torrent_hash} in {sorted(wanted)}" + (" or removed" if or_gone else "")
    try:
        return wait_for(check, what, timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc} (last state {last.get('state')!r})") from None


def add(
    handle: QbitHandle,
    torrent: bytes,
    save_path: Path,
    *,
    category: str | None = None,
    tags: Iterable[str] = (),
    skip_checking: bool = False,
    paused: bool = False,
) -> str:
    """Add .torrent bytes to qBittorrent and wait until it lists them; returns the hash."""
    infohash = torf.Torrent.read_stream(torrent).infohash.lower()
    client = api(handle)
    if category:
        _ensure_category(client, category)
    answer = client.torrents_add(
        torrent_files=torrent,
        save_path=str(save_path),
        category=category,
        tags=list(tags) or None,
        is_skip_checking=skip_checking,
        is_paused=paused,
        use_auto_torrent_management=False,
    )
    if answer != "Ok.":
        raise RuntimeError(f"qBittorrent refused the torrent {infohash}: {answer}")
    wait_for(lambda: info(client, infohash), f"torrent {infohash} listed")
    return infohash


def _ensure_category(client: qbittorrentapi.Client, category: str) -> None:
    if category not in client.torrents_categories():
        with contextlib.suppress(qbittorrentapi.Conflict409Error):  # created meanwhile
            client.torrents_create_category(name=category)


def _scratch(handle: QbitHandle, name: str) -> Path:
    """A new folder under the handle's work dir (one per torrent, never shared)."""
    path = handle.workdir / "payloads" / f"{name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def add_seeding(
    handle: QbitHandle,
    name: str,
    files: dict[str, int] | int,
    *,
    category: str | None = None,
    tags: Iterable[str] = (),
    private: bool = False,
) -> Added:
    """A complete torrent whose data is on disk, seeding (uploading or stalledUP)."""
    save = _scratch(handle, name)
    payload = make_payload(save, name, files)
    torrent, h = make_torrent(payload, private=private)
    add(handle, torrent, save, category=category, tags=tags, skip_checking=True)
    wait_state(api(handle), h, SEEDING_STATES)
    return Added(h, name, save, torrent, payload)


def add_stalled(
    handle: QbitHandle,
    name: str,
    files: dict[str, int] | int,
    *,
    category: str | None = None,
    tags: Iterable[str] = (),
    before_add: Callable[[str], object] | None = None,
    may_vanish: bool = False,
) -> Added:
    """A torrent nobody seeds: its data exists only in a scratch folder qBittorrent never
    sees, so it waits in stalledDL with 0 % (``payload`` is that data, to seed it later).

    ``before_add`` gets the infohash before qBittorrent has the torrent (to link it to an
    Arr, so a running manager never sees it unlinked). With ``may_vanish`` the torrent being
    removed once listed also ends the wait: a running manager with one stall strike can
    remove it before this poll catches the stalledDL state."""
    source = _scratch(handle, f"{name}-source")
    payload = make_payload(source, name, files)
    torrent, h = make_torrent(payload)
    save = _scratch(handle, name)
    if before_add is not None:
        before_add(h)
    add(handle, torrent, save, category=category, tags=tags)
    wait_state(api(handle), h, {"stalledDL"}, or_gone=may_vanish)
    return Added(h, name, save, torrent, payload)


def add_downloading(
    seeder: QbitHandle,
    leecher: QbitHandle,
    name: str,
    files: dict[str, int] | int,
    *,
    category: str | None = None,
    tags: Iterable[str] = (),
    paused: bool = False,
) -> Added:
    """Seed a new torrent on ``seeder`` and add it to ``leecher`` with the seeder as its
    only peer (127.0.0.1:<seeder.bt_port>); the leecher starts downloading at once unless
    ``paused``. Returns the leecher's side."""
    seeded = add_seeding(seeder, name, files)
    save = _scratch(leecher, name)
    h = add(leecher, seeded.torrent, save, category=category, tags=tags, paused=paused)
    connect_peer(leecher, h, seeder)
    return Added(h, name, save, seeded.torrent, seeded.payload)


def connect_peer(leecher: QbitHandle, torrent_hash: str, seeder: QbitHandle) -> None:
    """Tell ``leecher`` about ``seeder`` as a peer of one torrent (no DHT/PeX/trackers here)."""
    api(leecher).torrents_add_peers(
        peers=[f"127.0.0.1:{seeder.bt_port}"], torrent_hashes=torrent_hash
    )


def add_missing_files(
    handle: QbitHandle,
    name: str,
    files: dict[str, int] | int,
    *,
    category: str | None = None,
    tags: Iterable[str] = (),
) -> Added:
    """A complete torrent whose data was deleted afterwards: qBittorrent shows missingFiles.

    qBittorrent only notices missing data when it loads the torrent, so this restarts
    ``handle`` (same ports; other torrents keep their state, sync clients get a full update).
    """
    added = add_seeding(handle, name, files, category=category, tags=tags)
    assert added.payload is not None
    if added.payload.is_dir():
        shutil.rmtree(added.payload)
    else:
        added.payload.unlink()
    handle.restart()
    wait_state(api(handle), added.hash, {"missingFiles"})
    return Added(added.hash, name, added.save_path, added.torrent, None)


def add_metadata_wait(
    handle: QbitHandle,
    name: str,
    *,
    category: str | None = None,
    tags: Iterable[str] = (),
) -> Added:
    """A magnet of a random hash: qBittorrent waits for metadata forever (metaDL)."""
    h = secrets.token_hex(20)
    save = _scratch(handle, name)
    client = api(handle)
    if category:
        _ensure_category(client, category)
    client.torrents_add(
        urls=f"magnet:?xt=urn:btih:{h}&dn={name}",
        save_path=str(save),
        category=category,
        tags=list(tags) or None,
        use_auto_torrent_management=False,
    )
    wait_state(client, h, {"metaDL"})
    return Added(h, name, save, b"")


def add_in_state(
    state: str,
    handle: QbitHandle,
    name: str,
    files: dict[str, int] | int = 64 * 1024,
    *,
    seeder: QbitHandle | None = None,
    category: str | None = None,
    tags: Iterable[str] = (),
) -> Added:
    """Add one torrent in ``state`` (a key of ``STATE_BUILDERS``); ``downloading`` needs
    ``seeder``. Lets a test describe its torrents as data: ``[("seeding", "a", 1 << 16)]``."""
    if state == "downloading":
        if seeder is None:
            raise ValueError("state 'downloading' needs a seeder handle")
        return add_downloading(seeder, handle, name, files, category=category, tags=tags)
    if state == "metaDL":
        return add_metadata_wait(handle, name, category=category, tags=tags)
    try:
        builder = STATE_BUILDERS[state]
    except KeyError:
        raise ValueError(f"unknown state {state!r}; one of {sorted(STATES)}") from None
    return builder(handle, name, files, category=category, tags=tags)


STATE_BUILDERS: dict[str, Callable[..., Added]] = {
    "seeding": add_seeding,
    "stalled": add_stalled,
    "missingFiles": add_missing_files,
}
STATES = frozenset(STATE_BUILDERS) | {"downloading", "metaDL"}
