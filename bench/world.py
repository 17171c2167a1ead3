"""The real services a benchmark runs against, and loading N torrents into qBittorrent fast.

``World`` owns a work directory with a qbittorrent-nox (the one the managers watch), a second
qbittorrent-nox that seeds the few "downloading" torrents over loopback, and a Mosquitto.
``load(category, n)`` tops the category up to ``n`` torrents in a realistic mix:

- seeding: complete data on disk, added with ``skip_checking``;
- stalled: data nowhere, no peers (stalledDL);
- missing files: added complete (``skip_checking``) with no data on disk;
- downloading: a handful, seeded by the second qbittorrent-nox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qbittorrentapi

from services.runners import MosquittoHandle, QbitHandle, start_mosquitto, start_qbittorrent
from services.torrents import api, connect_peer

from .torrentgen import Made, make, write_payload

log = logging.getLogger("bench")

BATCH = 250
#: Shares of the mix (the rest is seeding: a long-running library mostly seeds, and the
#: Arr queue holds only what is stuck or in flight); downloads are a fixed handful.
STALLED_SHARE = 0.02
MISSING_SHARE = 0.01
DOWNLOADS = 5
DOWNLOAD_SIZE = 4 * 1024 * 1024
LOAD_TIMEOUT = 900.0


def wait_until(check: Callable[[], Any], what: str, timeout: float = LOAD_TIMEOUT) -> Any:
    """Poll ``check`` until truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(0.2)


@dataclass
class Loaded:
    """What one category holds: hashes by kind."""

    seeding: list[str] = field(default_factory=list)
    stalled: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    downloading: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.seeding) + len(self.stalled) + len(self.missing) + len(self.downloading)


class World:
    """qbittorrent-nox (+ a seeder) and Mosquitto in ``workdir``; stop() ends them all."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.qbit: QbitHandle = start_qbittorrent(workdir / "qbit")
        self.seeder: QbitHandle = start_qbittorrent(workdir / "seeder")
        self.mqtt: MosquittoHandle = start_mosquitto(workdir / "mqtt")
        self.loaded: dict[str, Loaded] = {}
        self._serial = 0
        self._batches = 0
        self._paths: dict[str, Path] = {}
        self.client = qbittorrentapi.Client(
            host=self.qbit.url, FORCE_SCHEME_FROM_HOST=True, REQUESTS_ARGS={"timeout": 120}
        )

    def stop(self) -> None:
        for handle in (self.qbit, self.seeder, self.mqtt):
            handle.stop()

    # --- loading -----------------------------------------------------------------------

    def load(self, category: str, n: int, downloads: int = DOWNLOADS) -> Loaded:
        """Top ``category`` up to ``n`` torrents in the mix; returns what it holds."""
        have = self.loaded.setdefault(category, Loaded())
        missing_n = max(0, round(n * MISSING_SHARE) - len(have.missing))
        stalled_n = max(0, round(n * STALLED_SHARE) - len(have.stalled))
        down_n = max(0, min(downloads, n) - len(have.downloading))
        seed_n = max(0, n - have.total - missing_n - stalled_n - down_n)
        started = time.monotonic()
        self._ensure_category(category)
        have.seeding += self._add_batch(category, seed_n, "Seeding", with_data=True)
        have.stalled += self._add_batch(category, stalled_n, "Stalled", with_data=False)
        # Added complete (skip_checking) with no data: qBittorrent reports missingFiles.
        have.missing += self._add_batch(category, missing_n, "Missing", with_data=False, skip=True)
        have.downloading += [self._add_download(category) for _ in range(down_n)]
        self._wait_listed(have.total, category)
        log.info(
            "category %s: %d torrents (%d seeding, %d stalled, %d missing, %d downloading) in %.0f s",
            category, have.total, len(have.seeding), len(have.stalled), len(have.missing),
            len(have.downloading), time.monotonic() - started,
        )  # fmt: skip
        return have

    def _ensure_category(self, category: str) -> None:
        if category not in self.client.torrents_categories():
            self.client.torrents_create_category(name=category)

    def _batch_path(self) -> Path:
        """A new folder for one batch of torrents (each file has its own name in it)."""
        self._batches += 1
        path = self.qbit.workdir / "data" / f"batch-{self._batches:05d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _next_name(self, kind: str) -> str:
        self._serial += 1
        return f"Bench.{kind}.Release.{self._serial:06d}.1080p.WEB-DL.mkv"

    def _add_batch(
        self, category: str, count: int, kind: str, *, with_data: bool, skip: bool | None = None
    ) -> list[str]:
        """Add ``count`` generated torrents, ``BATCH`` per request; returns their hashes."""
        hashes: list[str] = []
        for start in range(0, count, BATCH):
            made = [make(self._next_name(kind)) for _ in range(min(BATCH, count - start))]
            save = self._batch_path()
            for m in made:
                self._paths[m.hash] = save
                if with_data:
                    write_payload(save, m)
            self._add(made, save, category, skip_checking=with_data if skip is None else skip)
            hashes += [m.hash for m in made]
        return hashes

    def _add(self, made: list[Made], save: Path, category: str, *, skip_checking: bool) -> None:
        answer = self.client.torrents_add(
            torrent_files={f"{m.hash}.torrent": m.torrent for m in made},
            save_path=str(save),
            category=category,
            is_skip_checking=skip_checking,
            use_auto_torrent_management=False,
        )
        if answer != "Ok.":
            raise RuntimeError(f"qBittorrent refused a batch: {answer}")

    def _add_download(self, category: str) -> str:
        """One torrent the second qbittorrent-nox seeds and the watched one downloads."""
        m = make(self._next_name("Downloading"), DOWNLOAD_SIZE)
        seed_path = self.seeder.workdir / "data" / m.hash
        write_payload(seed_path, m)
        seeder = api(self.seeder)
        seeder.torrents_add(torrent_files=m.torrent, save_path=str(seed_path),
                            is_skip_checking=True, use_auto_torrent_management=False)  # fmt: skip
        save = self._batch_path()
        self._add([m], save, category, skip_checking=False)
        wait_until(lambda: self.client.torrents_info(torrent_hashes=m.hash), "download listed", 60)
        connect_peer(self.qbit, m.hash, self.seeder)
        return m.hash

    def add_download(self, category: str, size: int = DOWNLOAD_SIZE, ext: str = ".mkv") -> Made:
        """A new download for the reaction scenario (not counted in the mix)."""
        m = make(self._next_name("Fresh").replace(".mkv", ext), size)
        seed_path = self.seeder.workdir / "data" / m.hash
        write_payload(seed_path, m)
        api(self.seeder).torrents_add(torrent_files=m.torrent, save_path=str(seed_path),
                                      is_skip_checking=True, use_auto_torrent_management=False)  # fmt: skip
        save = self._batch_path()
        self._ensure_category(category)
        self._add([m], save, category, skip_checking=False)
        wait_until(lambda: self.client.torrents_info(torrent_hashes=m.hash), "download listed", 60)
        connect_peer(self.qbit, m.hash, self.seeder)
        return m

    def add_stalled(self, category: str) -> Made:
        """One new stalled torrent (no data, no peers) in ``category``."""
        self._ensure_category(category)
        m = make(self._next_name("Dead"))
        save = self._batch_path()
        self._add([m], save, category, skip_checking=False)
        return m

    def _wait_listed(self, n: int, category: str) -> None:
        wait_until(
            lambda: len(self.client.torrents_info(category=category)) >= n,
            f"{n} torrents listed in {category}",
        )

    def state_of(self, h: str) -> str | None:
        rows = self.client.torrents_info(torrent_hashes=h)
        return str(rows[0]["state"]) if rows else None
