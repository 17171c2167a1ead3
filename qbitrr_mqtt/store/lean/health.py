"""Lean twin of ``store/health.py`` (to be filled: see LeanStore)."""

from __future__ import annotations

from .base import LeanBase


class HealthPart(LeanBase):
    pass
