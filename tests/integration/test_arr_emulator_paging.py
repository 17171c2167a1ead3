"""The Arr emulator holds qBittorrent's torrents between queue reads (its category from
``torrents/info``, a large category followed with ``sync/maindata`` changes) and serves the
pages after the first of one paging pass from the first page's read: every first page still
shows what qBittorrent did before it, and a pass shows each record once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from qbitrr_mqtt.clients.arr import ArrClient
from qbitrr_mqtt.config.models import ArrInstance
from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import QbitHandle
from services.torrents import add_seeding, add_stalled, api, wait_for, wait_state

KEY = "paging-key"


@pytest.fixture
def category() -> str:
    return f"page-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def radarr(qbit: QbitHandle, category: str, workdir: Path) -> Iterator[EmulatorProcess]:
    with start_arr_emulator(
        workdir, "radarr", api_key=KEY, qbit_url=qbit.url, category=category
    ) as handle:
        yield handle


def client_for(radarr: EmulatorProcess, category: str) -> ArrClient:
    instance = ArrInstance(
        name="radarr-paging", type="radarr", url=radarr.url, api_key=KEY, category=category
    )  # type: ignore[arg-type]
    return ArrClient(instance)


@pytest.fixture
def client(radarr: EmulatorProcess, category: str) -> Iterator[ArrClient]:
    arr = client_for(radarr, category)
    yield arr
    arr.close()


def first_page(client: ArrClient, size: int = 50) -> dict[str, dict[str, Any]]:
    data = client.request(
        "queue", params={"page": 1, "pageSize": size, "includeUnknownMovieItems": True}
    )
    assert data["totalRecords"] == len(data["records"])
    return {r["downloadId"]: r for r in data["records"]}


def test_every_first_page_shows_what_qbittorrent_did_before_it(
    qbit: QbitHandle, category: str, client: ArrClient
) -> None:
    qbt = api(qbit)
    done = add_seeding(qbit, f"Paging.Done.{category}", 16 * 1024, category=category)
    stuck = add_stalled(qbit, f"Paging.Stuck.{category}", 16 * 1024, category=category)
    records = first_page(client)
    assert set(records) == {done.hash.upper(), stuck.hash.upper()}
    assert records[stuck.hash.upper()]["status"] == "warning"

    qbt.torrents_pause(torrent_hashes=stuck.hash)
    wait_state(qbt, stuck.hash, {"pausedDL", "stoppedDL"})
    assert first_page(client)[stuck.hash.upper()]["status"] == "paused"

    qbt.torrents_create_category(name=f"{category}-other")
    qbt.torrents_set_category(category=f"{category}-other", torrent_hashes=stuck.hash)
    wait_for(
        lambda: qbt.torrents_info(torrent_hashes=stuck.hash)[0]["category"] != category, "the move"
    )
    assert set(first_page(client)) == {done.hash.upper()}

    late = add_seeding(qbit, f"Paging.Late.{category}", 16 * 1024, category=category)
    qbt.torrents_delete(delete_files=True, torrent_hashes=done.hash)
    wait_for(lambda: not qbt.torrents_info(torrent_hashes=done.hash), "the deletion")
    records = first_page(client)
    assert set(records) == {late.hash.upper()}
    assert records[late.hash.upper()]["size"] == 16 * 1024


def test_a_paging_pass_shows_each_record_once(
    qbit: QbitHandle, category: str, radarr: EmulatorProcess, client: ArrClient
) -> None:
    added = [
        add_seeding(qbit, f"Paging.{n}.{category}", 8 * 1024, category=category).hash.upper()
        for n in range(5)
    ]
    movies = radarr.generate(2)
    radarr.link(added[0], movies)  # two records for one download
    seen: list[dict[str, Any]] = []
    for page in range(1, 8):
        data = client.request(
            "queue", params={"page": page, "pageSize": 1, "includeUnknownMovieItems": True}
        )
        assert data["totalRecords"] == 6
        seen += data["records"]
    assert len({r["id"] for r in seen}) == 6
    assert sorted(r["downloadId"] for r in seen) == sorted([added[0], *added])
    assert client.queue() == seen  # the same records, in the same (id) order

    def one_read(_: int) -> set[str]:
        other = client_for(radarr, category)
        try:
            return set(first_page(other))
        finally:
            other.close()

    with ThreadPoolExecutor(8) as pool:  # concurrent first pages share qBittorrent's answers
        answers = list(pool.map(one_read, range(16)))
    assert answers == [set(added)] * 16
