"""qBittorrent client over qbittorrent-api: one HTTP session, incremental ``sync/maindata``.

This is the only module that imports qbittorrent-api. Every failure to reach or log in to
qBittorrent is raised as :class:`QbitUnavailable` (the manager backs off and retries);
a request qBittorrent refuses (unknown hash, bad priority, no metadata yet) is raised as
:class:`QbitError`. A 403 on an expired login is retried once after a new login
(qbittorrent-api does that; a second refusal is a :class:`QbitUnavailable`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import qbittorrentapi
import requests

FILE_PRIORITIES = (0, 1, 6, 7)  # do not download, normal, high, maximal
STOP_START_API = (2, 11)  # Web API version where pause/resume became stop/start (qBit 5.0)
#: Keys only a torrent object of ``sync/maindata`` has (never ``server_state``, a category or
#: the answer itself): an object with one of them is a torrent, which ``parse_maindata``
#: trims as it is parsed. qBittorrent sends all of them in a full entry and ``time_active``
#: or a transfer counter in nearly every partial one; an entry without any is trimmed later
#: by ``merge_maindata`` instead.
TORRENT_MARKERS = frozenset(
    {
        "time_active", "upspeed", "uploaded", "uploaded_session", "downloaded_session",
        "magnet_uri", "infohash_v1", "num_leechs", "num_incomplete", "total_size",
        "seen_complete", "auto_tmm", "max_ratio", "max_seeding_time", "trackers_count",
    }
)  # fmt: skip
#: Torrent string fields with few distinct values (a save path is shared by every torrent
#: of a folder): one string object each, not one per torrent and per answer.
SHARED_FIELDS = frozenset({"state", "category", "tags", "save_path", "tracker"})
#: Distinct shared strings remembered at most (beyond that the table starts again).
SHARED_MAX = 4096
#: A field qBittorrent sends in a torrent's first ``sync/maindata`` entry and never again (it
#: does not change): an entry of a hash not held that carries it is the whole torrent; one
#: without it is a partial entry (a torrent moved into the watched category).
WHOLE_MARK = "added_on"
#: What ``parse_maindata`` makes of a torrent object of another category than the watched one
#: (one shared object, so another category's torrents cost nothing while parsed).
OTHER: dict[str, Any] = {}
#: A watched category holding at most this many torrents is read with
#: ``torrents/info?category=`` rather than ``sync/maindata`` (see ``QbitClient.sync``).
SMALL_CATEGORY = 500
#: Seconds between two ``sync/maindata`` calls of a small category's reader, which asks it
#: only for ``server_state`` (free space, connection status, rates).
SERVER_STATE_EVERY = 30.0
#: A category no torrent has: parsing a ``sync/maindata`` answer read for its
#: ``server_state`` only, every torrent object becomes :data:`OTHER`.
NO_CATEGORY = "\x00qbitrr-mqtt: server state only"


class QbitUnavailable(Exception):
    """qBittorrent cannot be reached or refuses our login; the message names url and reason."""


class QbitError(Exception):
    """qBittorrent answered but refused the request (unknown torrent, bad argument, ...)."""


@dataclass
class MainData:
    """The merged state after a ``sync/maindata`` call.

    ``torrents`` maps hash to the full torrent dict (``hash`` included), ``server_state`` is
    the merged transfer info, ``rid`` the response id to send next, ``full`` whether this
    answer was a full update, ``changed`` the hashes this answer added or updated and
    ``removed`` the hashes it reported gone.

    Merged for one category (``merge_maindata(category=...)``), ``torrents`` holds only that
    category's torrents, ``changed`` includes those that entered it, ``removed`` those that
    left it, and ``entering`` the hashes that entered with a partial entry and whose whole
    record is still to be read (``QbitClient.sync`` reads them before returning).
    """

    torrents: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_state: dict[str, Any] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    rid: int = 0
    full: bool = True
    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    entering: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ClientStats:
    """HTTP requests made and response body bytes received so far (for the benchmark)."""

    requests: int = 0
    bytes_received: int = 0


def parse_maindata(
    body: bytes | str,
    keep: frozenset[str] | None = None,
    shared: dict[str, str] | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """A ``sync/maindata`` answer parsed, with each torrent object trimmed to ``keep`` as it is
    read (see TORRENT_MARKERS).

    A full answer at 10,000 torrents is ~12 MB of JSON with ~48 fields per torrent, of which
    the manager reads ~20. Parsed whole, the fields it drops are ~40 MB of short-lived
    objects interleaved with the ones it keeps, and the heap stays that large after they are
    freed; trimmed per torrent, a dropped value is freed (and its memory reused) before the
    next torrent is read. Strings of ``shared`` fields are taken from ``shared`` (a table
    kept by the caller between answers) so equal values are one object.

    With ``category``, a torrent object whose ``category`` is another one is :data:`OTHER`
    (at 10,000 torrents of other categories, a cold start then builds no dict for them).
    """
    hook: Callable[[list[tuple[str, Any]]], dict[str, Any]] | None = None
    if keep is not None or category is not None:
        table = shared if shared is not None else {}

        def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            for k, _ in pairs:
                if k in TORRENT_MARKERS:
                    if category is not None and _other(pairs, category):
                        return OTHER
                    return _trimmed(pairs, keep, table)
            return dict(pairs)

    data = json.loads(body, object_pairs_hook=hook)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _other(pairs: list[tuple[str, Any]], category: str) -> bool:
    """Whether a torrent object names a category other than ``category``."""
    for k, v in pairs:
        if k == "category":
            return bool(v != category)
    return False  # not said: merge_maindata decides by the torrents it holds


def _trimmed(
    pairs: list[tuple[str, Any]], keep: frozenset[str] | None, shared: dict[str, str]
) -> dict[str, Any]:
    """One torrent object with only the ``keep`` fields (all when None), shared strings
    shared."""
    out = {}
    for k, v in pairs:
        if keep is None or k in keep:
            if k in SHARED_FIELDS and isinstance(v, str):
                # Full (an unusual library: a save path per torrent): share what is known.
                v = shared.setdefault(v, v) if len(shared) < SHARED_MAX else shared.get(v, v)
            out[k] = v
    return out


def merge_maindata(
    state: MainData,
    update: dict[str, Any],
    keep: frozenset[str] | None = None,
    category: str | None = None,
) -> MainData:
    """Apply one ``sync/maindata`` answer to ``state`` and return the new state.

    A ``full_update`` replaces everything; otherwise only the fields present are merged and
    ``torrents_removed`` / ``categories_removed`` / ``tags_removed`` drop entries. A torrent
    that changed gets a new dict; an unchanged one keeps its dict object.

    ``keep`` limits the torrent fields held to those named: a torrent whose update changes
    none of them (qBittorrent ticks ``time_active`` and the transfer counters of every
    running torrent) is then not changed at all.

    ``category`` keeps only the torrents whose ``category`` equals it (as
    ``t.get("category") == category`` on the whole state would), holding nothing of the
    others: a held torrent whose entry names another category left (``removed``); an entry
    of a hash not held is another category's torrent unless it names ``category``, and then
    it is a new torrent (a whole entry: :data:`WHOLE_MARK`) or one moved in, whose partial
    entry is not enough (``entering``: the caller reads its whole record).
    """
    full = bool(update.get("full_update"))
    base = MainData() if full else state
    torrents = dict(base.torrents)
    changed: set[str] = set()
    left: set[str] = set()
    entering: set[str] = set()
    for h, fields in (update.get("torrents") or {}).items():
        h = h.lower()
        old = torrents.get(h)
        if category is not None:
            if fields is OTHER or fields.get("category", category) != category:
                if old is not None:
                    del torrents[h]
                    left.add(h)
                continue
            if old is None:
                if "category" not in fields:
                    continue  # another category's torrent: what changed says no category
                if WHOLE_MARK not in fields and not full:
                    entering.add(h)
                    continue
        if keep is not None:
            fields = {k: v for k, v in fields.items() if k in keep}
            if old is not None and all(old.get(k) == v for k, v in fields.items()):
                continue
        torrents[h] = {**(old or {}), **fields, "hash": h}
        changed.add(h)
    removed = {h.lower() for h in update.get("torrents_removed") or ()}
    for h in removed:
        torrents.pop(h, None)
    entering -= removed
    removed |= left
    categories = {**base.categories, **(update.get("categories") or {})}
    for name in update.get("categories_removed") or ():
        categories.pop(name, None)
    tags = [t for t in base.tags if t not in set(update.get("tags_removed") or ())]
    tags += [t for t in update.get("tags") or () if t not in tags]
    return MainData(
        torrents=torrents,
        server_state={**base.server_state, **(update.get("server_state") or {})},
        categories=categories,
        tags=tags,
        rid=int(update.get("rid", state.rid)),
        full=full,
        changed=changed,
        removed=removed,
        entering=entering,
    )


class QbitClient:
    """One qBittorrent WebUI, one HTTP session (cookie login, keep-alive)."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        verify_tls: bool = True,
        timeout: float = 10,
        clock: Callable[[], float] = time.monotonic,
        small_category: int | None = SMALL_CATEGORY,
    ) -> None:
        self.url = url.rstrip("/")
        self._requests = 0
        self._bytes = 0
        self._clock = clock
        self._small_limit = small_category
        self._state = MainData()
        self._shared: dict[str, str] = {}  # see parse_maindata
        self._view: tuple[frozenset[str] | None, str | None] = (None, None)  # see sync
        self._small = False  # the watched category is read with torrents/info (see sync)
        self._server_rid = 0  # the rid of the small reader's server_state calls
        self._server_read_at = 0.0
        self._web_api: tuple[int, ...] | None = None
        self._api = qbittorrentapi.Client(
            host=self.url,
            username=username,
            password=password,
            VERIFY_WEBUI_CERTIFICATE=verify_tls,
            FORCE_SCHEME_FROM_HOST="://" in self.url,
            REQUESTS_ARGS={"timeout": timeout, "hooks": {"response": [self._count]}},
            DISABLE_LOGGING_DEBUG_OUTPUT=True,
        )

    # --- plumbing ----------------------------------------------------------------------

    def _count(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._requests += 1
        self._bytes += len(response.content or b"")

    @property
    def stats(self) -> ClientStats:
        """Requests made and body bytes received since this client was created."""
        return ClientStats(self._requests, self._bytes)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate qbittorrent-api exceptions into QbitUnavailable / QbitError."""
        try:
            yield
        except qbittorrentapi.LoginFailed:
            raise QbitUnavailable(
                f"qBittorrent at {self.url}: login failed: check the qbittorrent username/password in the config"
            ) from None
        except (qbittorrentapi.HTTP401Error, qbittorrentapi.HTTP403Error):
            raise QbitUnavailable(
                f"qBittorrent at {self.url}: access refused (not logged in, or this IP is banned after failed logins)"
            ) from None
        except qbittorrentapi.HTTP5XXError as exc:
            raise QbitUnavailable(f"qBittorrent at {self.url}: server error {exc}") from None
        except qbittorrentapi.HTTP4XXError as exc:
            code = getattr(exc, "http_status_code", "4xx")
            raise QbitError(f"qBittorrent refused {what} ({code}): {exc or 'no detail'}") from None
        except qbittorrentapi.APIConnectionError as exc:
            raise QbitUnavailable(f"qBittorrent at {self.url}: {_reason(exc)}") from None
        except qbittorrentapi.APIError as exc:
            raise QbitError(f"{what}: unexpected answer from qBittorrent: {exc}") from None

    def _web_api_version(self) -> tuple[int, ...]:
        if self._web_api is None:
            with self._errors("webapiVersion"):
                text = self._api.app_web_api_version()
            self._web_api = tuple(int(p) for p in str(text).split(".") if p.isdigit())
        return self._web_api

    # --- reading -----------------------------------------------------------------------

    def sync(self, fields: frozenset[str] | None = None, category: str | None = None) -> MainData:
        """Fetch changes since the last call (``rid``) and return the merged state; with
        ``fields``, only those torrent fields are kept (see :func:`merge_maindata`).

        With ``category``, only that category's torrents are held (a small manager on a
        qBittorrent shared with 10,000 torrents of other categories holds none of them).
        Torrents moved into it since the last call are read whole with one
        ``torrents/info`` call (a second request, only then). A different ``fields`` or
        ``category`` than the last call's starts again with a full update.

        A category of at most ``small_category`` torrents (:data:`SMALL_CATEGORY`; None:
        never) is then read with ``torrents/info?category=`` (see :meth:`_sync_small`):
        qBittorrent answers one request at a time, and a ``sync/maindata`` makes it build
        and compare the state of every torrent it has (1.5-2 s at 10,000) whatever the
        category asked for, so several managers each syncing once per interval kept it busy
        most of the time.
        """
        if (fields, category) != self._view:
            self._view = (fields, category)
            self._state = MainData()
            self._small = False
        if category is not None and self._small:
            return self._sync_small(fields, category)
        keep = fields | {WHOLE_MARK} if fields is not None and category is not None else fields
        update = self._maindata(self._state.rid, keep, category)
        state = merge_maindata(self._state, update, fields, category)
        del update
        if state.entering:
            # Read before the new rid is kept: if this fails, the next call asks again from
            # the old rid and qBittorrent sends the move again.
            entered = self._whole(state.entering, fields, category)
            state.torrents.update(entered)
            state.changed |= entered.keys()
            state.entering = set()
        self._state = state
        if category is not None and self._fits_small(len(state.torrents)):
            self._small = True  # from the next call on; this sync session serves server_state
            self._server_rid = state.rid
            self._server_read_at = self._clock()
        return self._state

    def _sync_small(self, fields: frozenset[str] | None, category: str) -> MainData:
        """The watched small category read whole with one ``torrents/info?category=``
        (qBittorrent filters before it serializes: milliseconds at 10,000 torrents), and
        ``server_state`` from a ``sync/maindata`` at most every :data:`SERVER_STATE_EVERY`
        seconds (a second request, only then). The answer is a ``MainData`` as ``sync``
        makes it: ``changed`` holds the torrents new or with a kept field changed since the
        last call (an unchanged torrent keeps its dict object), ``removed`` those gone. A
        category grown past ``small_category`` goes back to ``sync/maindata`` (a full
        update) from the next call on."""
        before = self._state
        server = before.server_state
        if self._clock() - self._server_read_at >= SERVER_STATE_EVERY:
            server = self._server_state(server)
        rows = self._info_rows({"category": category}, fields)
        torrents: dict[str, dict[str, Any]] = {}
        changed: set[str] = set()
        for h, (cat, row) in rows.items():
            if cat != category:
                continue  # not asked for: torrents/info filtered by category already
            old = before.torrents.get(h)
            if old == row:
                torrents[h] = old
            else:
                torrents[h] = row
                changed.add(h)
        self._state = MainData(
            torrents=torrents,
            server_state=server,
            categories=before.categories,
            tags=before.tags,
            rid=before.rid,
            full=False,
            changed=changed,
            removed=before.torrents.keys() - torrents.keys(),
        )
        if not self._fits_small(len(torrents)):
            self._small = False
            state, self._state = self._state, MainData()  # the next call: a full update
            return state
        return self._state

    def _fits_small(self, count: int) -> bool:
        """Whether a category of ``count`` torrents is read with ``torrents/info``."""
        return self._small_limit is not None and count <= self._small_limit

    def _maindata(
        self, rid: int, keep: frozenset[str] | None, category: str | None
    ) -> dict[str, Any]:
        """One ``sync/maindata`` answer from ``rid``, parsed by :func:`parse_maindata`.

        The raw answer, parsed here: qbittorrent-api would decode the body to text, parse it
        whole and copy every object into its attribute dicts (at 10,000 torrents, three
        copies of ~40 MB each at the same time)."""
        with self._errors("sync/maindata"):
            response = self._api._post(_name="sync", _method="maindata", data={"rid": rid})
        try:
            return parse_maindata(response.content, keep, self._shared, category)
        except ValueError as exc:  # JSONDecodeError included
            raise QbitError(f"sync/maindata: unexpected answer from qBittorrent: {exc}") from None
        finally:
            del response

    def _server_state(self, server: dict[str, Any]) -> dict[str, Any]:
        """``server`` updated from one ``sync/maindata`` call of the small reader's own
        session (its ``rid``): only ``server_state`` is kept, every torrent object of the
        answer is dropped as it is parsed."""
        update = self._maindata(self._server_rid, frozenset(), NO_CATEGORY)
        self._server_rid = int(update.get("rid", self._server_rid))
        self._server_read_at = self._clock()
        fresh = update.get("server_state") or {}
        return dict(fresh) if update.get("full_update") else {**server, **fresh}

    def _whole(
        self, hashes: set[str], fields: frozenset[str] | None, category: str | None
    ) -> dict[str, dict[str, Any]]:
        """The records of torrents that entered ``category``, trimmed to ``fields`` as a
        ``sync/maindata`` entry is, from one ``torrents/info`` call. One no longer there or
        no longer in ``category`` is left out (the next answer does not name it again: it
        stays out, as it would had it been followed from the start).

        The record is read a few milliseconds after the answer the next one is a diff
        against: a field that changes in between and changes back before the next answer
        keeps the value read here until it changes again (the next answer does not carry
        it). Nothing short of a full answer closes that window."""
        rows = self._info_rows({"hashes": "|".join(sorted(hashes))}, fields)
        return {h: row for h, (cat, row) in rows.items() if h in hashes and cat == category}

    def _info_rows(
        self, query: dict[str, str], fields: frozenset[str] | None
    ) -> dict[str, tuple[Any, dict[str, Any]]]:
        """``torrents/info`` with ``query``, keyed by lower-case hash: each torrent's
        category and its row trimmed to ``fields`` (plus ``hash``) as a ``sync/maindata``
        entry is."""
        with self._errors("torrents/info"):
            response = self._api._post(_name="torrents", _method="info", data=query)
        read = fields | {"hash", "category"} if fields is not None else None
        try:  # a JSON list: wrapped, so the rows are trimmed as they are read
            rows = parse_maindata(b'{"rows": %s}' % response.content, read, self._shared)
        except ValueError as exc:
            raise QbitError(f"torrents/info: unexpected answer from qBittorrent: {exc}") from None
        finally:
            del response
        out = {}
        for row in rows.get("rows") or ():
            h = str(row.get("hash", "")).lower()
            kept = {k: v for k, v in row.items() if fields is None or k in fields}
            kept["hash"] = h
            out[h] = (row.get("category"), kept)
        return out

    def torrents_in(self, category: str) -> dict[str, dict[str, Any]]:
        """The torrents in ``category`` (one ``torrents/info`` call), keyed by hash."""
        with self._errors("torrents/info"):
            rows = self._api.torrents_info(category=category)
        return {str(t["hash"]).lower(): {**t, "hash": str(t["hash"]).lower()} for t in rows}

    def files(self, torrent_hash: str) -> list[dict[str, Any]]:
        """The files of a torrent, each with its ``index`` (the id for file priorities)."""
        with self._errors("torrents/files"):
            rows = self._api.torrents_files(torrent_hash=_one(torrent_hash))
        return [{"index": i, **dict(f)} for i, f in enumerate(rows)]

    def properties(self, torrent_hash: str) -> dict[str, Any]:
        """``torrents/properties`` of one torrent."""
        with self._errors("torrents/properties"):
            return dict(self._api.torrents_properties(torrent_hash=_one(torrent_hash)))

    def trackers(self, torrent_hash: str) -> list[dict[str, Any]]:
        """The trackers of one torrent (DHT/PeX/LSD pseudo-trackers included)."""
        with self._errors("torrents/trackers"):
            return [dict(t) for t in self._api.torrents_trackers(torrent_hash=_one(torrent_hash))]

    def version(self) -> str:
        """The qBittorrent version, e.g. ``v4.5.2``."""
        with self._errors("app/version"):
            return str(self._api.app_version())

    # --- acting ------------------------------------------------------------------------

    def delete(self, hashes: Iterable[str], delete_files: bool) -> None:
        """Remove torrents, with their data when ``delete_files``."""
        with self._errors("torrents/delete"):
            self._api.torrents_delete(delete_files=delete_files, torrent_hashes=_many(hashes))

    def recheck(self, hashes: Iterable[str]) -> None:
        """Re-verify the data of torrents."""
        with self._errors("torrents/recheck"):
            self._api.torrents_recheck(torrent_hashes=_many(hashes))

    def pause(self, hashes: Iterable[str]) -> None:
        """Pause (qBittorrent 5: stop) torrents."""
        self._pause_or_resume(hashes, "stop" if self._new_verbs() else "pause")

    def resume(self, hashes: Iterable[str]) -> None:
        """Resume (qBittorrent 5: start) torrents."""
        self._pause_or_resume(hashes, "start" if self._new_verbs() else "resume")

    def _new_verbs(self) -> bool:
        return self._web_api_version() >= STOP_START_API

    def _pause_or_resume(self, hashes: Iterable[str], verb: str) -> None:
        # qbittorrent-api asks the version before every pause/resume: we ask once.
        with self._errors(f"torrents/{verb}"):
            self._api._post(_name="torrents", _method=verb, data={"hashes": _many(hashes)})

    def add_tags(self, hashes: Iterable[str], tags: Iterable[str]) -> None:
        """Add tags to torrents (qBittorrent creates unknown tags)."""
        with self._errors("torrents/addTags"):
            self._api.torrents_add_tags(tags=_tags(tags), torrent_hashes=_many(hashes))

    def remove_tags(self, hashes: Iterable[str], tags: Iterable[str]) -> None:
        """Remove tags from torrents."""
        with self._errors("torrents/removeTags"):
            self._api.torrents_remove_tags(tags=_tags(tags), torrent_hashes=_many(hashes))

    def set_file_priority(self, torrent_hash: str, ids: list[int], priority: int) -> None:
        """Set the priority (0 skip, 1 normal, 6 high, 7 maximal) of files by index."""
        if priority not in FILE_PRIORITIES:
            raise QbitError(f"file priority {priority!r} is not one of {FILE_PRIORITIES}")
        if not ids:
            raise QbitError("set_file_priority: no file ids given")
        with self._errors("torrents/filePrio"):
            self._api.torrents_file_priority(
                torrent_hash=_one(torrent_hash), file_ids=list(ids), priority=priority
            )

    def set_share_limits(
        self,
        hashes: Iterable[str],
        *,
        ratio_limit: float = -2,
        seeding_time_limit: int = -2,
        inactive_seeding_time_limit: int | None = None,
    ) -> None:
        """Per-torrent share limits: ratio and minutes (-2 global default, -1 unlimited)."""
        with self._errors("torrents/setShareLimits"):
            self._api.torrents_set_share_limits(
                ratio_limit=ratio_limit,
                seeding_time_limit=seeding_time_limit,
                inactive_seeding_time_limit=inactive_seeding_time_limit,
                torrent_hashes=_many(hashes),
            )

    def close(self) -> None:
        """Log out (when logged in with a user) and close the HTTP session."""
        try:
            if self._api.username:
                self._api.auth_log_out()
        except qbittorrentapi.APIError:
            pass  # closing anyway
        finally:
            self._api._trigger_session_initialization()

    def __enter__(self) -> QbitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one(torrent_hash: str) -> str:
    if not torrent_hash or not isinstance(torrent_hash, str):
        raise QbitError(f"a torrent hash is required, got {torrent_hash!r}")
    return torrent_hash.lower()


def _many(hashes: Iterable[str]) -> str:
    if isinstance(hashes, str):
        raise QbitError("hashes must be a list of torrent hashes, not one string")
    return "|".join(_one(h) for h in hashes) or _no_hashes()


def _no_hashes() -> str:
    raise QbitError("no torrent hashes given")


def _tags(tags: Iterable[str]) -> list[str]:
    tags = [str(t) for t in tags if t]
    if not tags or any("," in t for t in tags):
        raise QbitError(f"tags must be non-empty and contain no comma, got {tags!r}")
    return tags


def _reason(exc: Exception) -> str:
    """A short cause for a connection failure (qbittorrent-api's text nests three reprs)."""
    text = str(exc)
    for needle, reason in (
        ("Connection refused", "connection refused (is qBittorrent running on that port?)"),
        ("timed out", "timed out"),
        ("Timeout", "timed out"),
        ("Name or service not known", "host name not found"),
        (
            "CERTIFICATE_VERIFY_FAILED",
            "TLS certificate not trusted (set verify_tls: false for a self-signed one)",
        ),
        ("SSLError", "TLS error"),
    ):
        if needle in text:
            return reason
    return text[:300]
