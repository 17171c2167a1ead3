"""What every part of :class:`~.LeanStore` shares: the database and the touched-rows record.

The twin of ``store/base.py``: the same ``track_torrent_writes`` / ``take_touched`` contract
(the manager keeps its torrent rows in memory and re-reads only the ones written), on a
:class:`~.db.Database` instead of an SQLAlchemy engine.
"""

from __future__ import annotations

from collections.abc import Iterable

from .db import Database


class LeanBase:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._touched: dict[str, set[str]] = {}  # instance -> torrent hashes written

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    def track_torrent_writes(self, instance: str) -> None:
        """Remember the hashes of ``instance`` whose torrent row this store writes, until
        :meth:`take_touched` hands them over (see ``Store.track_torrent_writes``)."""
        self._touched.setdefault(instance, set())

    def take_touched(self, instance: str) -> set[str]:
        """The hashes written since the last call (tracking must be on for ``instance``)."""
        touched = self._touched.get(instance)
        if touched is None:
            raise RuntimeError(f"torrent writes of {instance!r} are not tracked")
        self._touched[instance] = set()
        return touched

    def _touch(self, instance: str, hashes: Iterable[str]) -> None:
        touched = self._touched.get(instance)
        if touched is not None:
            touched.update(hashes)
