"""``qbitrr-mqtt status`` and the CLI commands (``restart``, ``search``, ``run-now`` ...).

The CLI takes the same routes as MQTT and HTTP (SPEC §2): ``restart`` / ``start`` / ``stop``
go to supervisord over XML-RPC, every other command is checked by the same
:func:`~qbitrr_mqtt.mqtt.requests.validate_request`, written to the store inbox (source
``cli``) and awaited until the instance's manager finishes it or the timeout passes. When
supervisord says the manager is not running, nothing would take the command: it is refused
at once instead of waiting for the timeout.

Exit codes: 0 done; 1 a runtime failure (supervisord not reachable or refusing, the manager
reported an error, no outcome within the timeout: the command then stays queued and runs when
the manager picks it up); 2 bad arguments (unknown instance or program, invalid request).
Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from .config import Config
from .mqtt.payloads import COUNT_KEYS
from .mqtt.requests import SUPERVISOR_COMMANDS, RequestError, validate_request
from .supervisor.rpc import RUNNING_STATES, SupervisorClient, SupervisorError

#: Seconds ``run-now`` / ``search`` ... wait for the manager's outcome.
COMMAND_TIMEOUT = 30.0
#: Programs other than managers that ``restart`` / ``start`` / ``stop`` accept.
SERVICE_PROGRAMS = ("bridge", "webui")
#: Added to the longest stop + start wait of any program for XML-RPC timeouts.
RPC_MARGIN = 15.0
#: bridge / webui: stopwaitsecs + startsecs of their rendered sections.
SERVICE_WAIT = 33.0

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad arguments: exit 2."""


def rpc_timeout(config: Config) -> float:
    """An XML-RPC timeout long enough for a restart (stop waits ``stopwaitsecs``, start waits
    ``startsecs``) of the slowest program, so a slow stop is not mistaken for "unreachable"."""
    waits = [i.supervisor.stopwaitsecs + i.supervisor.startsecs for i in config.arr.values()]
    return max([SERVICE_WAIT, *waits]) + RPC_MARGIN


def supervisor_client(config: Config) -> SupervisorClient:
    """The XML-RPC client of the supervisord ``qbitrr-mqtt run`` starts for ``config``."""
    return SupervisorClient.for_config(config, timeout=rpc_timeout(config))


def _error(message: str, err: TextIO | None = None) -> None:
    print(f"qbitrr-mqtt: {message}", file=err or sys.stderr)


# --- status ------------------------------------------------------------------------------


def show_status(
    config: Config,
    *,
    client: SupervisorClient | None = None,
    store: Any = None,
    out: TextIO | None = None,
) -> int:
    """Print the program table and the per-instance torrent counts.

    0 when supervisord answered; 1 when it did not (the last known process health is shown
    under a line saying why).
    """
    from .supervisor.run import status_table

    out = out or sys.stdout
    client = client or SupervisorClient.for_config(config, timeout=10)
    try:
        client.ping()
        code = EXIT_OK
    except SupervisorError:
        code = EXIT_FAILED
    print(status_table(config, client=client), file=out)
    print(instances_text(config, store), file=out, end="")
    return code


def _open_store_for_reading(config: Config) -> tuple[Any, str | None]:
    """The store, or None and why (a missing SQLite file is not created just to read it)."""
    from sqlalchemy.engine import make_url

    url = config.database.url
    try:
        parsed = make_url(url)
    except Exception as exc:
        return None, f"database.url is not usable: {exc}"
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).expanduser().exists():
        return None, f"no database yet at {file} (created when the stack runs)"
    from .store import Store

    try:
        return Store.open(url), None
    except Exception as exc:
        return None, f"the database could not be read: {exc}"


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(max(0.0, (now - when).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def instance_rows(config: Config, states: Mapping[str, Any], now: datetime) -> list[list[str]]:
    """One row per configured instance: connection flags, counts by state, queue, last cycle."""
    header = ["INSTANCE", "TYPE", "QBIT", "ARR", *(k.upper() for k in COUNT_KEYS)]
    rows = [[*header, "QUEUE", "DRY RUN", "LAST CYCLE"]]
    for name, inst in sorted(config.arr.items()):
        state = states.get(name)
        if not inst.enabled:
            rows.append(
                [name, inst.type, "-", "-", *("-" for _ in COUNT_KEYS), "-", "-", "disabled"]
            )
            continue
        if state is None:
            rows.append(
                [name, inst.type, "-", "-", *("-" for _ in COUNT_KEYS), "-", "-", "no cycle yet"]
            )
            continue
        counts = state.counts_data if hasattr(state, "counts_data") else {}
        last = _ago(state.last_cycle_at, now)
        if state.error:
            last += f" ({state.error})"
        rows.append(
            [
                name,
                inst.type,
                _yes_no(state.qbit_connected),
                _yes_no(state.arr_connected),
                *(str(int(counts.get(k, 0))) for k in COUNT_KEYS),
                str(state.queue_size),
                _yes_no(state.dry_run),
                last,
            ]
        )
    return rows


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def instances_text(config: Config, store: Any = None) -> str:
    """The instance section of ``status``; says why when the store cannot be read."""
    if not config.arr:
        return "No Arr instance is configured.\n"
    note = None
    owned = store is None
    if store is None:
        store, note = _open_store_for_reading(config)
    states: dict[str, Any] = {}
    if store is not None:
        try:
            states = {s.instance: s for s in store.list_instance_states()}
        except Exception as exc:
            note = f"the database could not be read: {exc}"
        finally:
            if owned:
                store.close()
    text = _table(instance_rows(config, states, datetime.now(UTC)))
    return text + (f"Torrent counts unavailable: {note}\n" if note else "")


# --- commands ----------------------------------------------------------------------------


def resolve_program(config: Config, command: str, name: str) -> str:
    """The supervisord program for ``name``: an instance, ``manager-<instance>``, ``bridge``
    or ``webui``. UsageError for anything else (same rules as MQTT and HTTP)."""
    if name in SERVICE_PROGRAMS:
        return name
    instance = (
        name.removeprefix("manager-") if name.removeprefix("manager-") in config.arr else name
    )
    try:
        request = validate_request(command, {"instance": instance}, config)
    except RequestError as exc:
        raise UsageError(f"{exc}; or one of: {', '.join(SERVICE_PROGRAMS)}") from None
    return config.arr[request.instance].program


def run_supervisor_command(
    config: Config, command: str, name: str, *, client: SupervisorClient | None = None
) -> int:
    """restart / start / stop one program through supervisord; prints the new pid."""
    try:
        program = resolve_program(config, command, name)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    client = client or supervisor_client(config)
    try:
        outcome = getattr(client, command)(program)
    except SupervisorError as exc:
        _error(f"{command} {program} failed: {exc}")
        return EXIT_FAILED
    done = {"restart": "restarted", "start": "started", "stop": "stopped"}[command]
    pid = f" (pid {outcome})" if isinstance(outcome, int) and outcome else ""
    print(f"{program} {done}{pid}")
    return EXIT_OK


def _program_state(config: Config, instance: str) -> str | None:
    """supervisord's state of the instance's manager; None when it cannot say."""
    program = config.arr[instance].program
    try:
        return SupervisorClient.for_config(config, timeout=5).info(program).statename
    except SupervisorError:
        return None


def run_inbox_command(
    config: Config,
    command: str,
    name: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = COMMAND_TIMEOUT,
    store: Any = None,
) -> int:
    """Queue a manager command in the store inbox and wait for its outcome."""
    try:
        request = validate_request(command, {**payload, "instance": name}, config)
    except RequestError as exc:
        _error(str(exc))
        return EXIT_USAGE
    state = _program_state(config, request.instance)
    if state is not None and state not in RUNNING_STATES:
        _error(
            f"{config.arr[request.instance].program} is {state}, so nothing would run the command; "
            f"start it first (qbitrr-mqtt restart {request.instance})"
        )
        return EXIT_FAILED
    owned = store is None
    if store is None:
        from .store import Store

        try:
            store = Store.open(config.database.url)
        except Exception as exc:
            _error(f"cannot open the database to queue the command: {exc}")
            return EXIT_FAILED
    try:
        row = store.enqueue_command(request.command, request.instance, request.params, "cli")
        final = store.wait_command(row.id, timeout=timeout) or row
    finally:
        if owned:
            store.close()
    return _report(config, request.command, request.instance, final, timeout)


def _report(config: Config, command: str, instance: str, row: Any, timeout: float) -> int:
    what = f"{command} on {instance}"
    if row.status == "done":
        result = json.loads(row.result) if row.result else None
        print(f"{what}: done" + (f": {json.dumps(result, sort_keys=True)}" if result else ""))
        return EXIT_OK
    if row.status == "error":
        _error(f"{what} failed: {row.error or 'the manager reported an error'}")
        return EXIT_FAILED
    state = _program_state(config, instance)
    program = config.arr[instance].program
    running = f"{program} is {state}" if state else "supervisord is not reachable"
    _error(
        f"{what}: no outcome within {timeout:g} s (command {row.id} is {row.status}; {running}). "
        "It stays queued and runs when the manager picks it up."
    )
    return EXIT_FAILED


def run_cli_command(
    config: Config,
    command: str,
    name: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = COMMAND_TIMEOUT,
) -> int:
    """One CLI command: supervisord for restart / start / stop, the inbox for the rest."""
    if command in SUPERVISOR_COMMANDS:
        return run_supervisor_command(config, command, name)
    return run_inbox_command(config, command, name, payload, timeout=timeout)
