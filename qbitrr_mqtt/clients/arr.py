"""The Arr side: Radarr v3, Sonarr v3 and Lidarr v1 over their REST API.

One ``ArrClient`` per instance over one HTTP session. It reads *every* queue page (qBitrr
stops at 1000 records) and sends every flag itself (``skipRedownload`` on queue DELETE, per
the contracts README).

Every call goes through :meth:`ArrClient.request`, which speaks HTTP with ``requests`` (already
loaded for qBittorrent) the way pyarr's low-level request does: ``<url>/api/<v3|v1>/<endpoint>``
with the ``X-Api-Key`` header, booleans in the query as ``true``/``false``, a JSON body, the
JSON answer (``None`` for 204, ``{"message": text}`` for anything else). pyarr itself (with
httpx, click and rich under it: ~9 MB in every manager) is not imported. There are no retries
here: the manager has its own backoff and must notice an outage at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

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


class ArrClient:
    """Radarr v3, Sonarr v3 or Lidarr v1, as one instance of the config sees it."""

    def __init__(self, instance: ArrInstance) -> None:
        self.instance = instance
        self.flavor = FLAVORS[instance.type]
        self.stats = HttpStats()
        url = urlsplit(instance.url)
        tls = url.scheme == "https"
        port = url.port or (443 if tls else 80)
        host = url.hostname or "127.0.0.1"
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        base_path = url.path.rstrip("/")
        scheme = "https" if tls else "http"
        #: ``<scheme>://<host>:<port><base path>/api/<v3|v1>``; endpoints are appended to it.
        self.api_url = f"{scheme}://{host}:{port}{quote(base_path)}/api/{self.flavor.api_ver}"
        self.timeout = instance.timeout
        self.session = requests.Session()
        self.session.headers["X-Api-Key"] = instance.api_key

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        endpoint: str,
        method: str = "GET",
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One API call; errors become ArrUnavailable (retry later) or ArrError (don't)."""
        if params:
            params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
        try:
            response = self.session.request(
                method,
                f"{self.api_url}/{endpoint}",
                params=params or None,
                json=json,
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            raise ArrUnavailable(
                f"{self.instance.name}: Timeout occurred while connecting to your instance. "
                f"({self.instance.url})"
            ) from exc
        except requests.RequestException as exc:
            raise ArrUnavailable(
                f"{self.instance.name}: Error occurred while communicating with your instance. "
                f"({self.instance.url})"
            ) from exc
        self.stats.requests += 1
        self.stats.bytes_received += len(response.content)
        status = response.status_code
        if status >= 400:
            raise self._error(endpoint, status, _error_message(response))
        if status == 204:
            return None
        if "application/json" in response.headers.get("Content-Type", ""):
            try:
                return response.json()
            except ValueError as exc:
                raise ArrUnavailable(f"{self.instance.name}: {endpoint} failed: {exc}") from exc
        return {"message": response.text}

    def _error(self, endpoint: str, status: int, message: Any) -> Exception:
        """The exception for an error status, worded as before (when pyarr raised them)."""
        name = self.instance.name
        if status == 401:
            return ArrUnavailable(
                f"{name}: the API key was refused (401); check arr.{name}.api_key"
            )
        if status == 404:
            return ArrError(f"{name}: {endpoint} not found", 404)
        if status in (500, 502):
            return ArrUnavailable(f"{name}: {endpoint} failed ({status}): {message}")
        if status in (400, 403, 405):
            return ArrError(f"{name}: {endpoint} refused ({status}): {message}", status)
        # Any other status (409, 422, 503, ...): try again later, status and text in the reason.
        return ArrUnavailable(f"{name}: {endpoint} failed: {(status, message)}")

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


def _error_message(response: requests.Response) -> Any:
    """The Arr's ``message`` when the error body is a JSON object holding one, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        return body.get("message", response.text)
    return response.text
