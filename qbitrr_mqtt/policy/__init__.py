"""Pure torrent policy: a snapshot and the rules in, decisions with reasons out.

No I/O, no clock: the time is ``Context.now``. Start with ``engine.py``'s docstring.
"""

from .engine import Memo, decide_cycle, decide_torrent, guard_removal, quiet_until
from .files import FileKind, FileVerdict, classify
from .guards import fail_closed_reason
from .media import ProbeRequest, gate_import, probe_request, probe_targets
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
    MediaVerdict,
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
    "MediaVerdict",
    "ProbeRequest",
    "QueueItem",
    "RemovalKind",
    "Rule",
    "TorrentSnapshot",
    "TorrentView",
    "WantedItem",
    "classify",
    "Memo",
    "decide_cycle",
    "quiet_until",
    "decide_torrent",
    "fail_closed_reason",
    "gate_import",
    "guard_removal",
    "plan_free_space",
    "plan_searches",
    "probe_request",
    "probe_targets",
]
