"""``GET /api/v1/logs/{process}`` serves the program logs and nothing else.

A real file outside the logs directory holds a marker; every way of naming it (``../``,
absolute paths, URL-encoded and double-encoded variants, backslashes, NUL) and every symlink
pointing out of the logs directory must not bring the marker back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTH
from yarl import URL

from qbitrr_mqtt.config import Config

MARKER = "OUTSIDE-THE-LOGS-DIR-5e1d"


@pytest.fixture
def logs(config: Config) -> Path:
    """The logs directory with a real log, and a marked file two levels up."""
    directory = Path(config.settings.data_dir) / "logs"
    directory.mkdir(parents=True)
    (directory / "bridge.log").write_text("bridge line 1\nbridge line 2\n", encoding="utf-8")
    (directory.parent.parent / "outside.txt").write_text(MARKER + "\n", encoding="utf-8")
    return directory


TRAVERSALS = [
    "../../outside.txt",
    "..%2F..%2Foutside.txt",
    "..%2f..%2foutside.txt",
    "%2e%2e%2f%2e%2e%2foutside.txt",
    "%252e%252e%252f%252e%252e%252foutside.txt",
    "..%5c..%5coutside.txt",
    "....//....//outside.txt",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "bridge%00..%2F..%2Foutside.txt",
    "bridge.log",
    "bridge%2Elog",
    "..",
    "%2e%2e",
    "manager-radarr%2F..%2F..%2F..%2Foutside",
]


@pytest.mark.parametrize("name", TRAVERSALS)
async def test_traversal_names_are_refused(client: Any, logs: Path, name: str) -> None:
    url = URL(f"/api/v1/logs/{name}?lines=50", encoded=True)
    resp = await client.get(url, headers=AUTH)
    text = await resp.text()
    assert resp.status in (400, 404), (name, resp.status, text)
    assert MARKER not in text and "root:" not in text
    assert (await resp.json())["error"]["code"]


async def test_a_known_program_is_served(client: Any, logs: Path) -> None:
    """Positive control: the real log is readable through the same route."""
    resp = await client.get("/api/v1/logs/bridge?lines=5", headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["lines"] == ["bridge line 1", "bridge line 2"]


@pytest.mark.parametrize(
    "target",
    ["../../outside.txt", "/etc/passwd", "../../outside-dir"],
    ids=["relative-file", "absolute-file", "directory-file"],
)
async def test_symlinks_out_of_the_logs_dir_are_refused(
    client: Any, logs: Path, target: str
) -> None:
    if target.endswith("outside-dir"):
        outside = logs.parent.parent / "outside-dir"
        outside.mkdir()
        (outside / "webui.log").write_text(MARKER + "\n", encoding="utf-8")
        os.symlink(target, logs / "sub")
        os.symlink("sub/webui.log", logs / "webui.log")
    else:
        os.symlink(target, logs / "webui.log")
    for follow in ("false", "true"):
        resp = await client.get(f"/api/v1/logs/webui?lines=50&follow={follow}", headers=AUTH)
        text = await resp.text()
        assert resp.status == 403, (follow, resp.status, text[:200])
        assert MARKER not in text and "root:" not in text
        assert (await resp.json())["error"]["code"] == "forbidden_path"
    listing = await (await client.get("/api/v1/logs", headers=AUTH)).json()
    assert MARKER not in str(listing)


async def test_a_symlink_inside_the_logs_dir_still_works(client: Any, logs: Path) -> None:
    """A rotation scheme that links inside the directory is not broken by the check."""
    (logs / "webui.log.1").write_text("rotated line\n", encoding="utf-8")
    os.symlink("webui.log.1", logs / "webui.log")
    resp = await client.get("/api/v1/logs/webui?lines=5", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["lines"] == ["rotated line"]


async def test_a_logs_dir_that_is_itself_a_link_works(
    aiohttp_client: Any, tmp_path: Path, store: Any
) -> None:
    """data_dir/logs may point elsewhere (a bigger disk): files inside it are still served."""
    from conftest import webui_app, write_config

    from qbitrr_mqtt.config import load_config

    path = write_config(tmp_path / "linked")
    cfg = load_config(path, env={})
    real = tmp_path / "bigdisk-logs"
    real.mkdir()
    (real / "bridge.log").write_text("on the big disk\n", encoding="utf-8")
    Path(cfg.settings.data_dir).mkdir(parents=True)
    os.symlink(real, Path(cfg.settings.data_dir) / "logs")
    client = await aiohttp_client(webui_app(cfg, store))
    resp = await client.get("/api/v1/logs/bridge?lines=5", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["lines"] == ["on the big disk"]
