"""The aiohttp application of one emulator, and running it in-process.

``make_app(emulator)`` builds the app (Arr API + ``/_emulator`` controls);
``serve(emulator, host, port)`` runs it on the current event loop and returns a
``RunningEmulator`` with the bound URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from .api import EMU_KEY, STARTED_KEY, add_api_routes, arr_middleware
from .control import add_control_routes, control_errors
from .emulator import ArrEmulator
from .library import now

__all__ = ["ArrEmulator", "RunningEmulator", "make_app", "serve"]


def make_app(emulator: ArrEmulator) -> web.Application:
    """The web application serving ``emulator``."""
    app = web.Application(
        middlewares=[control_errors, arr_middleware], client_max_size=16 * 1024**2
    )
    app[EMU_KEY] = emulator
    app[STARTED_KEY] = now()
    add_api_routes(app, emulator)
    add_control_routes(app)

    async def close_qbit(_: web.Application) -> None:
        await emulator.set_qbittorrent(None)

    app.on_cleanup.append(close_qbit)
    return app


@dataclass
class RunningEmulator:
    """An emulator served on this event loop; ``await stop()`` when done."""

    emulator: ArrEmulator
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(emulator: ArrEmulator, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Serve ``emulator`` on ``host:port`` (0: a free port); the URL has the real port."""
    runner = web.AppRunner(make_app(emulator), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return RunningEmulator(emulator, runner, f"http://{host}:{bound}")
