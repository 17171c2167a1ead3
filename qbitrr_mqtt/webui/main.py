"""``qbitrr-mqtt webui``: the WebUI process supervisord starts.

Binds ``webui.host:webui.port`` (127.0.0.1 unless the config says otherwise), opens the store
and the supervisord client, and serves until SIGTERM. Exit 0 on a clean stop, 1 when it
cannot start (port taken, store unusable).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ..config import Config
from ..logs import config_secrets, enable_stack_dumps, setup_logging
from .app import create_app
from .security import ensure_token

log = logging.getLogger("qbitrr.webui")


def open_store(config: Config) -> Any:
    from ..store import open_store as open_

    return open_(config.database.url)


def supervisor_client(config: Config) -> Any:
    """The XML-RPC client of the supervisord that `qbitrr-mqtt run` starts for this config."""
    from ..supervisor.rpc import SupervisorClient

    return SupervisorClient.for_config(config)


def run_webui(config: Config) -> int:
    log = setup_logging(
        "webui", config.settings.log_level, config.settings.log_format, config_secrets(config)
    )
    enable_stack_dumps()  # SIGUSR1 from the watchdog before it restarts a hung WebUI
    try:
        token = ensure_token(config.webui.token, config.settings.data_dir)
        store = open_store(config)
    except Exception as exc:
        log.error("cannot start the WebUI: %s", exc)
        return 1
    app = create_app(config, store, supervisor_client(config), token=token)
    host, port = config.webui.host, config.webui.port
    log.info(
        "WebUI listening on http://%s:%d/ (API under /api/v1, document at /api/openapi.json)",
        host,
        port,
    )
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            shutdown_timeout=5.0,
            access_log=logging.getLogger("aiohttp.access"),
        )
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        return 1
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    return 0
