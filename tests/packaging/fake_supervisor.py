"""A real HTTP server that answers ``GET /services/mqtt`` the way the Supervisor does.

It runs aiohttp on a free loopback port in a thread of its own, so the synchronous code under
test talks to it over a real socket. Answers follow supervisor/api/services.py: 200
``{"result": "ok", "data": {...}}`` with the broker, 400 ``{"result": "error", "message":
"Service not enabled"}`` when no add-on provides MQTT, 401 for a wrong token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "supervisor-test-token"
BROKER = {
    "addon": "core_mosquitto",
    "host": "core-mosquitto",
    "port": 1883,
    "ssl": False,
    "protocol": "3.1.1",
    "username": "addons",
    "password": "Eech6ahv3ooJ",
}


@dataclass
class FakeSupervisor:
    """What the server answers, and what it was asked."""

    mqtt: dict[str, Any] | None = field(default_factory=lambda: dict(BROKER))
    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)

    async def services_mqtt(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        if self.mqtt is None:
            return web.json_response(
                {"result": "error", "message": "Service not enabled"}, status=400
            )
        return web.json_response({"result": "ok", "data": self.mqtt})


@contextmanager
def fake_supervisor(
    mqtt: dict[str, Any] | None = None, *, offer: bool = True
) -> Iterator[FakeSupervisor]:
    """Serve a FakeSupervisor on 127.0.0.1 (a free port) for the duration of the block."""
    state = FakeSupervisor(mqtt=(mqtt or dict(BROKER)) if offer else None)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/services/mqtt", state.services_mqtt)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()
