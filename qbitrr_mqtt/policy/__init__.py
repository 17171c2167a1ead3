"""Pure torrent policy: a snapshot and the rules in, decisions with reasons out.

No I/O, no clock: the time is ``Context.now``. Start with ``engine.py``'s docstring.
"""

from .engine import decide_cycle, decide_torrent, guard_removal
from .files import FileKind, FileVerdict, classify
from .guards import fail_closed_reason
from .search import plan_searches
from .space import plan_free_space
from .types import (
    Action,
    ArrView,
    ClientView,
    Context,
    CycleResult,
    Decision,
    FileView,
    History,
    QueueItem,
    RemovalKind,
    Rule,
    TorrentSnapshot,
    TorrentView,
    WantedItem,
)

__all__ = [
    "Action",
    "ArrView",
    "ClientView",
    "Context",
    "CycleResult",
    "Decision",
    "FileKind",
    "FileVerdict",
    "FileView",
    "History",
    "QueueItem",
    "RemovalKind",
    "Rule",
    "TorrentSnapshot",
    "TorrentView",
    "WantedItem",
    "classify",
    "decide_cycle",
    "decide_torrent",
    "fail_closed_reason",
    "guard_removal",
    "plan_free_space",
    "plan_searches",
]
