"""Store work the SQLAlchemy-free processes hand to a short-lived child process, so the ORM's
imports (~44 MB of RSS) never stay in them:

* ``python -m qbitrr_mqtt.store migrate``: create or migrate the schema of the database in
  ``$QBITRR_MQTT_MIGRATE_URL`` and exit (what :meth:`LeanStore.open` runs);
* ``python -m qbitrr_mqtt.store maintain``: run the hourly retention and vacuum
  (:func:`~qbitrr_mqtt.store.retention.run_maintenance`) on that database, with
  ``$QBITRR_MQTT_RETENTION_DAYS`` days of history kept, and print its report as one JSON line
  on stdout (what the bridge's upkeep thread runs once an hour).

The URL comes from the environment, not argv, because ``ps`` shows argv to every user.
Exit 1 with one line on stderr on failure, 2 on a wrong command line.
"""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace
from typing import Any

#: How ``maintain`` is told the days of finished history to keep (settings.retention_days).
USAGE = "usage: python -m qbitrr_mqtt.store migrate|maintain"


def main(argv: list[str]) -> int:
    if argv not in (["migrate"], ["maintain"]):
        print(USAGE, file=sys.stderr)
        return 2
    from .lean import RETENTION_ENV, URL_ENV

    url = os.environ.get(URL_ENV)
    if not url:
        print(f"{URL_ENV} is not set", file=sys.stderr)
        return 2
    if argv == ["migrate"]:
        return _one_line_errors(lambda: _migrate(url))
    days = os.environ.get(RETENTION_ENV, "")
    if not days.isdigit():
        print(f"{RETENTION_ENV} must be a whole number of days, not {days!r}", file=sys.stderr)
        return 2
    return _one_line_errors(lambda: _maintain(url, int(days)))


def _migrate(url: str) -> None:
    from .store import Store

    Store.open(url).close()


def _maintain(url: str, retention_days: int) -> None:
    """One maintenance round; the report on stdout. ``run_maintenance`` reads only
    ``settings.retention_days`` of the config, so the child needs no config file."""
    from .retention import run_maintenance
    from .store import Store

    config = SimpleNamespace(settings=SimpleNamespace(retention_days=retention_days))
    store = Store.open(url)
    try:
        report = run_maintenance(store, config)
    finally:
        store.close()
    print(json.dumps(report.as_dict(), sort_keys=True), flush=True)


def _one_line_errors(work: Any) -> int:
    try:
        work()
    except Exception as exc:  # noqa: BLE001 - one line for the parent to log or raise
        message = " ".join(str(exc).split())  # one line, whatever the driver's message
        print(f"{type(exc).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
