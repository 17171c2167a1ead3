"""The Arr emulator linked to a real qbittorrent-nox: the queue is derived from the torrents
of the Arr's category (state mapping per the contracts README), and ``removeFromClient``
really deletes the torrent, as the real Arr apps do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from qbitrr_mqtt.clients.arr import ArrClient
from qbitrr_mqtt.config.models import ArrInstance
from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import QbitHandle
from services.torrents import add_seeding, add_stalled, api, info, wait_for

KEY = "qbit-link-key"


def client_for(handle: EmulatorProcess) -> ArrClient:
    instance = ArrInstance(
        name=f"{handle.kind}-q", type=handle.kind, url=handle.url, api_key=KEY, category=handle.kind
    )  # type: ignore[arg-type]
    return ArrClient(instance)


@pytest.fixture
def category() -> str:
    return f"arr-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def radarr(qbit: QbitHandle, category: str, workdir: Path) -> Iterator[EmulatorProcess]:
    with start_arr_emulator(
        workdir, "radarr", api_key=KEY, qbit_url=qbit.url, category=category
    ) as handle:
        yield handle


def test_queue_is_derived_from_the_category_and_removal_deletes_the_torrent(
    qbit: QbitHandle, radarr: EmulatorProcess, category: str
) -> None:
    seeding = add_seeding(qbit, f"Movie.One.{category}", 64 * 1024, category=category)
    stalled = add_stalled(qbit, f"Movie.Two.{category}", 64 * 1024, category=category)
    add_seeding(qbit, f"Someone.Else.{category}", 16 * 1024, category=f"{category}-other")
    unknown = add_seeding(qbit, f"Unmatched.{category}", 16 * 1024, category=category)
    parsed = add_seeding(qbit, "Parsed.Movie.2021.1080p.BluRay", 16 * 1024, category=category)
    movies = radarr.generate(2)
    [parsed_movie] = radarr.add_library({"movies": [{"title": "Parsed Movie", "year": 2021}]})[
        "movies"
    ]
    radarr.link(seeding.hash, movies[:1])
    radarr.link(stalled.hash, movies[1:])
    client = client_for(radarr)
    try:
        records = {r["downloadId"]: r for r in client.queue()}
        hashes = {seeding.hash, stalled.hash, unknown.hash, parsed.hash}
        assert set(records) == {h.upper() for h in hashes}
        assert records[parsed.hash.upper()]["movieId"] == parsed_movie  # matched by its name
        done, stuck = records[seeding.hash.upper()], records[stalled.hash.upper()]
        assert {r["id"] for r in client.queue()} == {
            r["id"] for r in records.values()
        }  # stable ids
        assert (done["status"], done["trackedDownloadState"], done["movieId"]) == (
            "completed",
            "importPending",
            movies[0],
        )
        assert done["sizeleft"] == 0 and done["size"] == 64 * 1024
        assert (stuck["status"], stuck["trackedDownloadStatus"]) == ("warning", "warning")
        assert stuck["errorMessage"] == "The download is stalled with no connections"
        assert "movieId" not in records[unknown.hash.upper()]

        radarr.set_download(
            seeding.hash,
            trackedDownloadState="importBlocked",
            statusMessages=[
                {"title": "Movie.One", "messages": ["No files found are eligible for import"]}
            ],
        )
        blocked = next(r for r in client.queue() if r["downloadId"] == seeding.hash.upper())
        assert blocked["trackedDownloadState"] == "importBlocked"
        assert blocked["statusMessages"][0]["messages"] == [
            "No files found are eligible for import"
        ]

        client.remove_queue_item(stuck["id"], remove_from_client=True, blocklist=True)
        qbt = api(qbit)
        wait_for(
            lambda: info(qbt, stalled.hash) is None, "qBittorrent to delete the blocklisted torrent"
        )
        assert client.request("blocklist")["records"][0]["movieId"] == movies[1]

        client.remove_queue_item(done["id"], remove_from_client=False, blocklist=False)
        assert info(qbt, seeding.hash) is not None  # kept in the client, gone from the queue
        command = client.import_scan(f"/downloads/{parsed.name}", parsed.hash)
        wait_for(lambda: client.get_command(command["id"])["status"] == "completed", "the import")
        assert client.request(f"movie/{parsed_movie}")["hasFile"] is True
        assert [r["downloadId"] for r in client.queue()] == [unknown.hash.upper()]
    finally:
        client.close()


def test_a_season_pack_is_one_record_per_episode(
    qbit: QbitHandle, category: str, workdir: Path
) -> None:
    pack = add_seeding(
        qbit,
        f"Show.S01.{category}",
        {"e1.mkv": 4096, "e2.mkv": 4096, "e3.mkv": 4096},
        category=category,
    )
    with start_arr_emulator(
        workdir, "sonarr", api_key=KEY, qbit_url=qbit.url, category=category
    ) as sonarr:
        episodes = sonarr.generate(3)
        sonarr.link(pack.hash, episodes)
        client = client_for(sonarr)
        try:
            records = client.queue()
            assert sorted(r["episodeId"] for r in records) == episodes
            assert {r["downloadId"] for r in records} == {pack.hash.upper()}
            client.remove_queue_item(records[0]["id"], remove_from_client=True, blocklist=False)
            wait_for(lambda: info(api(qbit), pack.hash) is None, "qBittorrent to delete the pack")
            assert client.queue() == []
        finally:
            client.close()
