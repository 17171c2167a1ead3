"""``qbitrr-mqtt config migrate``: rewrite an older config file in the current layout.

Loading already migrates in memory (``migrations.migrate_document``), so an old file keeps
working; this command makes the change permanent:

- the file is read, migrated step by step and validated; nothing is written unless the
  result is a valid config;
- the original is copied to ``<file>.bak-v<old version>`` first (``.bak-v1.2``, ``.bak-v1.3``
  ... when that name is taken, so an earlier backup is never overwritten), with its mode;
- the new file replaces the old one atomically and keeps its mode (it holds secrets);
- a file already in the current layout is left untouched (running it twice is harmless).

The new file is plain YAML from the migrated document with a header saying what happened:
the original's comments are not carried over (PyYAML does not keep them; ruamel.yaml is not
a dependency). They remain in the backup.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from . import migrations
from .errors import ConfigError
from .loader import config_from_dict, find_config, read_yaml

HEADER = (
    "# Migrated by qbitrr-mqtt from config_version {old} to {new} on {date}.\n"
    "# The original file, with its comments, is {backup}.\n"
)


@dataclass(frozen=True, slots=True)
class Migration:
    """What :func:`migrate_path` did: versions before and after, and the backup (None when
    the file was already current and nothing was written)."""

    path: Path
    old_version: int
    new_version: int
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.backup is not None


def backup_path(path: Path, version: int) -> Path:
    """``<file>.bak-v<version>``, or the first free ``.bak-v<version>.<n>``."""
    candidate = path.with_name(f"{path.name}.bak-v{version}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-v{version}.{n}")
        n += 1
    return candidate


def _write_atomic(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def migrate_path(path: Path) -> Migration:
    """Migrate the file at ``path`` in place (see the module docstring). ConfigError when it
    cannot be read, is newer than this code, or does not validate after migration; OSError
    when the backup or the new file cannot be written."""
    current = migrations.CURRENT_VERSION
    doc = read_yaml(path)
    old = migrations.document_version(doc, current)
    if old == current:
        return Migration(path, old, current, None)
    migrated = migrations.migrate_document(doc)
    try:
        config_from_dict(migrated, source=path)
    except ConfigError as exc:
        raise ConfigError(exc.problems, f"{path} after migrating to version {current}") from None
    backup = backup_path(path, old)
    shutil.copy2(path, backup)
    header = HEADER.format(
        old=old, new=current, date=datetime.now(UTC).date().isoformat(), backup=backup.name
    )
    body = yaml.safe_dump(migrated, sort_keys=False, allow_unicode=True)
    _write_atomic(path, header + body, path.stat().st_mode & 0o7777)
    return Migration(path, old, current, backup)


def migrate_file(path: Path | str | None = None) -> int:
    """The CLI command: migrate ``path`` (default: ``$QBITRR_MQTT_CONFIG``, then
    ``./config.yaml``), say what happened, and return the exit code (0 done or nothing to
    do, 1 the file could not be written, 2 the config cannot be read or migrated)."""
    target = find_config(path)
    try:
        result = migrate_path(target)
    except ConfigError as exc:
        where = f" ({exc.source})" if exc.source else ""
        print(f"qbitrr-mqtt: cannot migrate {target}{where}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"qbitrr-mqtt: cannot write {exc.filename or target}: {exc.strerror}", file=sys.stderr
        )
        return 1
    if not result.changed:
        print(f"{target}: already at config_version {result.new_version}; nothing to do")
        return 0
    print(
        f"{target}: migrated from config_version {result.old_version} to "
        f"{result.new_version}; the original is in {result.backup}"
    )
    return 0
