"""The Arr side: the only module that imports pyarr.

One ``ArrClient`` per instance over one HTTP session. It reads *every* queue page (qBitrr
stops at 1000 records), and calls pyarr's low-level request where pyarr's helpers cannot send
a flag we need (``skipRedownload`` on queue DELETE, per the contracts README).

pyarr retries transport errors with its own exponential backoff (about 15 s); the manager has
its own backoff and must notice an outage at once, so requests go through the undecorated
function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pyarr import Lidarr, Radarr, Sonarr
from pyarr.exceptions import (
    PyarrConnectionError,
    PyarrResourceNotFound,
    PyarrUnauthorizedError,
)

from ..config.models import ArrInstance

QUEUE_PAGE_SIZE = 500


class ArrUnavailable(Exception):
    """The Arr could not be reached (connection refused, timeout, 5xx)."""


class ArrError(Exception):
    """The Arr answered with an error that retrying will not fix (4xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class HttpStats:
    requests: int = 0
    bytes_received: int = 0


@dataclass(frozen=True, slots=True)
class Flavor:
    """What differs between Radarr, Sonarr and Lidarr."""

    api_ver: str
    port: int
    import_command: str
    search_command: str
    search_key: str
    missing_command: str
    media_key: str
    include_unknown: str


FLAVORS = {
    "radarr": Flavor(
        "v3",
        7878,
        "DownloadedMoviesScan",
        "MoviesSearch",
        "movieIds",
        "MissingMoviesSearch",
        "movieId",
        "includeUnknownMovieItems",
    ),
    "sonarr": Flavor(
        "v3",
        8989,
        "DownloadedEpisodesScan",
        "EpisodeSearch",
        "episodeIds",
        "MissingEpisodeSearch",
        "episodeId",
        "includeUnknownSeriesItems",
    ),
    "lidarr": Flavor(
        "v1",
        8686,
        "DownloadedAlbumsScan",
        "AlbumSearch",
        "albumIds",
        "MissingAlbumSearch",
        "albumId",
        "includeUnknownArtistItems",
    ),
}
_CLASSES = {"radarr": Radarr, "sonarr": Sonarr, "lidarr": Lidarr}


class ArrClient:
    """Radarr v3, Sonarr v3 or Lidarr v1, as one instance of the config sees it."""

    def __init__(self, instance: ArrInstance) -> None:
        self.instance = instance
        self.flavor = FLAVORS[instance.type]
        self.stats = HttpStats()
        url = urlsplit(instance.url)
        tls = url.scheme == "https"
        port = url.port or (443 if tls else 80)
        session = httpx.Client(
            timeout=instance.timeout,
            follow_redirects=True,
            event_hooks={"response": [self._count]},
        )
        self._api = _CLASSES[instance.type](
            url.hostname or "127.0.0.1",
            instance.api_key,
            port=port,
            tls=tls,
            base_path=url.path.rstrip("/"),
            api_ver=self.flavor.api_ver,
            session=session,
        )
        self._handler = self._api.http_utils
        self._request = getattr(
            type(self._handler).request, "__wrapped__", type(self._handler).request
        )

    def _count(self, response: httpx.Response) -> None:
        response.read()
        self.stats.requests += 1
        self.stats.bytes_received += len(response.content)

    def close(self) -> None:
        if self._handler.session is not None:
            self._handler.session.close()

    def request(
        self,
        endpoint: str,
        method: str = "GET",
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One API call; errors become ArrUnavailable (retry later) or ArrError (don't)."""
        try:
            return self._request(
                self._handler, endpoint, method=method, params=params, json_data=json
            )
        except PyarrConnectionError as exc:
            raise ArrUnavailable(f"{self.instance.name}: {exc} ({self.instance.url})") from exc
        except PyarrUnauthorizedError as exc:
            raise ArrUnavailable(
                f"{self.instance.name}: the API key was refused (401); check arr.{self.instance.name}.api_key"
            ) from exc
        except PyarrResourceNotFound as exc:
            raise ArrError(f"{self.instance.name}: {endpoint} not found", 404) from exc
        except Exception as exc:  # pyarr raises one class per status; 5xx means try again later
            status = _status_of(exc)
            if status is None or status >= 500:
                code = f" ({status})" if status is not None else ""
                raise ArrUnavailable(
                    f"{self.instance.name}: {endpoint} failed{code}: {exc}"
                ) from exc
            raise ArrError(
                f"{self.instance.name}: {endpoint} refused ({status}): {exc}", status
            ) from exc

    # --- reads ---------------------------------------------------------------------------

    def system_status(self) -> dict[str, Any]:
        return self.request("system/status")

    def queue(self) -> list[dict[str, Any]]:
        """Every record of the queue, all pages."""
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self.request(
                "queue",
                params={
                    "page": page,
                    "pageSize": QUEUE_PAGE_SIZE,
                    self.flavor.include_unknown: True,
                },
            )
            batch = data.get("records", []) if isinstance(data, dict) else []
            records.extend(batch)
            total = int(data.get("totalRecords", 0)) if isinstance(data, dict) else 0
            if not batch or len(records) >= total:
                return records
            page += 1

    def wanted(self, *, cutoff: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Up to ``limit`` monitored items from wanted/missing (or wanted/cutoff), oldest first."""
        data = self.request(
            "wanted/cutoff" if cutoff else "wanted/missing",
            params={
                "page": 1,
                "pageSize": limit,
                "monitored": True,
                "sortKey": _wanted_sort(self.instance.type),
                "sortDirection": "ascending",
            },
        )
        return data.get("records", []) if isinstance(data, dict) else []

    def get_command(self, command_id: int) -> dict[str, Any]:
        return self.request(f"command/{command_id}")

    # --- writes --------------------------------------------------------------------------

    def remove_queue_item(
        self,
        queue_id: int,
        *,
        remove_from_client: bool,
        blocklist: bool,
        skip_redownload: bool = False,
    ) -> None:
        """DELETE /queue/{id} with every flag sent explicitly."""
        self.request(
            f"queue/{queue_id}",
            "DELETE",
            params={
                "removeFromClient": remove_from_client,
                "blocklist": blocklist,
                "skipRedownload": skip_redownload,
                "changeCategory": False,
            },
        )

    def command(self, name: str, **body: Any) -> dict[str, Any]:
        return self.request("command", "POST", json={"name": name, **body})

    def search(self, media_ids: list[int]) -> dict[str, Any]:
        return self.command(self.flavor.search_command, **{self.flavor.search_key: list(media_ids)})

    def search_missing(self) -> dict[str, Any]:
        return self.command(self.flavor.missing_command)

    def import_scan(self, path: str, download_id: str) -> dict[str, Any]:
        """Downloaded{Movies,Episodes,Albums}Scan for one finished download."""
        return self.command(
            self.flavor.import_command,
            path=path,
            downloadClientId=download_id.upper(),
            importMode="Auto",
        )


def _wanted_sort(kind: str) -> str:
    return {
        "radarr": "movies.sortTitle",
        "sonarr": "episodes.airDateUtc",
        "lidarr": "albums.releaseDate",
    }[kind]


def _status_of(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(code, int):
        return code
    for name, status in (
        ("BadRequest", 400),
        ("AccessRestricted", 403),
        ("MethodNotAllowed", 405),
        ("ServerError", 500),
        ("BadGateway", 502),
    ):
        if name in type(exc).__name__:
            return status
    return None
