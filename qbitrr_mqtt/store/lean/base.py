"""What every part of :class:`~.LeanStore` shares: the database and the touched-rows record.

The twin of ``store/base.py``: the same touched-rows record (``common.TouchedRows``: the
manager keeps its torrent rows in memory and re-reads only the ones written), on a
:class:`~.db.Database` instead of an SQLAlchemy engine.
"""

from __future__ import annotations

from ..common import TouchedRows
from .db import Database


class LeanBase(TouchedRows):
    def __init__(self, db: Database) -> None:
        self.db = db
        TouchedRows.__init__(self)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect
