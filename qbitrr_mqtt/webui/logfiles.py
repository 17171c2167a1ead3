"""Finding and reading the per-program log files supervisord writes.

Only known program names map to files (``<data_dir>/logs/<program>.log``): a request never
names a path, so ``../`` in a name has nothing to reach. A log file that is a symlink is
followed only when its target stays inside the logs directory (:func:`inside`), so a link
planted there cannot expose another file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import Config

#: supervisord's own log, next to the programs' logs.
SUPERVISORD_LOG = "supervisord"


def programs(config: Config) -> list[str]:
    """Every program whose log the API serves: what supervisord runs for this config (the
    names its log files are written under) and supervisord itself; managers first."""
    from ..supervisor.render import programs as rendered

    names = [p.name for p in rendered(config)]
    managers = [n for n in names if n.startswith("manager-")]
    return [*managers, *(n for n in names if n not in managers), SUPERVISORD_LOG]


def log_dir(config: Config) -> Path:
    return Path(config.settings.data_dir) / "logs"


def log_file(directory: Path, program: str) -> Path:
    return directory / f"{program}.log"


def inside(directory: Path, path: Path) -> bool:
    """True when ``path``, with every symlink resolved, lies within ``directory``.

    The directory itself may be a link (logs on another disk); what is checked is that the
    file does not lead out of wherever the directory really is. A missing file is inside.
    """
    root = directory.resolve()
    return path.resolve().is_relative_to(root)


def tail_lines(
    path: Path, count: int, block: int = 64 * 1024, max_bytes: int = 8 * 1024 * 1024
) -> tuple[list[str], int]:
    """The last ``count`` lines of a file and the file size they end at.

    Reads backwards in blocks so a large log costs only what is shown; never more than
    ``max_bytes`` (a file of one huge line gives its tail).
    """
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        data = b""
        pos = size
        while pos > 0 and data.count(b"\n") <= count and size - pos < max_bytes:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
    lines = data.decode("utf-8", "replace").splitlines()
    if pos > 0 and lines:
        lines = lines[1:]  # the first line was cut by the block boundary
    return lines[-count:] if count else [], size


@dataclass(slots=True)
class Follower:
    """Reads what is appended to a log file, surviving rotation (inode change or truncation)."""

    path: Path
    position: int
    inode: int | None = None
    partial: bytes = b""
    #: When set, nothing is read while the file resolves outside this directory.
    root: Path | None = None

    def poll(self, limit: int = 256 * 1024) -> list[str]:
        if self.root is not None and not inside(self.root, self.path):
            return []
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if self.inode is not None and stat.st_ino != self.inode or stat.st_size < self.position:
            self.position, self.partial = 0, b""
        self.inode = stat.st_ino
        if stat.st_size == self.position:
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.position)
            chunk = handle.read(limit)
        self.position += len(chunk)
        data = self.partial + chunk
        *complete, self.partial = data.split(b"\n")
        return [line.decode("utf-8", "replace") for line in complete]
