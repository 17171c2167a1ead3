"""Config file layout versions and the steps between them.

Each step takes a document of version N and returns version N+1. ``migrate_document`` runs
them in order on load (in memory); ``qbitrr-mqtt config migrate`` writes the result back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigError, Problem

Step = Callable[[dict[str, Any]], dict[str, Any]]

#: The config_version this code writes.
CURRENT_VERSION = 1
#: STEPS[n] migrates a version-n document to version n+1.
STEPS: dict[int, Step] = {}


def migrate_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring ``doc`` to CURRENT_VERSION; a file without config_version is the current layout."""
    version = doc.get("config_version", CURRENT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(
            [
                Problem(
                    "config_version",
                    f"got {version!r}",
                    f"a whole number from 1 to {CURRENT_VERSION}",
                )
            ]
        )
    if version > CURRENT_VERSION:
        raise ConfigError(
            [
                Problem(
                    "config_version",
                    f"this file is version {version}, newer than this qbitrr-mqtt understands",
                    f"version {CURRENT_VERSION} or older: upgrade qbitrr-mqtt",
                )
            ]
        )
    while version < CURRENT_VERSION:
        doc = STEPS[version](doc)
        version += 1
        doc["config_version"] = version
    return doc
