"""Carry out validated MQTT requests and answer on ``<base>/bridge/response/<command>``.

``restart`` / ``start`` / ``stop`` go to supervisord (a manager cannot restart itself); every
other command is written to the store inbox for the instance's manager, and the router waits
for its outcome — at most ``wait_timeout`` seconds (10 by default). When the manager has not
finished by then the answer is ``ok`` with ``{"command_id": ..., "state": "pending"}`` (or
``"running"``): the command is queued, not lost, and ``GET /api/v1/commands/{id}`` shows how it
ended.

A request left *retained* on the broker is stale (whoever sent it is long gone) and is
ignored with a warning: carrying it out would restart a manager at every reconnect.

The waiting happens on a small worker pool, never on paho's network thread, so one slow
command does not hold up other requests, the connection's keepalive, or its reconnects. A
flood of requests beyond ``max_pending`` is answered "busy" at once instead of queueing
without bound.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from .requests import OTHER_PROGRAMS, Request, RequestError, Response, Scalar, parse_request
from .topics import Topics

if TYPE_CHECKING:
    from ..config.models import Config
    from .connection import Message

log = logging.getLogger(__name__)

FINISHED = ("done", "error")


class Supervisor(Protocol):
    """``qbitrr_mqtt.supervisor.rpc.SupervisorClient`` fits."""

    def restart(self, name: str) -> Any: ...

    def start(self, name: str) -> Any: ...

    def stop(self, name: str) -> Any: ...


class CommandStore(Protocol):
    """The inbox part of ``qbitrr_mqtt.store.Store``."""

    def enqueue_command(
        self,
        command: str,
        instance: str,
        payload: dict[str, Any] | None = None,
        source: str = "cli",
        transaction: str | None = None,
    ) -> Any: ...

    def get_command(self, command_id: str) -> Any: ...


class Connection(Protocol):
    topics: Topics

    def publish(self, topic: str, payload: Any = None, *, retain: bool = False) -> bool: ...

    def subscribe(
        self, topic_filter: str, handler: Callable[[Message], None], qos: int = 1
    ) -> None: ...

    def unsubscribe(
        self, topic_filter: str, handler: Callable[[Message], None] | None = None
    ) -> None: ...


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def _store_transaction(transaction: Scalar) -> str | None:
    """The store keeps transactions as text; a number is kept as its JSON."""
    if transaction is None or isinstance(transaction, str):
        return transaction
    return json.dumps(transaction)


def _result(row: Any) -> Any:
    raw = _get(row, "result")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


class RequestRouter:
    """Subscribes to ``<base>/bridge/request/#`` and answers every message exactly once."""

    def __init__(
        self,
        conn: Connection,
        config: Config,
        *,
        supervisor: Supervisor | None = None,
        store: CommandStore | None = None,
        wait_timeout: float = 10.0,
        poll_interval: float = 0.1,
        workers: int = 4,
        max_pending: int = 64,
    ) -> None:
        self.conn = conn
        self.config = config
        self.topics = conn.topics
        self.supervisor = supervisor
        self.store = store
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.handled = 0
        self.errors = 0
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mqtt-request")
        self._count_lock = threading.Lock()

    def start(self) -> None:
        self.conn.subscribe(self.topics.request_filter, self._on_message)

    def stop(self) -> None:
        self.conn.unsubscribe(self.topics.request_filter, self._on_message)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- paho thread: hand over at once ---------------------------------------------------
    def _on_message(self, msg: Message) -> None:
        command = self.topics.command_of(msg.topic)
        if command is None:
            return
        if msg.retain:
            # Delivered because it was left retained on the broker, not sent now: carrying it
            # out would repeat a stale restart at every (re)connect. Nobody waits for an answer.
            log.warning(
                "ignored a retained request on %s (%d bytes): requests must not be retained",
                msg.topic,
                len(msg.payload),
            )
            return
        if not self._slots.acquire(blocking=False):
            self._answer(command, Response.fail("busy: too many requests in progress; retry later"))
            return
        try:
            self._pool.submit(self._serve, command, msg.payload)
        except RuntimeError:  # shut down
            self._slots.release()

    def _serve(self, command: str, payload: bytes) -> None:
        try:
            response = self.handle(command, payload)
        except Exception as exc:  # a bug must still produce an answer, and not kill the pool
            log.exception("MQTT request %r failed", command)
            response = Response.fail(f"internal error: {exc}")
        finally:
            self._slots.release()
        self._answer(command, response)

    def _answer(self, command: str, response: Response) -> None:
        with self._count_lock:
            self.handled += 1
            self.errors += response.status == "error"
        self.conn.publish(self.topics.response(command), response.to_json(), retain=False)

    # --- the work -------------------------------------------------------------------------
    def handle(self, command: str, payload: bytes | str) -> Response:
        """Validate and carry out one request; always returns a response."""
        try:
            request = parse_request(command, payload, self.config)
        except RequestError as exc:
            return Response.fail(str(exc), exc.transaction)
        if request.supervised:
            return self._supervise(request)
        return self._enqueue(request)

    def _supervise(self, req: Request) -> Response:
        if self.supervisor is None:
            return Response.fail("supervisord is not available to this process", req.transaction)
        if req.instance in OTHER_PROGRAMS:
            program = req.instance
        else:
            program = self.config.arr[req.instance].program
        try:
            outcome = getattr(self.supervisor, req.command)(program)
        except Exception as exc:
            return Response.fail(f"{req.command} {program} failed: {exc}", req.transaction)
        data: dict[str, Any] = {"instance": req.instance, "program": program}
        if isinstance(outcome, int) and not isinstance(outcome, bool):
            data["pid"] = outcome
        return Response.ok(data, req.transaction)

    def _enqueue(self, req: Request) -> Response:
        if self.store is None:
            return Response.fail("no store: this process cannot queue commands", req.transaction)
        row = self.store.enqueue_command(
            req.command, req.instance, req.params, "mqtt", _store_transaction(req.transaction)
        )
        command_id = str(_get(row, "id"))
        row = self._wait(command_id) or row
        state = str(_get(row, "status") or "pending")
        data: dict[str, Any] = {"command_id": command_id, "instance": req.instance, "state": state}
        if state == "error":
            return Response("error", data, str(_get(row, "error") or "failed"), req.transaction)
        if state == "done":
            data["result"] = _result(row)
        return Response.ok(data, req.transaction)

    def _wait(self, command_id: str) -> Any:
        assert self.store is not None
        deadline = time.monotonic() + self.wait_timeout
        row = None
        while True:
            row = self.store.get_command(command_id)
            if row is None or _get(row, "status") in FINISHED or time.monotonic() >= deadline:
                return row
            time.sleep(self.poll_interval)
