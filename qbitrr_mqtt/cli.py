"""The ``qbitrr-mqtt`` command line (SPEC §2).

Exit codes: 0 ok, 1 runtime failure, 2 bad config or bad arguments. Every command that needs
a config takes ``-c PATH``; without it the file is ``$QBITRR_MQTT_CONFIG`` or ``./config.yaml``.
Heavy modules are imported inside each command so that ``--help`` and the small commands stay
fast and a manager process never loads the WebUI's libraries.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__

app = typer.Typer(
    name="qbitrr-mqtt",
    help="Torrent-queue health manager for qBittorrent and Radarr/Sonarr/Lidarr, run by supervisord, driven over MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Write, check and show the config file.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "-c", "--config", help="Config file (default: $QBITRR_MQTT_CONFIG, then ./config.yaml)."
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error (no traceback) and exit."""
    typer.echo(f"qbitrr-mqtt: {message}", err=True)
    raise typer.Exit(code)


def load(path: Path | None, *, must_exist: bool = True) -> Any:
    """The effective config, or exit 2 with one line per problem."""
    from .config import ConfigError, load_config

    try:
        return load_config(path, must_exist=must_exist)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None


def feature(module: str, attr: str) -> Any:
    """Import ``module.attr`` of this package, or explain that the feature is not built."""
    from .launch import feature as import_feature

    return import_feature(module, attr, fail)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"qbitrr-mqtt {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """qbitrr-mqtt."""


# --- config ------------------------------------------------------------------------------


@config_app.command("init")
def config_init(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = Path("config.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example config (never overwrites without --force)."""
    from .config.example import example_config

    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it.", 2)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(example_config(), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(
        f"Wrote {path}. Edit the arr and qbittorrent sections, then: qbitrr-mqtt config validate -c {path}"
    )


@config_app.command("validate")
def config_validate(config: ConfigOpt = None) -> None:
    """Check the config: exit 0 when valid, 2 with one line per problem."""
    cfg = load(config)
    names = ", ".join(cfg.arr) or "none"
    typer.echo(f"{cfg.source}: valid ({len(cfg.arr)} Arr instance(s): {names})")


@config_app.command("show")
def config_show(config: ConfigOpt = None) -> None:
    """Print the effective config (file + env overrides + defaults) as YAML, secrets as ***."""
    import yaml

    from .config import redact

    cfg = load(config, must_exist=False)
    typer.echo(yaml.safe_dump(redact(cfg.raw), sort_keys=False, allow_unicode=True), nl=False)


@config_app.command("migrate")
def config_migrate(config: ConfigOpt = None) -> None:
    """Rewrite an older config file in the current layout, keeping a backup."""
    fn = feature("config.migrate_file", "migrate_file")
    raise typer.Exit(fn(config))


# --- processes ---------------------------------------------------------------------------


@app.command("run")
def run(config: ConfigOpt = None) -> None:
    """The main job: render the per-instance programs and run supervisord in the foreground."""
    cfg = load(config)
    run_stack = feature("supervisor.run", "run_stack")
    # Once supervisord runs, this process becomes a bare signal forwarder (waiter.py).
    raise typer.Exit(run_stack(cfg, exec_waiter=True))


@app.command("manager")
def manager(
    name: Annotated[str, typer.Argument(help="Arr instance name.")], config: ConfigOpt = None
) -> None:
    """Run the manager of one Arr instance (what supervisord starts)."""
    cfg = load(config)
    if name not in cfg.arr:
        fail(f"unknown instance {name!r}; configured: {', '.join(cfg.arr) or 'none'}", 2)
    run_manager = feature("manager.main", "run_manager")
    raise typer.Exit(run_manager(cfg, name))


@app.command("bridge")
def bridge(config: ConfigOpt = None) -> None:
    """Run the bridge: process health, restart window, MQTT requests (what supervisord starts)."""
    cfg = load(config)
    run_bridge = feature("bridge.main", "run_bridge")
    raise typer.Exit(run_bridge(cfg))


@app.command("webui")
def webui(config: ConfigOpt = None) -> None:
    """Run the aiohttp WebUI and HTTP API (what supervisord starts)."""
    cfg = load(config)
    run_webui = feature("webui.main", "run_webui")
    raise typer.Exit(run_webui(cfg))


@app.command("status")
def status(config: ConfigOpt = None) -> None:
    """Processes (state, pid, uptime, restarts) and per-instance torrent counts."""
    cfg = load(config)
    show_status = feature("control", "show_status")
    raise typer.Exit(show_status(cfg))


# --- commands (the same set as over MQTT and HTTP) ---------------------------------------


@app.command("restart")
def restart(
    name: Annotated[str, typer.Argument(help="Instance name, or bridge / webui.")],
    config: ConfigOpt = None,
) -> None:
    """Restart a manager (or the bridge / WebUI) through supervisord."""
    cfg = load(config)
    run_cli_command = feature("control", "run_cli_command")
    raise typer.Exit(run_cli_command(cfg, "restart", name, {}))


@app.command("search")
def search(
    name: Annotated[str, typer.Argument(help="Instance name.")],
    media_id: Annotated[
        list[int] | None, typer.Option("--media-id", help="Movie / episode / album id; repeatable.")
    ] = None,
    missing: Annotated[
        bool, typer.Option("--missing", help="Search the wanted/missing list instead.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Ask the manager to search the Arr for media ids, or for everything missing."""
    if not media_id and not missing:
        fail("give --media-id ID (repeatable) or --missing", 2)
    cfg = load(config)
    run_cli_command = feature("control", "run_cli_command")
    payload: dict[str, Any] = {"media_ids": media_id} if media_id else {"missing": True}
    raise typer.Exit(run_cli_command(cfg, "search", name, payload))


@app.command("run-now")
def run_now(
    name: Annotated[str, typer.Argument(help="Instance name.")], config: ConfigOpt = None
) -> None:
    """Start a check cycle of that manager now."""
    cfg = load(config)
    run_cli_command = feature("control", "run_cli_command")
    raise typer.Exit(run_cli_command(cfg, "run_now", name, {}))


@app.command("demo")
def demo(
    workdir: Annotated[
        Path | None, typer.Option(help="Directory for the demo's state (default: a temp dir).")
    ] = None,
) -> None:
    """A local stack for a newcomer: Arr emulator, qbittorrent-nox and Mosquitto when installed, the WebUI."""
    run_demo = feature("demo", "run_demo")
    raise typer.Exit(run_demo(workdir))


@app.command("addon-config")
def addon_config(
    options: Annotated[Path, typer.Option(help="The add-on's options file.")] = Path(
        "/data/options.json"
    ),
    output: Annotated[Path, typer.Option(help="Where to write the config.")] = Path(
        "/config/config.yaml"
    ),
) -> None:
    """Home Assistant add-on: turn /data/options.json and the MQTT service into a config file."""
    fn = feature("addon", "write_addon_config")
    raise typer.Exit(fn(options, output))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
