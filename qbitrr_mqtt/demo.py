"""``qbitrr-mqtt demo``: a throwaway local stack a newcomer can look at in one command.

In a work directory it starts, on free ports of 127.0.0.1:

- a real Mosquitto (when installed; otherwise MQTT is off),
- two real qbittorrent-nox: a *seeder* that holds the data and the user's *client*,
- an Arr emulator each for Radarr, Sonarr and Lidarr with a few movies, series and albums,

puts torrents into the client in a realistic mix (see :data:`SCENARIO`: real downloads from
the seeder, a stalled one, a seeding one, one with missing files, one stuck on metadata, one
with an ``.exe``), links each to its media in the emulator's queue, writes a ``config.yaml``
with short intervals (something visibly happens within two minutes), and runs the real stack
(:func:`qbitrr_mqtt.supervisor.run.run_stack`) in the foreground.

Ctrl-C or SIGTERM stops supervisord and then every service the demo started; nothing is left
running. Without ``--workdir`` the state lives in a temporary directory removed at the end.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

#: A file in the work directory that says "the demo made this; it may be wiped".
MARKER = ".qbitrr-demo"
KINDS = ("radarr", "sonarr", "lidarr")
MIB = 1024 * 1024
#: Seconds to wait for the WebUI to answer /api/health before saying so.
HEALTH_TIMEOUT = 120.0

#: The demo's policy: short enough that strikes and removals happen within two minutes.
DEMO_SETTINGS: dict[str, Any] = {
    "check_interval": 10,
    "log_level": "INFO",
    "dry_run": False,  # everything here is throwaway: let the newcomer see real actions
    "policy": {
        "stalled_strikes": 3,
        "stalled_delay": 1,
        "ignore_younger_than": 20,
        "metadata_timeout": 60,
        "import_grace": 30,
        # The payloads are random bytes: ffprobe would call every one of them broken.
        "validate_media": False,
        "search_missing": True,
        "search_interval": 120,
        # The demo's qBittorrents see no incoming connections (loopback, no port forwarding),
        # so they always report "firewalled": strikes and removals must not wait for that.
        "fail_closed_firewalled": False,
    },
}


class DemoError(RuntimeError):
    """The demo cannot start (the message says why and what to do)."""


class Stopped(Exception):
    """SIGTERM arrived while the demo was still setting up."""


@dataclass(frozen=True, slots=True)
class DemoTorrent:
    """One torrent of the demo: which Arr it belongs to, how it is made, what to expect.

    ``state`` is ``downloading`` (from the seeder at ``rate`` bytes/s), ``stalled``,
    ``seeding``, ``missingFiles`` or ``metaDL``; ``media`` names the library item it grabs
    (a movie title, ``Series SxxEyy`` or ``Artist - Album``).
    """

    arr: str
    state: str
    name: str
    media: str
    story: str
    files: dict[str, int] = field(default_factory=dict)
    rate: int = 0


SCENARIO: tuple[DemoTorrent, ...] = (
    # missingFiles first: making it restarts the client, which drops the other peers.
    DemoTorrent(
        "sonarr", "missingFiles", "Open.Movie.Project.S01E01.1080p.WEB", "Open Movie Project S01E01",
        "its data was deleted: rechecked; with no seeder to fetch it again it stalls and is removed",
        {"Open.Movie.Project.S01E01.1080p.WEB.mkv": 2 * MIB},
    ),
    DemoTorrent(
        "radarr", "downloading", "Sintel.2010.1080p.WEB-DL", "Sintel",
        "downloads for real from the local seeder (about 2 min), then is imported",
        {"Sintel.2010.1080p.WEB-DL.mkv": 8 * MIB}, rate=64 * 1024,
    ),
    DemoTorrent(
        "radarr", "stalled", "Tears.of.Steel.2012.720p.BluRay", "Tears of Steel",
        "nobody seeds it: 3 strikes, then removed, blocklisted and searched again",
        {"Tears.of.Steel.2012.720p.BluRay.mkv": 4 * MIB},
    ),
    DemoTorrent(
        "radarr", "seeding", "Big.Buck.Bunny.2008.1080p.BluRay", "Big Buck Bunny",
        "complete and seeding: left alone",
        {"Big.Buck.Bunny.2008.1080p.BluRay.mkv": 3 * MIB},
    ),
    DemoTorrent(
        "radarr", "downloading", "Cosmos.Laundromat.2015.1080p.WEB", "Cosmos Laundromat",
        "contains an .exe: removed, blocklisted and searched again at once",
        {"Cosmos.Laundromat.2015.1080p.WEB.mkv": 6 * MIB, "Cosmos.Laundromat.Setup.exe": 256 * 1024},
        rate=32 * 1024,
    ),
    DemoTorrent(
        "sonarr", "downloading", "Open.Movie.Project.S01E02.1080p.WEB", "Open Movie Project S01E02",
        "downloads from the local seeder, then is imported",
        {"Open.Movie.Project.S01E02.1080p.WEB.mkv": 4 * MIB}, rate=48 * 1024,
    ),
    DemoTorrent(
        "sonarr", "metaDL", "Open.Movie.Project.S01E03.720p.HDTV", "Open Movie Project S01E03",
        "a magnet nobody has: stuck on metadata, struck after 60 s, removed",
    ),
    DemoTorrent(
        "lidarr", "downloading", "Creative.Commons.Ensemble-Open.Air-2020-FLAC",
        "Creative Commons Ensemble - Open Air",
        "an album downloading from the seeder (its cover .jpg is set to 'do not download')",
        {"01 - Intro.flac": MIB, "02 - Open Air.flac": 2 * MIB, "cover.jpg": 64 * 1024},
        rate=48 * 1024,
    ),
    DemoTorrent(
        "lidarr", "seeding", "Creative.Commons.Ensemble-Free.Sounds-2018-MP3",
        "Creative Commons Ensemble - Free Sounds", "complete and seeding: left alone",
        {"01 - Free.mp3": MIB, "02 - Sounds.mp3": MIB},
    ),
)  # fmt: skip


# --- the work directory ------------------------------------------------------------------


def prepare_workdir(workdir: Path | None) -> tuple[Path, bool]:
    """The demo's directory (created, or wiped when a previous demo left it) and whether it
    is a temporary one to remove at the end. DemoError for a non-empty foreign directory."""
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="qbitrr-demo-")), True
    workdir = workdir.expanduser().resolve()
    if workdir.exists() and not workdir.is_dir():
        raise DemoError(f"{workdir} is not a directory")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise DemoError(
                f"{workdir} is not empty and was not made by the demo; "
                "give an empty or new directory with --workdir"
            )
        for child in workdir.iterdir():  # a previous demo's state: start fresh
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by 'qbitrr-mqtt demo'; wiped by the next demo run\n")
    return workdir, False


# --- services ------------------------------------------------------------------------------


@dataclass
class DemoServices:
    """Everything the demo started, so that :meth:`stop` can end all of it."""

    workdir: Path
    mosquitto: Any = None
    seeder: Any = None
    client: Any = None
    arrs: dict[str, Any] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop every service (emulators, qBittorrents, broker); never raises."""
        handles = [*self.arrs.values(), self.client, self.seeder, self.mosquitto]
        for handle in handles:
            if handle is None:
                continue
            try:
                handle.stop()
            except Exception as exc:  # keep stopping the others
                print(f"demo: could not stop {handle!r}: {exc}", file=sys.stderr)


def start_services(services: DemoServices, say: Callable[[str], None]) -> None:
    """Start the broker, both qBittorrents and the three Arr emulators."""
    from services.arr_emulator import start_arr_emulator
    from services.runners import start_mosquitto, start_qbittorrent

    root = services.workdir
    if shutil.which("mosquitto"):
        services.mosquitto = start_mosquitto(root / "mosquitto")
        say(f"Mosquitto           mqtt://127.0.0.1:{services.mosquitto.port}")
    else:
        say("Mosquitto is not installed: MQTT is off in this demo (apt-get install mosquitto)")
    if shutil.which("qbittorrent-nox"):
        services.seeder = start_qbittorrent(root / "qbit-seeder")
        services.client = start_qbittorrent(root / "qbit-client")
        say(f"qBittorrent (yours) {services.client.url}  (seeder: {services.seeder.url})")
    else:
        say(
            "qbittorrent-nox is not installed: no torrents in this demo "
            "(apt-get install qbittorrent-nox)"
        )
    for kind in KINDS:
        key = secrets.token_hex(16)
        services.api_keys[kind] = key
        services.arrs[kind] = start_arr_emulator(
            root / "arr",
            kind,
            key,
            qbit_url=services.client.url if services.client else None,
            category=kind,
        )
        say(f"{kind.capitalize():<19} {services.arrs[kind].url}  (Arr emulator)")


# --- library and torrents ----------------------------------------------------------------


def seed_libraries(services: DemoServices) -> dict[str, dict[str, int]]:
    """Add the demo library to each emulator; media ids by the names ``SCENARIO`` uses."""
    from services.arr_emulator.seeds import DEMO

    ids: dict[str, dict[str, int]] = {}
    for kind, arr in services.arrs.items():
        created = arr.add_library(DEMO)
        if kind == "radarr":
            ids[kind] = {
                m["title"]: i for m, i in zip(DEMO["movies"], created["movies"], strict=True)
            }
        elif kind == "sonarr":
            ids[kind] = {
                f"{s['title']} S{e['season']:02d}E{e['number']:02d}": i
                for s, made in zip(DEMO["series"], created["series"], strict=True)
                for e, i in zip(s["episodes"], made["episodeIds"], strict=True)
            }
        else:
            ids[kind] = {
                f"{a['name']} - {al['title']}": i
                for a, made in zip(DEMO["artists"], created["artists"], strict=True)
                for al, i in zip(a["albums"], made["albumIds"], strict=True)
            }
    return ids


def add_torrent(services: DemoServices, spec: DemoTorrent) -> str:
    """Put one scenario torrent into the client in its state; its hash."""
    from services import torrents

    if spec.state == "downloading":
        return _add_rate_limited(services, spec)
    if spec.state == "metaDL":
        return torrents.add_metadata_wait(services.client, spec.name, category=spec.arr).hash
    build = torrents.STATE_BUILDERS[spec.state]
    return str(build(services.client, spec.name, spec.files, category=spec.arr).hash)


def _add_rate_limited(services: DemoServices, spec: DemoTorrent) -> str:
    """Seed ``spec`` on the seeder and download it in the client at ``spec.rate`` bytes/s
    (added paused, limited, then started, so it cannot finish before the limit holds)."""
    from services import torrents

    seeded = torrents.add_seeding(services.seeder, spec.name, spec.files)
    save = services.client.workdir / "downloads" / spec.arr
    save.mkdir(parents=True, exist_ok=True)
    h = torrents.add(services.client, seeded.torrent, save, category=spec.arr, paused=True)
    api = torrents.api(services.client)
    api.torrents_set_download_limit(limit=spec.rate, torrent_hashes=h)
    api.torrents_resume(torrent_hashes=h)
    torrents.connect_peer(services.client, h, services.seeder)
    return h


def add_scenario(
    services: DemoServices, say: Callable[[str], None]
) -> list[tuple[DemoTorrent, str]]:
    """Seed the libraries, then put every scenario torrent into the client (when there is
    one), linked to its media in its Arr's queue."""
    media = seed_libraries(services)
    if services.client is None:
        return []
    say("Adding torrents:")
    added = []
    for spec in SCENARIO:
        h = add_torrent(services, spec)
        services.arrs[spec.arr].link(h, [media[spec.arr][spec.media]], spec.name)
        say(f"  {spec.arr:<7} {spec.state:<12} {spec.name}")
        added.append((spec, h))
    # Restarting the client (missingFiles) drops peers: tell every download its seeder again.
    from services import torrents

    for spec, h in added:
        if spec.state == "downloading":
            torrents.connect_peer(services.client, h, services.seeder)
    return added


# --- config ------------------------------------------------------------------------------


def demo_config(services: DemoServices, webui_port: int, token: str) -> dict[str, Any]:
    """The config document for the services the demo started."""
    from services.runners import free_port

    root = services.workdir
    qbit_url = services.client.url if services.client else f"http://127.0.0.1:{free_port()}"
    broker = services.mosquitto
    return {
        "settings": {**DEMO_SETTINGS, "data_dir": str(root / "data")},
        "qbittorrent": {"default": {"url": qbit_url}},
        "mqtt": {
            "enabled": broker is not None,
            "host": "127.0.0.1",
            "port": broker.port if broker else 1883,
            "client_id": "qbitrr-demo",
            "base_topic": "qbitrr",
        },
        "webui": {"host": "127.0.0.1", "port": webui_port, "token": token},
        "database": {"url": None},
        "arr": {
            kind: {
                "type": kind,
                "url": arr.url,
                "api_key": services.api_keys[kind],
                "category": kind,
            }
            for kind, arr in services.arrs.items()
        },
    }


def write_config(path: Path, doc: dict[str, Any]) -> None:
    header = (
        "# Written by 'qbitrr-mqtt demo' for the throwaway services it started.\n"
        "# Short intervals so that something happens within two minutes; not for real use.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


# --- what the newcomer sees --------------------------------------------------------------


def cli_command() -> str:
    """How to call this installation's ``qbitrr-mqtt`` from another shell."""
    script = Path(sys.executable).parent / "qbitrr-mqtt"
    if shutil.which("qbitrr-mqtt") == str(script):
        return "qbitrr-mqtt"
    return str(script) if script.exists() else f"{sys.executable} -m qbitrr_mqtt"


def banner(
    services: DemoServices, cfg: Any, torrents: list[tuple[DemoTorrent, str]], temporary: bool
) -> str:
    """Where to look, what to expect, how to stop."""
    web = f"http://{cfg.webui.host}:{cfg.webui.port}/"
    lines = [
        "",
        "qbitrr-mqtt demo is running.",
        f"  WebUI      {web}",
        f"  API token  {cfg.webui.token}",
        f"  try        curl -H 'X-API-Token: {cfg.webui.token}' {web}api/v1/torrents",
    ]
    if cfg.mqtt.enabled:
        lines.append(
            f"  MQTT       mosquitto_sub -h {cfg.mqtt.host} -p {cfg.mqtt.port} -t '{cfg.mqtt.base_topic}/#' -v"
        )
    lines += [
        f"  status     {cli_command()} status -c {cfg.source}",
        f"  config     {cfg.source}",
        f"  logs       {Path(cfg.settings.data_dir) / 'logs'}",
    ]
    if torrents:
        lines.append("What to watch (checks every 10 s):")
        lines += [f"  {spec.name}: {spec.story}" for spec, _ in torrents]
    where = "is removed" if temporary else "stays (the next demo run wipes it)"
    lines += [
        f"Stop with Ctrl-C (or SIGTERM): every service stops; {services.workdir} {where}.",
        "",
    ]
    return "\n".join(lines)


def announce_when_healthy(
    url: str, text: str, done: threading.Event, timeout: float = HEALTH_TIMEOUT
) -> threading.Thread:
    """Print ``text`` once ``url`` answers 200 (from a daemon thread), or say it did not."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        print(text, flush=True)
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                print(f"demo: the WebUI did not answer {url} within {timeout:.0f} s; see the logs")
                return
            done.wait(1.0)

    thread = threading.Thread(target=wait, name="demo-banner", daemon=True)
    thread.start()
    return thread


# --- signals -----------------------------------------------------------------------------


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


@contextmanager
def stoppable() -> Iterator[None]:
    """While setting up, SIGTERM / SIGHUP raise :class:`Stopped` (Ctrl-C raises
    KeyboardInterrupt), so the caller's clean-up runs instead of the process vanishing."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM must not cut the clean-up short."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- the command -------------------------------------------------------------------------


def run_demo(workdir: Path | None = None) -> int:
    """``qbitrr-mqtt demo``: start the services, write the config, run the stack in the
    foreground until Ctrl-C / SIGTERM, then stop everything. Exit code: supervisord's
    (0 after a clean stop), 1 when a service cannot start, 2 for a bad ``--workdir``."""
    from .config import ConfigError, load_config
    from .supervisor.run import run_stack

    try:
        root, temporary = prepare_workdir(workdir)
    except (DemoError, OSError) as exc:
        print(f"qbitrr-mqtt demo: {exc}", file=sys.stderr)
        return 2

    def say(line: str) -> None:
        print(line, flush=True)

    say(f"qbitrr-mqtt demo: starting throwaway services in {root}")
    services = DemoServices(root)
    done = threading.Event()
    try:
        with stoppable():
            start_services(services, say)
            added = add_scenario(services, say)
            from services.runners import free_port

            doc = demo_config(services, free_port(), secrets.token_urlsafe(18))
            config_path = root / "config.yaml"
            write_config(config_path, doc)
            cfg = load_config(config_path)
        health = f"http://{cfg.webui.host}:{cfg.webui.port}/api/health"
        announce_when_healthy(health, banner(services, cfg, added, temporary), done)
        say("Starting the stack (supervisord: managers, bridge, WebUI)...")
        return run_stack(cfg)
    except (Stopped, KeyboardInterrupt):
        say("demo: stopped while starting")
        return 0
    except ConfigError as exc:  # our own document: a bug, but say it plainly
        print(f"qbitrr-mqtt demo: the generated config is invalid: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"qbitrr-mqtt demo: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        done.set()
        with shielded():
            say("demo: stopping the services...")
            services.stop()
            if temporary:
                shutil.rmtree(root, ignore_errors=True)
            say("demo: stopped")
