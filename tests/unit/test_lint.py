"""The code passes its own linters: ruff on everything, mypy on the package (what
`make lint` runs), so a clean CI run means a clean `make lint` too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    paths = [p for p in ("qbitrr_mqtt", "services", "tests", "bench") if (ROOT / p).exists()]
    result = run(str(BIN / "ruff"), "check", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_finds_nothing() -> None:
    result = run(str(BIN / "mypy"), "qbitrr_mqtt")
    assert result.returncode == 0, result.stdout + result.stderr
