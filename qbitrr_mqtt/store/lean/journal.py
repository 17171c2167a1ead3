"""Lean twin of ``store/journal.py`` (to be filled: see LeanStore)."""

from __future__ import annotations

from .base import LeanBase


class JournalPart(LeanBase):
    pass
