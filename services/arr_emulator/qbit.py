"""The emulator's link to a real qBittorrent, through its WebUI API (v2).

Like a real Arr, the emulator reads only the torrents in its own category and maps their
state to queue status (contracts/README.md). With ``removeFromClient`` it deletes the
torrent and its files in qBittorrent.

The torrents are read as the real Arr reads them, ``torrents/info?category=``: qBittorrent
builds only the torrents of the category (a few milliseconds for a few dozen, however many
other torrents it holds). ``sync/maindata`` would make it build the state of every torrent it
holds on each read (1.5-2 s at 10,000 in qBittorrent 4.5, and qBittorrent answers one
request at a time, so every other client waits meanwhile). A category of more than
``INFO_LIMIT`` torrents is followed with ``sync/maindata`` instead, asking only for what
changed since the last read, so the emulator parses the changes rather than the whole
category each time. Either way the torrents are kept between reads.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

#: qBittorrent state -> (queue status, message of a warning).
STATE_MAP: dict[str, tuple[str, str | None]] = {
    "error": ("warning", "qBittorrent is reporting an error"),
    "stalledDL": ("warning", "The download is stalled with no connections"),
    "missingFiles": ("warning", "qBittorrent is reporting missing files"),
    "metaDL": ("queued", None),
    "forcedMetaDL": ("queued", None),
    "pausedDL": ("paused", None),
    "stoppedDL": ("paused", None),
    "queuedDL": ("queued", None),
    "checkingDL": ("queued", None),
    "checkingUP": ("queued", None),
    "checkingResumeData": ("queued", None),
    "uploading": ("completed", None),
    "stalledUP": ("completed", None),
    "pausedUP": ("completed", None),
    "stoppedUP": ("completed", None),
    "queuedUP": ("completed", None),
    "forcedUP": ("completed", None),
    "downloading": ("downloading", None),
    "forcedDL": ("downloading", None),
    "moving": ("downloading", None),
}


class QbitError(Exception):
    """qBittorrent could not be reached or refused a request."""


@dataclass(slots=True)
class QbitLink:
    """Where the linked qBittorrent is and which category belongs to this Arr."""

    url: str
    category: str
    username: str | None = None
    password: str | None = None
    post_import_category: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "category": self.category,
            "username": self.username,
            "postImportCategory": self.post_import_category,
        }


#: The torrent fields a queue record is built from (``record_from_torrent``) and the
#: category; the others (``time_active``, transfer counters, ...) change every second and
#: would make every torrent look changed.
TORRENT_FIELDS = frozenset(
    {
        "hash",
        "name",
        "category",
        "state",
        "eta",
        "added_on",
        "size",
        "amount_left",
        "content_path",
        "save_path",
    }
)


#: Categories up to this size are read with ``torrents/info``, larger ones followed with
#: ``sync/maindata`` (see the module docstring).
INFO_LIMIT = 500


def merge_torrents(
    torrents: dict[str, dict[str, Any]], update: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Apply one ``sync/maindata`` answer to ``torrents`` (hash -> fields) and return them.

    A ``full_update`` starts from nothing. A torrent whose kept fields changed gets a new
    dict (so a caller may key on the dict object); an unchanged one keeps its dict.
    """
    merged = {} if update.get("full_update") else torrents
    for key, fields in (update.get("torrents") or {}).items():
        key = key.lower()
        kept = {k: v for k, v in fields.items() if k in TORRENT_FIELDS}
        old = merged.get(key)
        if old is not None and all(old.get(k) == v for k, v in kept.items()):
            continue
        merged[key] = {**(old or {}), **kept, "hash": key}
    for key in update.get("torrents_removed") or ():
        merged.pop(str(key).lower(), None)
    return merged


def replace_torrents(
    torrents: dict[str, dict[str, Any]], rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The torrents of one ``torrents/info`` answer (hash -> kept fields); a torrent whose
    kept fields did not change keeps its dict from ``torrents``, as in ``merge_torrents``."""
    out: dict[str, dict[str, Any]] = {}
    for fields in rows:
        key = str(fields.get("hash", "")).lower()
        if not key:
            continue
        kept = {k: v for k, v in fields.items() if k in TORRENT_FIELDS}
        kept["hash"] = key
        old = torrents.get(key)
        out[key] = old if old == kept else kept
    return out


class QbitClient:
    """A minimal async qBittorrent WebUI client (one session, logs in on 403)."""

    def __init__(self, link: QbitLink, info_limit: int = INFO_LIMIT) -> None:
        self.link = link
        self.info_limit = info_limit
        self._session: aiohttp.ClientSession | None = None
        #: The torrents of the last read: of the category (``torrents/info``), or every
        #: torrent qBittorrent holds as of ``sync/maindata`` ``_rid``.
        self._torrents: dict[str, dict[str, Any]] = {}
        self._held = False  # _torrents is the answer of a read that succeeded
        self._follow = False  # the category is large: follow sync/maindata
        self._rid = 0
        #: When the last successful sync was sent (monotonic).
        self._synced_from = 0.0
        self._sync_lock = asyncio.Lock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._torrents, self._rid, self._held = {}, 0, False

    async def torrents(self, *, refresh: bool = True) -> list[dict[str, Any]]:
        """Every torrent in this Arr's category, as qBittorrent holds them now (with
        ``refresh`` False: as of the last read, when there was one that succeeded).

        A torrent dict is the same object from one call to the next while its fields stay
        the same.
        """
        if refresh or not self._held:
            await self.sync()
        category = self.link.category
        return [t for t in self._torrents.values() if t.get("category") == category]

    async def sync(self) -> None:
        """Bring the held torrents up to date (only the changes since the last sync).

        Callers that arrive while a sync is under way wait for it; one that began after
        they arrived answers them too (its data is as fresh as they asked for).
        """
        asked = time.monotonic()
        async with self._sync_lock:  # one rid at a time
            if self._held and self._synced_from >= asked:
                return
            started = time.monotonic()
            try:
                if self._follow:
                    await self._sync_maindata()
                else:
                    await self._read_category()
            except BaseException:
                self._torrents, self._rid, self._held = {}, 0, False  # start over in full
                raise
            self._held = True
            self._synced_from = started
            size = sum(t.get("category") == self.link.category for t in self._torrents.values())
            if self._follow != (size > self.info_limit):
                self._follow, self._rid = size > self.info_limit, 0  # switch; full read

    async def _read_category(self) -> None:
        rows = await self._call("GET", "torrents/info", params={"category": self.link.category})
        if not isinstance(rows, list):
            raise QbitError(f"qBittorrent torrents/info answered {type(rows).__name__}")
        self._torrents = replace_torrents(self._torrents, rows)

    async def _sync_maindata(self) -> None:
        data = await self._call("GET", "sync/maindata", params={"rid": self._rid})
        if not isinstance(data, dict):
            raise QbitError(f"qBittorrent sync/maindata answered {type(data).__name__}")
        self._torrents = merge_torrents(self._torrents, data)
        self._rid = int(data.get("rid", 0) or 0)

    async def delete(self, hashes: list[str], delete_files: bool = True) -> None:
        await self._call(
            "POST",
            "torrents/delete",
            data={
                "hashes": "|".join(h.lower() for h in hashes),
                "deleteFiles": str(delete_files).lower(),
            },
        )

    async def set_category(self, hashes: list[str], category: str) -> None:
        await self._call(
            "POST",
            "torrents/setCategory",
            data={"hashes": "|".join(h.lower() for h in hashes), "category": category},
        )

    async def _call(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            session = self._get_session()
            url = f"{self.link.url.rstrip('/')}/api/v2/{endpoint}"
            try:
                async with session.request(method, url, **kwargs) as response:
                    if response.status == 403 and attempt == 1 and self.link.username:
                        await self._login()
                        continue
                    if response.status >= 400:
                        text = await response.text()
                        raise QbitError(
                            f"qBittorrent {endpoint} answered {response.status}: {text}"
                        )
                    if "json" in response.headers.get("Content-Type", ""):
                        return await response.json()
                    return await response.text()
            except aiohttp.ClientError as exc:
                raise QbitError(f"qBittorrent at {self.link.url} is unreachable: {exc}") from exc
        raise QbitError(f"qBittorrent at {self.link.url} refused the login")

    async def _login(self) -> None:
        session = self._get_session()
        async with session.post(
            f"{self.link.url.rstrip('/')}/api/v2/auth/login",
            data={"username": self.link.username or "", "password": self.link.password or ""},
            headers={"Referer": self.link.url},
        ) as response:
            if response.status != 200 or (await response.text()).strip() != "Ok.":
                raise QbitError(f"qBittorrent at {self.link.url} refused the login")

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=15),
                cookie_jar=aiohttp.CookieJar(unsafe=True),
            )
        return self._session
