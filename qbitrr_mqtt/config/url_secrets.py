"""Passwords inside URLs (``postgresql+psycopg://user:PASSWORD@host/db``) are secrets too.

``database.url`` is where SPEC puts a PostgreSQL password, and any other URL may carry one.
These helpers mask the password part as ``***`` for display and put the stored one back when
a masked URL comes back unchanged otherwise, the same contract as the ``***`` of secret keys.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

MASK = "***"
_URL = re.compile(
    r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<password>[^@/\s]+)(?P<tail>@.*)$", re.S
)


def url_password(value: Any) -> str | None:
    """The password written in ``value`` when it is a URL with one, else None."""
    if not isinstance(value, str):
        return None
    m = _URL.match(value)
    return m.group("password") if m and m.group("password") != MASK else None


def mask_url(value: Any) -> Any:
    """``value`` with a URL password shown as ``***`` (anything else unchanged)."""
    if url_password(value) is None:
        return value
    m = _URL.match(value)
    assert m is not None
    return f"{m.group('head')}{MASK}{m.group('tail')}"


def is_masked_url(value: Any) -> bool:
    m = _URL.match(value) if isinstance(value, str) else None
    return m is not None and m.group("password") == MASK


def unmask_url(value: str, stored: Any) -> str | None:
    """``value`` with its ``***`` password replaced by the one of ``stored``, when ``stored``
    is the same URL apart from the password; None when there is no such stored URL."""
    password = url_password(stored)
    if password is None or mask_url(stored) != value:
        return None
    return str(stored)


def url_secret_values(urls: list[Any]) -> list[str]:
    """The passwords of these URLs, as written and percent-decoded (for the log filter)."""
    out: list[str] = []
    for url in urls:
        password = url_password(url)
        if password:
            out += [password, unquote(password)]
    return out
