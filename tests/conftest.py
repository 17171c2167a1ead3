"""Shared fixtures: real services on free ports, started once per session, and a throwaway
PostgreSQL database per test.

- ``mosquitto``: one Mosquitto per session (tests use their own topics; a test that stops
  or restarts a broker starts its own with ``services.runners.start_mosquitto``).
- ``qbit``: one qbittorrent-nox per session (tests add their own torrents, with their own
  categories, and never assume an empty client).
- ``qbit_pair``: a seeder and a leecher qbittorrent-nox, for real downloads over loopback.
- ``pg_url``: a new PostgreSQL database, dropped afterwards (skipped with the reason when
  the server on 127.0.0.1:5432 cannot be reached).
- ``workdir``: an empty directory for this test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qbitrr_mqtt.store.testing import postgres_unavailable, temp_postgres_database
from services.runners import MosquittoHandle, QbitHandle, start_mosquitto, start_qbittorrent


@dataclass(frozen=True)
class QbitPair:
    """Two qbittorrent-nox instances: ``seeder`` has the data, ``leecher`` downloads it."""

    seeder: QbitHandle
    leecher: QbitHandle


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty directory for this test's services and files."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoHandle]:
    """One Mosquitto for the session, on a free port of 127.0.0.1."""
    with start_mosquitto(tmp_path_factory.mktemp("mosquitto")) as handle:
        yield handle


@pytest.fixture(scope="session")
def qbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbitHandle]:
    """One qbittorrent-nox for the session (no login needed from localhost)."""
    with start_qbittorrent(tmp_path_factory.mktemp("qbit")) as handle:
        yield handle


@pytest.fixture(scope="session")
def qbit_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbitPair]:
    """A seeder and a leecher qbittorrent-nox for the session."""
    with (
        start_qbittorrent(tmp_path_factory.mktemp("seeder")) as seeder,
        start_qbittorrent(tmp_path_factory.mktemp("leecher")) as leecher,
    ):
        yield QbitPair(seeder, leecher)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with temp_postgres_database() as url:
        yield url
