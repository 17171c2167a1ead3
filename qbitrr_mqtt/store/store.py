"""``Store``: the one object other modules use to reach the database.

Open it once per process (``Store.open(config.database.url)``); its methods are small,
synchronous and thread-safe (each opens its own short session), so the manager's loop calls
them directly and the WebUI calls them from a thread executor. Rows come back as detached
model objects (``models.py``) that stay readable after the call.

Methods by area (see each mixin's module for the why):

- torrents and strikes (``torrents.py``): upsert_torrents, get_torrent, get_torrents,
  list_torrents, list_downloads, mark_gone, prune_gone, add_strike, reset_strikes,
  list_strikes;
- the WebUI's torrent list (``listing.py``): torrent_page, torrent_listing_values,
  torrent_page_plan;
- actions journal and searches (``journal.py``): record_intent, mark_done, mark_failed,
  mark_skipped, get_action, action_by_key, pending_intents, list_actions,
  unpublished_actions, mark_published, actions_after, last_action_id, record_search,
  update_search, finish_search, last_search_for, active_searches, list_searches;
- command inbox (``inbox.py``): enqueue_command, claim_next_command, finish_command,
  get_command, wait_command, list_commands, abandon_running_commands;
- process health and instance state (``health.py``): record_process_event,
  list_process_events, process_events_after, last_process_event_id, upsert_process_health,
  get_process_health, list_process_health, upsert_instance_state, get_instance_state,
  list_instance_states;
- MQTT outbox (``outbox.py``): outbox_put, outbox_take, outbox_delete, outbox_size.

``list_*`` methods return ``(rows, total)`` for paging; rows newest first unless said.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError

from .db import DEFAULT_URL, make_engine
from .health import HealthMixin
from .inbox import InboxMixin
from .journal import JournalMixin
from .listing import ListingMixin
from .migrations import migrate, read_version
from .outbox import OUTBOX_LIMIT, OutboxMixin
from .torrents import TorrentsMixin

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26


class Store(TorrentsMixin, ListingMixin, JournalMixin, InboxMixin, HealthMixin, OutboxMixin):
    def __init__(self, engine: Engine, outbox_limit: int = OUTBOX_LIMIT) -> None:
        super().__init__(engine)
        self.outbox_limit = outbox_limit
        self.outbox_dropped = {}

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        outbox_limit: int = OUTBOX_LIMIT,
        run_migrations: bool = True,
        **engine_kwargs: Any,
    ) -> Self:
        """Connect to ``url``, create or migrate the schema (SchemaTooNew when the database
        is newer than this code), and return the store."""
        engine = make_engine(url, **engine_kwargs)
        try:
            if run_migrations:
                migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, outbox_limit=outbox_limit)

    def schema_version(self) -> int | None:
        with self.engine.connect() as conn:
            return read_version(conn)

    def integrity_check(self) -> list[str]:
        """Problems found in the database file, empty when sound. SQLite runs
        ``PRAGMA integrity_check`` (a file too damaged to check is one problem; a locked or
        unreadable one raises). PostgreSQL checks its own pages, so a query that answers is
        all there is to check from here."""
        if self.dialect != "sqlite":
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return []
        try:
            with self.engine.connect() as conn:
                found = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check")]
        except DatabaseError as exc:
            code = getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF
            if code not in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                raise  # locked, I/O, ...: not a verdict on the file
            return [str(exc.orig)]
        return [] if found == ["ok"] else found

    def close(self) -> None:
        """Close every pooled connection (a forked child must call this, or open its own)."""
        self.engine.dispose()

    def release_idle_connections(self) -> None:
        """Close the pooled connections no call is using, and with them what they hold
        (SQLite's page cache, up to 2 MB each); the store stays open and the next call
        opens a connection again. A connection in use is closed when it is given back."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
