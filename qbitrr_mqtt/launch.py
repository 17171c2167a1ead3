"""The programs supervisord starts, without typer: ``python -m qbitrr_mqtt manager NAME -c
PATH``, ``bridge -c PATH`` and ``webui -c PATH`` (the command lines ``supervisor/render.py``
writes). Each such process would otherwise keep typer and the CLI's command tree in memory
for its whole life (~2 MB in each of the managers, the bridge and the WebUI).

Only those exact shapes are taken here; anything else (another command, ``--config``,
``--help``, an option where a name should be) goes to the typer CLI in ``cli.py``. For the
shapes taken, the behaviour is the CLI's, line for line: the same config loading, the same
one-line errors on stderr, the same exit codes (``tests/unit/test_launch.py`` runs both).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from . import __version__


class Exit(Exception):
    """Leave with this exit code (what ``typer.Exit`` is to the CLI)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _echo_err(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def fail(message: str, code: int = 1) -> NoReturn:
    """As ``cli.fail``."""
    _echo_err(f"qbitrr-mqtt: {message}")
    raise Exit(code)


def load(path: Path | None) -> Any:
    """As ``cli.load``: the effective config, or exit 2 with one line per problem."""
    from .config import ConfigError, load_config

    try:
        return load_config(path, must_exist=True)
    except ConfigError as exc:
        for problem in exc.problems:
            _echo_err(str(problem))
        raise Exit(2) from None


def feature(module: str, attr: str, fail: Callable[[str], NoReturn] = fail) -> Any:
    """Import ``module.attr`` of this package, or explain (through ``fail``: this module's,
    or the CLI's) that a dependency is missing or the feature is not built."""
    try:
        return getattr(importlib.import_module(f"qbitrr_mqtt.{module}"), attr)
    except (ModuleNotFoundError, AttributeError) as exc:
        if getattr(exc, "name", "") and not str(getattr(exc, "name", "")).startswith("qbitrr_mqtt"):
            fail(f"a dependency is missing: {exc}. Reinstall with 'pip install qbitrr-mqtt'.")
        fail(f"'{module}' is not part of this build of qbitrr-mqtt {__version__} yet.")


def program(argv: list[str]) -> tuple[str, str | None, Path | None] | None:
    """``(command, instance, config)`` when ``argv`` is one of the shapes above, else None."""
    config: Path | None = None
    if len(argv) >= 2 and argv[-2] == "-c":
        if not argv[-1] or argv[-1].startswith("-"):
            return None
        config, argv = Path(argv[-1]), argv[:-2]
    if argv in (["bridge"], ["webui"]):
        return argv[0], None, config
    if len(argv) == 2 and argv[0] == "manager" and argv[1] and not argv[1].startswith("-"):
        return "manager", argv[1], config
    return None


def run(command: str, name: str | None, config: Path | None) -> Any:
    """What the CLI's ``manager`` / ``bridge`` / ``webui`` commands do; the exit code."""
    cfg = load(config)
    if command == "manager":
        if name not in cfg.arr:
            fail(f"unknown instance {name!r}; configured: {', '.join(cfg.arr) or 'none'}", 2)
        return feature("manager.main", "run_manager")(cfg, name)
    if command == "bridge":
        return feature("bridge.main", "run_bridge")(cfg)
    return feature("webui.main", "run_webui")(cfg)


def main(argv: list[str] | None = None) -> None:
    """``python -m qbitrr_mqtt``: a supervisord program here, everything else via typer."""
    args = sys.argv[1:] if argv is None else argv
    found = program(args)
    if found is None:
        from .cli import main as cli_main

        cli_main()
        return
    try:
        code = run(*found)
    except Exit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
