"""Media on disk (issue 10): ffprobe validation (``probe``) and folder cleanup (``cleanup``).

The decisions stay in ``qbitrr_mqtt.policy``; this package does the file-system and
subprocess work the manager needs for them.
"""

from .cleanup import CleanupPlan, CleanupResult, cleanup_due, execute_cleanup, plan_cleanup, scan
from .probe import MediaValidator, ProbeFacts, ProbeStats, Verdict

__all__ = [
    "CleanupPlan",
    "CleanupResult",
    "MediaValidator",
    "ProbeFacts",
    "ProbeStats",
    "Verdict",
    "cleanup_due",
    "execute_cleanup",
    "plan_cleanup",
    "scan",
]
