"""Fixtures of the contract tests: the real Arr OpenAPI documents as validators."""

from __future__ import annotations

import pytest
from arr_contract import DOCUMENTS, Contract


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    """The three documents, loaded once."""
    return {kind: Contract(kind) for kind in DOCUMENTS}
