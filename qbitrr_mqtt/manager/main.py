"""``qbitrr-mqtt manager NAME``: one Arr instance's manager process (what supervisord starts)."""

from __future__ import annotations

import faulthandler
import signal
import sys
from typing import Any

from ..config.models import Config
from ..logs import config_secrets, setup_logging


def run_manager(config: Config, name: str) -> int:
    """Run the manager of ``name`` until SIGTERM; returns the process exit code."""
    log = setup_logging(
        f"manager-{name}",
        config.settings.log_level,
        config.settings.log_format,
        config_secrets(config),
    )
    from ..memory import keep_heap_small

    keep_heap_small()
    faulthandler.enable()
    faulthandler.register(
        signal.SIGUSR1, all_threads=True, chain=False
    )  # stack dump for the watchdog
    instance = config.arr[name]
    if not instance.enabled:
        log.error("instance %s is disabled in the config; nothing to run", name)
        return 0

    from ..clients.arr import ArrClient
    from ..clients.qbit import QbitClient
    from ..store.lean import LeanStore  # the SQLAlchemy-free store: see store/lean/__init__.py
    from .loop import Manager

    try:
        store = LeanStore.open(config.database.url)
    except Exception as exc:  # a clear line, not a traceback: supervisord's log is what users read
        log.error("cannot open the database %s: %s", _safe_url(config.database.url), exc)
        return 1
    store.abandon_running_commands(name)
    qcfg = config.client_for(instance)
    qbit = QbitClient(
        qcfg.url,
        username=qcfg.username,
        password=qcfg.password,
        verify_tls=qcfg.verify_tls,
        timeout=qcfg.timeout,
    )
    arr = ArrClient(instance)
    conn, publisher = _mqtt(config, name, store)
    from ..metrics import ProcessMetrics

    manager = Manager(
        config,
        name,
        store,
        qbit,
        arr,
        publisher=publisher,
        metrics=ProcessMetrics(instance.program, name),
        mqtt_stats=conn.stats if conn is not None else None,
    )

    def on_term(signum: int, _frame: Any) -> None:
        log.info(
            "%s received: finishing the current action, then stopping", signal.Signals(signum).name
        )
        manager.stopping = True

    def on_hup(_signum: int, _frame: Any) -> None:
        manager.reload_requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        return manager.run()
    finally:
        if conn is not None:
            conn.stop()
        arr.close()
        store.close()


def _mqtt(config: Config, name: str, store: Any) -> tuple[Any, Any]:
    if not config.mqtt.enabled:
        return None, None
    from ..mqtt.connection import MqttConnection
    from ..mqtt.publisher import StatePublisher
    from .publish import ManagerPublisher

    conn = MqttConnection.for_manager(
        config.mqtt,
        name,
        store=store.scoped_outbox(f"manager-{name}"),
    )
    conn.start()
    pub = StatePublisher(conn, conn.topics)
    return conn, ManagerPublisher(pub, name, config.arr[name].policy.protect_tag)


def _safe_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: qbitrr-mqtt manager NAME")
