"""One call run on its own thread while the caller does something else.

The cycle reads the Arr queue while qBittorrent answers ``sync/maindata``: the two are
independent reads from two servers through two clients (each with its own requests
session), and done one after the other the cycle waited for both in turn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundRead[T]:
    """Starts ``call()`` on a thread at once; ``result()`` waits for it and returns its
    value or raises its exception, as calling it in place would have."""

    def __init__(self, call: Callable[[], T], name: str = "background-read") -> None:
        self._call = call
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def wait(self) -> None:
        """Until the call has ended (its outcome is left unread)."""
        self._thread.join()

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None  # no cycle through the traceback
            raise error
        return self._value  # type: ignore[return-value]
