"""What differs between the emulated Radarr v3, Sonarr v3 and Lidarr v1.

Everything kind-specific that is a *name* (API version, query flags, command names, JSON keys,
history event names) lives in one ``Flavor`` per kind, so the handlers stay generic.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("radarr", "sonarr", "lidarr")


@dataclass(frozen=True, slots=True)
class Flavor:
    """Names one Arr app uses for the same concepts."""

    kind: str
    app_name: str
    version: str
    api_ver: str
    port: int
    #: The wanted unit: what a queue record, a search and wanted/missing are about.
    item: str  # movie / episode / album
    item_key: str  # movieId / episodeId / albumId
    items_key: str  # movieIds / episodeIds / albumIds
    #: The grouping above the item (series / artist); None for Radarr.
    parent: str | None
    parent_key: str | None  # seriesId / artistId
    include_unknown: str
    search_command: str
    missing_command: str
    cutoff_command: str
    import_command: str
    parent_search_command: str | None
    imported_event: str
    wanted_sort: str

    @property
    def api_root(self) -> str:
        """The path prefix of every API route, e.g. ``/api/v3``."""
        return f"/api/{self.api_ver}"

    def known_commands(self) -> dict[str, str]:
        """Command names this kind accepts, keyed by lower case (names are case-insensitive)."""
        names = [
            self.search_command,
            self.missing_command,
            self.cutoff_command,
            self.import_command,
            "RefreshMonitoredDownloads",
            "ProcessMonitoredDownloads",
            "RssSync",
            "CheckHealth",
            "ApplicationUpdateCheck",
        ]
        if self.parent_search_command:
            names.append(self.parent_search_command)
        if self.kind == "sonarr":
            names.append("SeasonSearch")
        return {name.lower(): name for name in names}


FLAVORS: dict[str, Flavor] = {
    "radarr": Flavor(
        kind="radarr",
        app_name="Radarr",
        version="5.26.2.10099",
        api_ver="v3",
        port=7878,
        item="movie",
        item_key="movieId",
        items_key="movieIds",
        parent=None,
        parent_key=None,
        include_unknown="includeUnknownMovieItems",
        search_command="MoviesSearch",
        missing_command="MissingMoviesSearch",
        cutoff_command="CutOffUnmetMoviesSearch",
        import_command="DownloadedMoviesScan",
        parent_search_command=None,
        imported_event="downloadFolderImported",
        wanted_sort="movies.sortTitle",
    ),
    "sonarr": Flavor(
        kind="sonarr",
        app_name="Sonarr",
        version="4.0.19.2730",
        api_ver="v3",
        port=8989,
        item="episode",
        item_key="episodeId",
        items_key="episodeIds",
        parent="series",
        parent_key="seriesId",
        include_unknown="includeUnknownSeriesItems",
        search_command="EpisodeSearch",
        missing_command="MissingEpisodeSearch",
        cutoff_command="CutoffUnmetEpisodeSearch",
        import_command="DownloadedEpisodesScan",
        parent_search_command="SeriesSearch",
        imported_event="downloadFolderImported",
        wanted_sort="episodes.airDateUtc",
    ),
    "lidarr": Flavor(
        kind="lidarr",
        app_name="Lidarr",
        version="2.14.5.4836",
        api_ver="v1",
        port=8686,
        item="album",
        item_key="albumId",
        items_key="albumIds",
        parent="artist",
        parent_key="artistId",
        include_unknown="includeUnknownArtistItems",
        search_command="AlbumSearch",
        missing_command="MissingAlbumSearch",
        cutoff_command="CutoffUnmetAlbumSearch",
        import_command="DownloadedAlbumsScan",
        parent_search_command="ArtistSearch",
        imported_event="downloadImported",
        wanted_sort="albums.releaseDate",
    ),
}


def flavor_of(kind: str) -> Flavor:
    """The flavor of ``kind``; a clear ValueError for anything else."""
    try:
        return FLAVORS[kind]
    except KeyError:
        raise ValueError(f"unknown Arr kind {kind!r}: expected one of {', '.join(KINDS)}") from None
