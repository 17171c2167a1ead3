"""Read a Dockerfile and a .dockerignore well enough to replay their steps in tests.

No Docker engine runs here, so tests take the instructions from the files themselves (the
COPY sources, RUN commands, ENV values, HEALTHCHECK and ENTRYPOINT) rather than restating
them, and a change to the Dockerfile changes what the tests do.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), its argument text, its build stage."""

    keyword: str
    args: str
    stage: int


def parse(path: Path) -> list[Instruction]:
    """The instructions, with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, " ".join(args.split()), stage))
    return out


def stages(instructions: list[Instruction]) -> int:
    return max(i.stage for i in instructions) + 1


def in_stage(instructions: list[Instruction], stage: int, keyword: str) -> list[str]:
    return [i.args for i in instructions if i.stage == stage and i.keyword == keyword]


def env(instructions: list[Instruction], stage: int) -> dict[str, str]:
    """The ENV values of a stage (``KEY=value`` form)."""
    values: dict[str, str] = {}
    for args in in_stage(instructions, stage, "ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            values[key] = value
    return values


def exec_form(args: str) -> list[str]:
    """A JSON-array argument (``["tini", "--"]``) as a list."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    """The HEALTHCHECK's CMD of the last stage, in exec form."""
    [args] = in_stage(instructions, stages(instructions) - 1, "HEALTHCHECK")
    _, _, command = args.partition("CMD ")
    return exec_form(command)


def copies(instructions: list[Instruction], stage: int) -> list[tuple[list[str], str]]:
    """``COPY src... dest`` of a stage from the build context (not ``--from=`` copies)."""
    out = []
    for args in in_stage(instructions, stage, "COPY"):
        parts = shlex.split(args)
        if any(p.startswith("--from") for p in parts):
            continue
        parts = [p for p in parts if not p.startswith("--")]
        out.append((parts[:-1], parts[-1]))
    return out


def ignore_patterns(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``relative`` (or a folder above it) out of the context."""
    parts = PurePosixPath(relative).parts
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if fnmatch.fnmatch(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(parts[depth - 1], pattern[3:])
            ):
                result = not negate
                break
    return result
