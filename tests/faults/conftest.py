"""Fixtures of the fault tests: a qbittorrent-nox and a Mosquitto of their own per test
(the tests stop and restart them, so they are never the session's shared ones), and the
Arr emulator linked to a fresh category of that qBittorrent."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.arr_emulator import EmulatorProcess, start_arr_emulator
from services.runners import MosquittoHandle, QbitHandle, start_mosquitto, start_qbittorrent

sys.path.insert(0, str(Path(__file__).parent))

from fault_stack import KEY  # noqa: E402


@pytest.fixture
def own_qbit(workdir: Path) -> Iterator[QbitHandle]:
    """A qbittorrent-nox for this test alone (it may be stopped, killed, restarted)."""
    with start_qbittorrent(workdir / "qbit") as handle:
        yield handle


@pytest.fixture
def own_broker(workdir: Path) -> Iterator[MosquittoHandle]:
    """A Mosquitto for this test alone (it may be stopped and restarted)."""
    with start_mosquitto(workdir / "mosquitto") as handle:
        yield handle


@pytest.fixture
def category() -> str:
    return f"radarr-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def radarr(workdir: Path, own_qbit: QbitHandle, category: str) -> Iterator[EmulatorProcess]:
    """A Radarr emulator whose queue is the torrents of ``category`` in ``own_qbit``."""
    with start_arr_emulator(
        workdir, "radarr", api_key=KEY, qbit_url=own_qbit.url, category=category, command_step=0.05
    ) as arr:
        yield arr
