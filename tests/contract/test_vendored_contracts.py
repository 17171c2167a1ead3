"""The contract documents in contracts/ are the steering repo's, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "contracts"
UPSTREAM = ROOT.parent / "shared" / "contracts"


def test_every_document_is_vendored() -> None:
    names = {p.name for p in OURS.glob("*.json")}
    assert {
        "radarr-v3.openapi.json",
        "sonarr-v3.openapi.json",
        "lidarr-v1.openapi.json",
        "ha-addon-config.schema.json",
        "ha-addon-build.schema.json",
    } <= names


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="no steering repo next to this checkout")
def test_vendored_copies_match_upstream() -> None:
    for upstream in UPSTREAM.glob("*.json"):
        ours = OURS / upstream.name
        assert ours.exists(), f"contracts/{upstream.name} is missing: copy it from {UPSTREAM}"
        assert ours.read_bytes() == upstream.read_bytes(), f"contracts/{upstream.name} is stale"
