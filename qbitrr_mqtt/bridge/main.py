"""``qbitrr-mqtt bridge``: the stack's face on MQTT (SPEC §4), run by supervisord.

One :class:`~qbitrr_mqtt.mqtt.connection.MqttConnection` (``bridge/state`` is its
availability topic: ``online`` after every connect, ``offline`` as last will, ``stopped`` on a
clean exit) carries everything the bridge owns:

* ``<base>/bridge/info`` (retained): version, instances, settings summary, start time and
  uptime (uptime alone republishes at most every few minutes);
* Home Assistant discovery (retained) for the bridge device and every enabled instance;
  devices of instances no longer configured are cleared with empty retained payloads;
* ``<base>/<instance>/process`` (retained) for every enabled manager, from the process health
  the ``events`` listener keeps in the store (``health.json`` when the store is unusable),
  polled every second and published only when it changed;
* the :class:`~qbitrr_mqtt.mqtt.router.RequestRouter` on ``<base>/bridge/request/#``:
  restart / start / stop through supervisord's XML-RPC, every other command through the
  store inbox to the instance's manager.

The store is ``LeanStore`` (no SQLAlchemy, sqlmodel or pydantic in this process; the hourly
maintenance runs in a child process, see ``upkeep.py``).

Managers publish their own availability, state, torrents and events; the bridge does not
relay them. After every (re)connect the bridge clears stale devices and publishes discovery
and every retained topic again, so a broker restarted without persistence is whole again.
SIGHUP (or a change of the config file's mtime) reloads the config: discovery, ``bridge/info``
and the router follow it, and supervisord gets the added / removed manager programs
(``programs.py``) while the others keep running. SIGTERM/SIGINT: ``stopped`` is published, exit 0. A broker that is
down never stops the bridge: the connection reconnects with backoff.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from .. import __version__
from ..config import Config, ConfigError, load_config
from ..logs import config_secrets, setup_logging
from .health import health_file, read_health_file

log = logging.getLogger("qbitrr.bridge")

#: Seconds between two looks at process health (and at the config file's mtime).
POLL_INTERVAL = 1.0
#: Seconds between two measurements of the database size (published in ``bridge/info``).
DB_SIZE_EVERY = 300.0
#: How long reading the broker's retained topics may take after a connect.
RETAINED_TIMEOUT = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


def _mtime(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def process_payload(record: Any, now: datetime) -> Any:
    """The ``<base>/<instance>/process`` payload of one health record (store row or
    :class:`~qbitrr_mqtt.bridge.health.ProcessHealthRecord`)."""
    from ..mqtt.payloads import ProcessPayload

    started = getattr(record, "started_at", None)
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    uptime = (now - started).total_seconds() if started and record.state == "RUNNING" else None
    last_exit = getattr(record, "last_exit", None)
    return ProcessPayload(
        state=str(record.state),
        pid=record.pid,
        uptime=None if uptime is None else max(0.0, uptime),
        started_at=started,
        restart_count=int(record.restart_count or 0),
        last_exit={"description": str(last_exit)} if last_exit else None,
        last_restart=record.last_restart,
        restart_limit_reached=bool(record.restart_limit_reached),
    )


class Bridge:
    """The bridge's duties on one connection; :meth:`run` is its loop (main thread)."""

    def __init__(
        self,
        config: Config,
        conn: Any,
        *,
        store: Any = None,
        supervisor: Any = None,
        poll_interval: float = POLL_INTERVAL,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        from ..mqtt.discovery import DiscoveryPublisher
        from ..mqtt.publisher import StatePublisher
        from ..mqtt.router import RequestRouter

        self.config = config
        self.conn = conn
        self.store = store
        self.supervisor = supervisor
        self.poll_interval = poll_interval
        self.clock = clock
        self.started_at = clock()
        self.topics = conn.topics
        self.publisher = StatePublisher(conn, self.topics)
        self.discovery = DiscoveryPublisher(
            conn, config, version=__version__, republish_states=self._republish
        )
        self.router = RequestRouter(conn, config, supervisor=supervisor, store=store)
        self._wake = threading.Event()
        self._stopping = False
        self._reload = False
        self._connected = threading.Event()
        self._mtime = _mtime(config.source)
        self._store_failing = False
        self._db_size_at: datetime | None = None
        self._db_size_value: int | None = None

    # --- requests from signal handlers and paho's thread ------------------------------------
    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload = True
        self._wake.set()

    def _republish(self) -> None:
        self.publisher.republish()

    def _on_connect(self) -> None:
        self._connected.set()

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe (kept across reconnects) and connect in the background."""
        from ..mqtt.discovery import watch_ha_status

        self.conn.add_connect_hook(self._on_connect)
        self.router.start()
        if self.config.mqtt.discovery:
            watch_ha_status(self.conn, self.discovery.on_ha_online, self.discovery.delay)
        self.publish_info()
        self.conn.start()

    def run(self) -> None:
        """Serve until :meth:`request_stop`."""
        self.start()
        log.info(
            "bridge running: %d instance(s), requests on %s",
            sum(i.enabled for i in self.config.arr.values()),
            self.topics.request_filter,
        )
        while not self._stopping:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            if self._stopping:
                return
            if self._reload:
                self._reload = False
                self.reload()
            self.tick()

    def tick(self) -> None:
        """One round: after a connect publish everything, then process health changes."""
        if _mtime(self.config.source) != self._mtime:
            self.reload()
        if self._connected.is_set():
            self._connected.clear()
            self.after_connect()
        self.publish_processes()
        self.publish_info()

    def close(self) -> None:
        """Stop taking requests, say ``stopped`` and disconnect."""
        self.router.stop()
        if self.conn.stop():
            log.info("bridge stopped: 'stopped' published on %s", self.topics.bridge_state)
        else:
            log.info("bridge stopped (the broker did not confirm 'stopped')")

    # --- publishing -------------------------------------------------------------------------
    def after_connect(self) -> None:
        """Clear stale devices and process topics, then send discovery and every retained
        topic again (a broker without persistence forgot them)."""
        from ..mqtt.discovery import clear_stale_discovery

        if self.config.mqtt.discovery:
            clear_stale_discovery(self.conn, self.config, RETAINED_TIMEOUT)
            self.discovery.publish()
        self.clear_stale_processes()
        self.publisher.republish()

    def publish_info(self) -> None:
        from ..mqtt.payloads import bridge_info

        now = self.clock()
        info = {
            **bridge_info(self.config, __version__),
            "started_at": self.started_at,
            "uptime": int((now - self.started_at).total_seconds()),
            "db_size": self._db_size(now),
        }
        self.publisher.publish_retained(self.topics.bridge_info, info, ("uptime", "db_size"))

    def _db_size(self, now: datetime) -> int | None:
        """The database's size in bytes, measured at most every DB_SIZE_EVERY seconds."""
        if self.store is None:
            return None
        last = self._db_size_at
        if last is None or (now - last).total_seconds() >= DB_SIZE_EVERY:
            self._db_size_at = now
            try:
                self._db_size_value = self.store.db_size()
            except Exception:  # noqa: BLE001 - informative only
                log.debug("cannot measure the database size", exc_info=True)
        return self._db_size_value

    def health(self) -> Mapping[str, Any]:
        """Program name -> health record: the store, else ``health.json``."""
        if self.store is not None:
            try:
                rows = {row.name: row for row in self.store.list_process_health()}
            except Exception as exc:
                if not self._store_failing:
                    log.warning("process health from health.json: the store failed: %s", exc)
                self._store_failing = True
            else:
                if self._store_failing:
                    log.info("process health from the store again")
                self._store_failing = False
                return rows
        return read_health_file(health_file(self.config.settings.data_dir))

    def publish_processes(self) -> int:
        """Publish the process topic of every enabled instance whose health changed."""
        health, now, sent = self.health(), self.clock(), 0
        for name, inst in self.config.arr.items():
            record = health.get(inst.program)
            if inst.enabled and record is not None:
                sent += self.publisher.publish_process(name, process_payload(record, now))
        return sent

    def clear_stale_processes(self) -> list[str]:
        """Clear retained process topics of instances that are gone or disabled."""
        wanted = {name for name, inst in self.config.arr.items() if inst.enabled}
        found = self.conn.collect_retained(self.topics.process("+"), RETAINED_TIMEOUT) or {}
        head = f"{self.topics.base}/"
        gone = [
            topic[len(head) : -len("/process")]
            for topic, payload in found.items()
            if payload and topic.startswith(head)
        ]
        gone = sorted(name for name in gone if name not in wanted)
        for name in gone:
            self.publisher.clear(self.topics.process(name))
        return gone

    # --- configuration ----------------------------------------------------------------------
    def reload(self) -> bool:
        """Read the config file again; a bad file keeps the old config. True when applied."""
        self._mtime = _mtime(self.config.source)
        if self.config.source is None:
            log.warning("reload asked, but the config came from no file; nothing to reload")
            return False
        try:
            new = load_config(self.config.source)
        except ConfigError as exc:
            log.error("config reload failed; keeping the old config: %s", exc)
            return False
        self.apply(new)
        return True

    def apply(self, new: Config) -> None:
        old = self.config
        self.config = self.discovery.config = self.router.config = new
        enabled = {n for n, i in new.arr.items() if i.enabled}
        removed = sorted({n for n, i in old.arr.items() if i.enabled} - enabled)
        added = sorted(enabled - {n for n, i in old.arr.items() if i.enabled})
        for name in removed:
            self.publisher.clear(self.topics.process(name))
        log.info(
            "config reloaded: added %s, removed %s",
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
        )
        if self.conn.connected:
            self.after_connect()
        self.publish_info()
        if self.supervisor is not None:
            from .programs import sync_programs

            sync_programs(old, new, self.supervisor)


def _open_store(config: Config) -> Any:
    """The store, or None (logged) when it cannot be opened: process health then comes from
    health.json, and inbox commands are answered with an error instead of being queued.

    ``LeanStore`` (plain DB-API) rather than the ORM ``Store``: the bridge runs all day, and
    SQLAlchemy, sqlmodel and pydantic would stay in its RSS (~44 MB) for a handful of
    statements; the hourly maintenance, which needs the ORM, runs in a child process
    (``upkeep.py``), as does the schema migration ``LeanStore.open`` may need."""
    from ..store.lean import LeanStore

    try:
        return LeanStore.open(config.database.url)
    except Exception as exc:
        log.error("cannot open the database; inbox commands will be refused: %s", exc)
        return None


def _idle_until_stopped() -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    return 0


def _hang_reporter(bridge: Bridge | None) -> Callable[[Any], None]:
    """What the watchdog calls after restarting a hung program: an instance ``event``
    (``hung``) over MQTT; the process topic follows from the process health as usual."""

    def report(hang: Any) -> None:
        if bridge is None or not hang.program.startswith("manager-"):
            return
        from ..mqtt.payloads import EventPayload

        outcome = f"restarted as pid {hang.new_pid}" if hang.error is None else hang.error
        bridge.publisher.publish_event(
            hang.program.removeprefix("manager-"),
            EventPayload(event_type="hung", reason=f"{hang.reason}; {outcome}", at=hang.at),
        )

    return report


def run_bridge(config: Config) -> int:
    """Run the bridge until SIGTERM; 0 on a clean stop."""
    from ..control import supervisor_client
    from ..mqtt.connection import MqttConnection

    setup_logging(
        "bridge", config.settings.log_level, config.settings.log_format, config_secrets(config)
    )
    from .upkeep import Upkeep

    store = _open_store(config)
    if not config.mqtt.enabled:
        # Exiting would make supervisord restart us in a loop: keep house until stopped.
        log.info("mqtt.enabled is false: the bridge publishes nothing, only keeps house")
        upkeep = Upkeep(config, store, supervisor_client(config), _hang_reporter(None))
        upkeep.start()
        try:
            return _idle_until_stopped()
        finally:
            upkeep.stop()
            if store is not None:
                store.close()
    # Events the bridge publishes during a broker outage (a hung manager) wait in the store.
    outbox = store.scoped_outbox("bridge") if store is not None else None
    conn = MqttConnection.for_bridge(config.mqtt, store=outbox)
    bridge = Bridge(config, conn, store=store, supervisor=supervisor_client(config))
    upkeep = Upkeep(config, store, bridge.supervisor, _hang_reporter(bridge))
    upkeep.start()

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        bridge.request_stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        bridge.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        bridge.run()
    finally:
        upkeep.stop()
        bridge.close()
        if store is not None:
            store.close()
    return 0
