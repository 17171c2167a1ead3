"""Config file layout versions and the steps between them.

``config_version`` says which layout a file has. Each step takes a document of version N and
returns version N+1; ``migrate_document`` runs them in order on every load (in memory), and
``qbitrr-mqtt config migrate`` (``migrate_file.py``) writes the result back with a backup.

History:

1. The layout of SPEC §2 (the first release). No step yet.

To change the layout: add ``STEPS[N] = _vN_to_vN1`` (a pure function on the parsed YAML,
never touching keys it does not move), raise :data:`CURRENT_VERSION`, raise the default of
``config_version`` in ``schema.json``, and add ``tests/unit/config_versions/v<N+1>.yaml``;
``tests/unit/test_config_migrate.py`` then migrates every older fixture to the new layout.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError, Problem

Step = Callable[[dict[str, Any]], dict[str, Any]]

#: The config_version this code writes.
CURRENT_VERSION = 1
#: STEPS[n] migrates a version-n document to version n+1.
STEPS: dict[int, Step] = {}


def document_version(doc: Mapping[str, Any], current: int = CURRENT_VERSION) -> int:
    """The file's ``config_version`` (a file without one is in the current layout);
    ConfigError when it is not a version this code can read."""
    version = doc.get("config_version", current)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(
            [Problem("config_version", f"got {version!r}", f"a whole number from 1 to {current}")]
        )
    if version > current:
        raise ConfigError(
            [
                Problem(
                    "config_version",
                    f"this file is version {version}, newer than this qbitrr-mqtt understands",
                    f"version {current} or older: upgrade qbitrr-mqtt",
                )
            ]
        )
    return version


def migrate_document(
    doc: dict[str, Any],
    steps: Mapping[int, Step] | None = None,
    current: int | None = None,
) -> dict[str, Any]:
    """``doc`` brought to ``current`` (default CURRENT_VERSION) by ``steps`` (default
    STEPS); the input is not changed."""
    steps = STEPS if steps is None else steps
    current = CURRENT_VERSION if current is None else current
    version = document_version(doc, current)
    if version == current:
        return doc
    doc = copy.deepcopy(doc)
    while version < current:
        doc = steps[version](doc)
        version += 1
        doc["config_version"] = version
    return doc
