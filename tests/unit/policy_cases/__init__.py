"""Builders shared by the policy tests: realistic defaults, one keyword per difference."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from qbitrr_mqtt.config.loader import config_from_dict
from qbitrr_mqtt.config.models import Policy, TrackerRule
from qbitrr_mqtt.policy import (
    Action,
    ArrView,
    ClientView,
    Context,
    Decision,
    FileView,
    History,
    MediaVerdict,
    QueueItem,
    TorrentSnapshot,
    TorrentView,
)

NOW = 1_700_000_000.0
GIB = 1024**3
MIB = 1024**2
HOUR = 3600
DAY = 86400
#: The validator's answer for media that plays; ``snap()`` uses it unless told otherwise, so
#: tests about other rules see imports as they would after a passing ffprobe.
PLAYS = MediaVerdict(ok=True, reason="1 media file probed ok")


@cache
def default_policy() -> Policy:
    """The policy every instance gets from schema.json's defaults (not the dataclass's)."""
    cfg = config_from_dict({"arr": {"radarr": {"type": "radarr", "url": "http://x", "api_key": "k"}}})
    return cfg.settings.policy


def policy(**overrides: Any) -> Policy:
    if "trackers" in overrides:
        overrides["trackers"] = tuple(
            t if isinstance(t, TrackerRule) else TrackerRule(**t) for t in overrides["trackers"]
        )
    return replace(default_policy(), **overrides)


def torrent(**kw: Any) -> TorrentView:
    """A 1 GiB download half done, added an hour ago, in the radarr category."""
    base: dict[str, Any] = {
        "hash": "a" * 40,
        "name": "Movie.2020.1080p",
        "state": "downloading",
        "progress": 0.5,
        "size": GIB,
        "downloaded": GIB // 2,
        "amount_left": GIB // 2,
        "dlspeed": 0,
        "availability": 2.0,
        "eta": 600,
        "added_on": NOW - HOUR,
        "last_activity": NOW - 60,
        "category": "radarr",
        "tracker": "http://tracker.public.example/announce",
        "content_path": "/downloads/Movie.2020.1080p",
        "save_path": "/downloads",
    }
    base.update(kw)
    return TorrentView(**base)


def complete(**kw: Any) -> TorrentView:
    """A finished download, seeding, completed 10 minutes ago."""
    base: dict[str, Any] = {
        "state": "stalledUP",
        "progress": 1.0,
        "downloaded": GIB,
        "amount_left": 0,
        "completion_on": NOW - 600,
        "availability": -1.0,
        "eta": 8640000,
    }
    base.update(kw)
    return torrent(**base)


def queue_item(**kw: Any) -> QueueItem:
    base: dict[str, Any] = {"id": 101, "media_ids": (7,), "status": "downloading"}
    base.update(kw)
    return QueueItem(**base)


def snap(
    t: TorrentView | None = None,
    *,
    queue: tuple[QueueItem, ...] | None = None,
    history: History | None = None,
    files: tuple[FileView, ...] | None = None,
    unplayable: tuple[str, ...] = (),
    media_verdict: MediaVerdict | None = PLAYS,
    **history_kw: Any,
) -> TorrentSnapshot:
    t = t or torrent()
    h = history or History(first_seen=t.added_on, **history_kw)
    return TorrentSnapshot(
        torrent=t,
        queue=(queue_item(),) if queue is None else queue,
        history=h,
        files=files,
        unplayable=unplayable,
        media_verdict=media_verdict,
    )


def ctx(
    pol: Policy | None = None,
    *,
    now: float = NOW,
    client: ClientView | None = None,
    arr: ArrView | None = None,
    dry_run: bool = False,
    arr_type: str = "radarr",
    **policy_kw: Any,
) -> Context:
    pol = pol or default_policy()
    if policy_kw:
        pol = replace(pol, **policy_kw)
    return Context(
        policy=pol,
        now=now,
        arr_type=arr_type,  # type: ignore[arg-type]
        client=client or ClientView(),
        arr=arr or ArrView(),
        dry_run=dry_run,
    )


def files(*names: str, priority: int = 1) -> tuple[FileView, ...]:
    return tuple(FileView(index=i, name=n, size=MIB, priority=priority) for i, n in enumerate(names))


def acts(decisions: list[Decision] | tuple[Decision, ...]) -> list[str]:
    """``["strike:stalled", "remove:stalled"]``: compact to compare in tables."""
    return [f"{d.action.value}:{d.rule.value}" for d in decisions]


def only(decisions: list[Decision] | tuple[Decision, ...], action: Action) -> Decision:
    found = [d for d in decisions if d.action is action]
    assert len(found) == 1, f"expected one {action}, got {acts(decisions)}"
    return found[0]


def removals(decisions: list[Decision] | tuple[Decision, ...]) -> list[Decision]:
    return [d for d in decisions if d.is_removal]
