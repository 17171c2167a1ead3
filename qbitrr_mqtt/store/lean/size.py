"""Lean twin of ``retention.db_size``: how many bytes the database takes.

The bridge publishes it in ``bridge/info`` (Home Assistant's "Database size" sensor) every few
minutes; with this the bridge needs no SQLAlchemy engine to measure it. The same numbers as
the ORM function: SQLite's file plus its WAL (what a full disk would hold; the ``-shm`` file
is a fixed-size index), PostgreSQL's ``pg_database_size``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .base import LeanBase
from .db import parse_url


class SizePart(LeanBase):
    def db_size(self) -> int:
        """Bytes the database takes: SQLite's file plus its WAL (a ``file:`` URI database
        counts its pages, as ``retention.db_size`` does), PostgreSQL's
        ``pg_database_size``."""
        if self.dialect == "postgresql":
            with self.db.read() as tx:
                return int(tx.scalar("SELECT pg_database_size(current_database())"))
        _, target, query = parse_url(self.db.url)
        if query.get("uri") or target.startswith("file:"):
            with self.db.read() as tx:
                pages = tx.scalar("PRAGMA page_count")
                size = tx.scalar("PRAGMA page_size")
            return int(pages) * int(size)
        path = Path(target)
        total = 0
        for part in (path, path.with_name(path.name + "-wal")):
            with contextlib.suppress(FileNotFoundError):
                total += part.stat().st_size
        return total
