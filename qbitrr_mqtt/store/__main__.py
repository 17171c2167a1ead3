"""``python -m qbitrr_mqtt.store migrate``: create or migrate the schema of the database in
``$QBITRR_MQTT_MIGRATE_URL`` and exit (what :meth:`LeanStore.open` runs in a child process, so
the lean processes never import SQLAlchemy). Exit 1 with one line on stderr on failure."""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if argv != ["migrate"]:
        print("usage: python -m qbitrr_mqtt.store migrate", file=sys.stderr)
        return 2
    from .lean import URL_ENV
    from .store import Store

    url = os.environ.get(URL_ENV)
    if not url:
        print(f"{URL_ENV} is not set", file=sys.stderr)
        return 2
    try:
        Store.open(url).close()
    except Exception as exc:  # noqa: BLE001 - one line for the parent to raise
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
