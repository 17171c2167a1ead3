"""``ArrClient`` (plain requests underneath) against the Arr emulator, for Radarr, Sonarr and Lidarr.

Each kind runs one emulator subprocess for the module, reset before every test. Covers: a
2,500-record queue read across pages (qBitrr stops at 1000), removal with blocklist, search
and import commands followed to completion, wanted/missing paging, and how refused keys,
server errors, timeouts and a dead server reach the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qbitrr_mqtt.clients.arr import QUEUE_PAGE_SIZE, ArrClient, ArrError, ArrUnavailable
from qbitrr_mqtt.config.models import ArrInstance
from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.arr_emulator.flavors import FLAVORS

KEY = "integration-key"


def wait_for[T](check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module", params=["radarr", "sonarr", "lidarr"])
def emulator_proc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorProcess]:
    workdir = tmp_path_factory.mktemp(f"arr-{request.param}")
    with start_arr_emulator(workdir, request.param, api_key=KEY) as handle:
        yield handle


@pytest.fixture
def emu(emulator_proc: EmulatorProcess) -> EmulatorProcess:
    emulator_proc.reset(seed="empty")
    return emulator_proc


def make_client(
    emu: EmulatorProcess, *, api_key: str = KEY, timeout: float = 30, url: str | None = None
) -> ArrClient:
    instance = ArrInstance(
        name=f"{emu.kind}-test",
        type=emu.kind,
        url=url or emu.url,
        api_key=api_key,
        category=emu.kind,
        timeout=timeout,  # type: ignore[arg-type]
    )
    return ArrClient(instance)


@pytest.fixture
def client(emu: EmulatorProcess) -> Iterator[ArrClient]:
    arr = make_client(emu)
    yield arr
    arr.close()


def test_reads_all_2500_queue_records_across_pages(emu: EmulatorProcess, client: ArrClient) -> None:
    media = emu.generate(1)
    created = emu.add_queue(count=2500, mediaIds=media, title="Bulk")
    records = client.queue()
    assert len(records) == 2500 > 1000
    assert {r["id"] for r in records} == {r["id"] for r in created}
    assert all(r[FLAVORS[emu.kind].item_key] == media[0] for r in records)
    pages = emu.calls(path="queue", method="GET")
    assert [int(c["query"]["page"]) for c in pages] == [1, 2, 3, 4, 5]
    assert {c["query"]["pageSize"] for c in pages} == {str(QUEUE_PAGE_SIZE)}
    assert client.stats.requests == 5


def test_queue_includes_unknown_items(emu: EmulatorProcess, client: ArrClient) -> None:
    emu.add_queue(downloadId="aa" * 20, title="Not in the library")
    records = client.queue()
    assert [r["downloadId"] for r in records] == ["AA" * 20]
    assert FLAVORS[emu.kind].item_key not in records[0]


def test_remove_with_blocklist_starts_a_new_search(emu: EmulatorProcess, client: ArrClient) -> None:
    flavor = FLAVORS[emu.kind]
    media = emu.generate(2)
    [record] = emu.add_queue(downloadId="b1" * 20, title="Bad.Release", mediaIds=media[:1])
    [kept] = emu.add_queue(downloadId="b2" * 20, title="Good.Release", mediaIds=media[1:])
    client.remove_queue_item(record["id"], remove_from_client=True, blocklist=True)
    assert [r["id"] for r in client.queue()] == [kept["id"]]
    blocklist = client.request("blocklist")
    assert blocklist["totalRecords"] == 1
    assert blocklist["records"][0]["sourceTitle"] == "Bad.Release"
    [delete] = emu.calls(path="queue/*", method="DELETE")
    assert delete["query"] == {
        "removeFromClient": "true",
        "blocklist": "true",
        "skipRedownload": "false",
        "changeCategory": "false",
    }
    searches = wait_for(lambda: emu.state()["searches"], "the re-search after blocklisting")
    assert searches[0]["name"] == flavor.search_command and searches[0]["ids"] == media[:1]


def test_remove_with_skip_redownload_searches_nothing(
    emu: EmulatorProcess, client: ArrClient
) -> None:
    media = emu.generate(1)
    [record] = emu.add_queue(downloadId="c1" * 20, title="Bad", mediaIds=media)
    client.remove_queue_item(
        record["id"], remove_from_client=False, blocklist=True, skip_redownload=True
    )
    state = emu.state()
    assert state["removals"] == [
        {
            "downloadId": "C1" * 20,
            "queueId": record["id"],
            "removeFromClient": False,
            "blocklist": True,
            "skipRedownload": True,
            "changeCategory": False,
        }
    ]
    assert state["commands"] == [] and client.queue() == []


def test_removing_an_unknown_record_is_a_404_arr_error(client: ArrClient) -> None:
    with pytest.raises(ArrError) as caught:
        client.remove_queue_item(999, remove_from_client=True, blocklist=False)
    assert caught.value.status == 404


def test_search_command_runs_to_completion(emu: EmulatorProcess, client: ArrClient) -> None:
    flavor = FLAVORS[emu.kind]
    media = emu.generate(3)
    command = client.search(media[:2])
    assert command["name"] == flavor.search_command and command["status"] == "queued"
    done = wait_for(
        lambda: (c := client.get_command(command["id"]))["status"] == "completed" and c,
        "the search to complete",
    )
    assert done["result"] == "successful" and done["body"][flavor.items_key] == media[:2]
    searched = client.request(
        flavor.item, params={flavor.items_key: media} if emu.kind != "radarr" else None
    )
    with_time = {i["id"] for i in searched if "lastSearchTime" in i}
    assert with_time == set(media[:2])


def test_search_missing_searches_monitored_missing_only(
    emu: EmulatorProcess, client: ArrClient
) -> None:
    flavor = FLAVORS[emu.kind]
    missing = emu.generate(4, prefix="Missing")
    emu.generate(2, prefix="Unmonitored", monitored=False)
    emu.generate(2, prefix="Have", hasFile=True)
    command = client.search_missing()
    assert command["name"] == flavor.missing_command
    wait_for(
        lambda: client.get_command(command["id"])["status"] == "completed", "the missing search"
    )
    assert emu.state()["searches"][-1]["ids"] == missing


def test_a_failing_command_ends_failed(emu: EmulatorProcess, client: ArrClient) -> None:
    emu.fail_commands(FLAVORS[emu.kind].search_command, message="Indexer down")
    command = client.search(emu.generate(1))
    done = wait_for(
        lambda: (c := client.get_command(command["id"]))["status"] in {"completed", "failed"} and c,
        "the command to end",
    )
    assert (done["status"], done["exception"]) == ("failed", "Indexer down")


def test_import_scan_imports_the_download(emu: EmulatorProcess, client: ArrClient) -> None:
    flavor = FLAVORS[emu.kind]
    media = emu.generate(1)
    emu.add_queue(
        downloadId="d4" * 20,
        title="Done",
        mediaIds=media,
        trackedDownloadState="importPending",
        status="completed",
        sizeleft=0,
    )
    command = client.import_scan("/downloads/Done", "d4" * 20)
    assert command["name"] == flavor.import_command
    assert (
        command["body"]["downloadClientId"] == "D4" * 20
        and command["body"]["path"] == "/downloads/Done"
    )
    wait_for(lambda: client.get_command(command["id"])["status"] == "completed", "the import")
    assert client.queue() == []
    item = client.request(f"{flavor.item}/{media[0]}")
    if emu.kind == "lidarr":
        assert item["statistics"]["percentOfTracks"] == 100.0
    else:
        assert item["hasFile"] is True
    history = client.request("history", params={"downloadId": "D4" * 20})
    assert flavor.imported_event in {h["eventType"] for h in history["records"]}


def test_wanted_missing_pages(emu: EmulatorProcess, client: ArrClient) -> None:
    missing = emu.generate(25, prefix="Wanted")
    emu.generate(3, prefix="Quiet", monitored=False)
    emu.generate(3, prefix="Owned", hasFile=True, cutoffUnmet=True)
    first = client.wanted(limit=10)
    assert [r["id"] for r in first] == missing[:10]
    last = client.request("wanted/missing", params={"page": 3, "pageSize": 10, "monitored": True})
    assert last["totalRecords"] == 25 and [r["id"] for r in last["records"]] == missing[20:]
    beyond = client.request("wanted/missing", params={"page": 4, "pageSize": 10})
    assert beyond["records"] == []
    assert len(client.wanted(cutoff=True, limit=10)) == 3


def test_a_refused_key_is_a_clear_error(emu: EmulatorProcess) -> None:
    arr = make_client(emu, api_key="wrong-key")
    try:
        with pytest.raises(
            ArrUnavailable, match=r"API key was refused \(401\); check arr\..*\.api_key"
        ):
            arr.system_status()
    finally:
        arr.close()


def test_server_errors_are_arr_unavailable_then_recover(
    emu: EmulatorProcess, client: ArrClient
) -> None:
    emu.fault("queue", status=500, count=2)
    for _ in range(2):
        with pytest.raises(ArrUnavailable, match="queue failed"):
            client.queue()
    assert client.queue() == []
    emu.fault("command", status=503, method="POST")
    with pytest.raises(ArrUnavailable):
        client.search_missing()


def test_client_errors_are_arr_errors_with_status(emu: EmulatorProcess, client: ArrClient) -> None:
    with pytest.raises(ArrError) as caught:
        client.command("NoSuchCommand")
    assert caught.value.status == 400
    emu.fault("system/status", status=403)
    with pytest.raises(ArrError) as caught:
        client.system_status()
    assert caught.value.status == 403


def test_a_slow_answer_times_out_as_unavailable(emu: EmulatorProcess) -> None:
    emu.fault("system/status", status=None, delay=3)
    arr = make_client(emu, timeout=0.5)
    try:
        with pytest.raises(ArrUnavailable, match="Timeout"):
            arr.system_status()
    finally:
        arr.close()


def test_a_stopped_arr_is_unavailable(tmp_path: Path) -> None:
    handle = start_arr_emulator(tmp_path, "radarr", api_key=KEY)
    url = handle.url
    arr = make_client(handle)
    assert arr.system_status()["appName"] == "Radarr"
    handle.stop()
    try:
        with pytest.raises(ArrUnavailable, match=url.split("//")[1]):
            arr.system_status()
    finally:
        arr.close()
