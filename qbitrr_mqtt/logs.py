"""Logging for every qbitrr-mqtt process.

Each process logs to stderr; supervisord writes that to ``<data_dir>/logs/<program>.log`` with
rotation (see ``supervisor/render.py``), so one file per program exists without two writers.
Lines are text or JSON (``settings.log_format``); the level can change at runtime
(``set_level``) from the API or MQTT. A filter replaces every configured secret with ``***``
so that no token, password or API key reaches a log line, whatever code logged it.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import signal
import sys
import time
from collections.abc import Iterable
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class SecretFilter(logging.Filter):
    """Replace known secret values in the final message with ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def config_secrets(config: Any) -> list[str | None]:
    """Every secret value of a Config: passwords, API keys, the WebUI token, and passwords
    written inside URLs (a PostgreSQL ``database.url``)."""
    from .config.url_secrets import url_secret_values

    values: list[str | None] = [config.mqtt.password, config.webui.token]
    values += [c.password for c in config.qbittorrent.values()]
    values += [a.api_key for a in config.arr.values()]
    urls = [config.database.url, *(c.url for c in config.qbittorrent.values())]
    values += url_secret_values([*urls, *(a.url for a in config.arr.values())])
    return values


def setup_logging(
    program: str, level: str = "INFO", fmt: str = "text", secrets: Iterable[str | None] = ()
) -> logging.Logger:
    """Configure the root logger for one process and return the program's logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    for noisy in ("urllib3", "httpx", "httpcore", "aiohttp.access", "backoff"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(f"qbitrr.{program}")


def set_level(level: str) -> None:
    """Change the log level of this process at runtime."""
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(
            f"unknown log level {level!r}; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    logging.getLogger().setLevel(value)


def enable_stack_dumps() -> None:
    """Dump every thread's stack to stderr (the program's log) on SIGUSR1, and on a crash.

    The bridge's watchdog sends SIGUSR1 to a program it is about to restart for hanging, so
    its log shows where it was stuck. faulthandler writes from the signal handler itself,
    so this works even when the Python code is blocked (a deadlock, a stuck C call)."""
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
