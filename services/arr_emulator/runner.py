"""Start the emulator as a subprocess (tests, demo, benchmark) and drive its controls.

``start_arr_emulator(workdir, "radarr")`` returns an ``EmulatorProcess`` with ``.url``,
``.api_key``, ``.stop()`` and ``.control(method, path, body)`` plus helpers for the common
``/_emulator`` routes. Its stderr goes to ``workdir/arr-emulator-<kind>-<port>.log``.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .flavors import flavor_of

REPO_ROOT = Path(__file__).resolve().parents[2]


class EmulatorError(RuntimeError):
    """The emulator did not start, or a control request failed."""


class EmulatorProcess:
    """A running ``python -m services.arr_emulator`` and its control API."""

    def __init__(
        self, process: subprocess.Popen[str], url: str, kind: str, api_key: str, log: Path
    ) -> None:
        self.process = process
        self.url = url
        self.kind = kind
        self.api_key = api_key
        self.log = log
        self.api_root = url + flavor_of(kind).api_root

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control API ---------------------------------------------------------------------

    def control(
        self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None
    ) -> Any:
        """One ``/_emulator/<path>`` request; the JSON answer (EmulatorError on 4xx/5xx)."""
        url = f"{self.url}/_emulator/{path.lstrip('/')}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method.upper())
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise EmulatorError(
                f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}"
            ) from exc
        return json.loads(text) if text else None

    def state(self) -> dict[str, Any]:
        return self.control("GET", "state")

    def reset(self, seed: dict[str, Any] | str | None = None) -> None:
        self.control("POST", "reset", {"seed": seed} if seed is not None else {})

    def add_library(self, data: dict[str, Any]) -> dict[str, Any]:
        """Seed-format library data (``movies`` / ``series`` / ``artists``); the new ids."""
        return self.control("POST", "library", data)

    def generate(self, count: int, **flags: Any) -> list[int]:
        """``count`` items; flags ``prefix``, ``monitored``, ``hasFile``, ``cutoffUnmet``."""
        return self.control("POST", "library/generate", {"count": count, **flags})["ids"]

    def add_queue(self, **spec: Any) -> list[dict[str, Any]]:
        """One download (``downloadId``, ``title``, ``mediaIds``, ``trackedDownloadState``,
        ...) or with ``count`` that many generated ones; the created queue records."""
        return self.control("POST", "queue", spec)["records"]

    def link(self, download_hash: str, media_ids: list[int], title: str | None = None) -> None:
        self.control(
            "POST", "links", {"hash": download_hash, "mediaIds": media_ids, "title": title}
        )

    def set_download(self, download_hash: str, **fields: Any) -> None:
        """Override ``status``, ``trackedDownloadStatus``, ``trackedDownloadState``,
        ``statusMessages`` or ``errorMessage`` of every record of one download."""
        self.control("PATCH", f"downloads/{download_hash}", fields)

    def set_qbittorrent(self, url: str | None, category: str | None = None, **extra: Any) -> None:
        self.control("PUT", "qbittorrent", {"url": url, "category": category, **extra})

    def fault(self, path: str = "*", **spec: Any) -> dict[str, Any]:
        """Inject a fault: ``status`` (default 500), ``count`` (-1: until cleared), ``delay``, ``method``."""
        return self.control("POST", "faults", {"path": path, **spec})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def calls(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        query = {k: v for k, v in (("path", path), ("method", method)) if v}
        return self.control("GET", "calls", query=query)["calls"]

    def clear_calls(self) -> None:
        self.control("DELETE", "calls")

    def fail_commands(
        self, name: str | None = None, count: int = 1, message: str = "Injected failure"
    ) -> None:
        self.control("POST", "commands/fail", {"name": name, "count": count, "message": message})

    def finish_commands(self) -> list[dict[str, Any]]:
        return self.control("POST", "commands/finish")


def start_arr_emulator(
    workdir: str | os.PathLike[str],
    kind: str,
    api_key: str = "emulator-api-key",
    port: int | None = None,
    *,
    qbit_url: str | None = None,
    category: str | None = None,
    seed: str | None = None,
    command_step: float | None = None,
    timeout: float = 30,
) -> EmulatorProcess:
    """Start an emulator subprocess on ``port`` (None: a free one) and wait for its URL."""
    flavor_of(kind)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "services.arr_emulator",
        "--flavor",
        kind,
        "--port",
        str(port or 0),
        "--api-key",
        api_key,
    ]
    for flag, value in (
        ("--qbit-url", qbit_url),
        ("--category", category),
        ("--seed", seed),
        ("--command-step", command_step),
    ):
        if value is not None:
            args += [flag, str(value)]
    log = workdir / f"arr-emulator-{kind}-{port or 'auto'}-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with log.open("w") as err:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=err, text=True, cwd=workdir, env=env
        )
    url = _read_url(process, timeout, log)
    return EmulatorProcess(process, url, kind, api_key, log)


def _read_url(process: subprocess.Popen[str], timeout: float, log: Path) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = process.stdout.readline().strip()
                if line.startswith("http"):
                    return line
            if process.poll() is not None:
                raise EmulatorError(
                    f"the Arr emulator exited ({process.returncode}): {log.read_text().strip()}"
                )
    finally:
        selector.close()
    process.kill()
    raise EmulatorError(f"the Arr emulator did not print its URL within {timeout} s (log: {log})")
