"""``python -m services.arr_emulator``: prints its URL, serves the seed, refuses bad input
with a clear message (no traceback), and the subprocess handle's control helpers work."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from services.arr_emulator import EmulatorError, start_arr_emulator
from services.arr_emulator.runner import REPO_ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.arr_emulator", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--flavor", "plex", "--api-key", "k"], "invalid choice: 'plex'"),
        (["--flavor", "radarr"], "--api-key"),
        (["--flavor", "radarr", "--api-key", "k", "--port", "70000"], "is not a TCP port"),
        (["--flavor", "radarr", "--api-key", "k", "--seed", "/nonexistent.json"], "neither 'demo'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with start_arr_emulator(tmp_path, "lidarr") as first:
        port = first.url.rsplit(":", 1)[1]
        result = run_cli("--kind", "lidarr", "--api-key", "k", "--port", port)
    assert result.returncode == 1
    assert (
        f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    )


def test_seed_file_and_kind_alias(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "series": [
                    {"title": "Show", "episodes": [{"title": "E1", "season": 1, "number": 1}]}
                ],
                "movies": [{"title": "ignored by sonarr"}],
                "queue": [{"downloadId": "ab" * 20, "title": "Show.S01E01", "mediaIds": [1]}],
            }
        )
    )
    with start_arr_emulator(tmp_path, "sonarr", api_key="k", seed=str(seed)) as handle:
        request = urllib.request.Request(f"{handle.api_root}/queue", headers={"X-Api-Key": "k"})
        with urllib.request.urlopen(request, timeout=30) as response:
            page = json.load(response)
        assert [(r["seriesId"], r["episodeId"], r["downloadId"]) for r in page["records"]] == [
            (1, 1, "AB" * 20)
        ]
        assert handle.state()["library"] == {"parents": 1, "items": 1}
        with pytest.raises(EmulatorError, match="trackedDownloadState|tracked_state"):
            handle.add_queue(
                downloadId="cd" * 20, trackedDownloadState="importFailed"
            )  # Lidarr-only state
        handle.reset()
        assert handle.state()["queue"][0]["download_id"] == "AB" * 20  # the start-up seed again
