"""Lean twin of ``store/outbox.py`` (to be filled: see LeanStore)."""

from __future__ import annotations

from ..common import OUTBOX_LIMIT
from .base import LeanBase

__all__ = ["OUTBOX_LIMIT", "OutboxPart"]


class OutboxPart(LeanBase):
    pass
