"""Lean twin of ``store/torrents.py`` (to be filled: see LeanStore)."""

from __future__ import annotations

from .base import LeanBase


class TorrentsPart(LeanBase):
    pass
