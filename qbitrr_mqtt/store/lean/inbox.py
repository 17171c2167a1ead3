"""Lean twin of ``store/inbox.py`` (to be filled: see LeanStore)."""

from __future__ import annotations

from .base import LeanBase


class InboxPart(LeanBase):
    pass
