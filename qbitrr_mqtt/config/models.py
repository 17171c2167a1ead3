"""Typed, immutable views of a validated config.

The loader validates the raw YAML against ``schema.json`` and fills every default first, so
these dataclasses never validate anything themselves: they only give the rest of the code
attribute access and type hints. Field names are the YAML keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

ArrType = Literal["radarr", "sonarr", "lidarr"]

#: Keys whose values are never printed, logged or returned by the API.
SECRET_KEYS = frozenset({"password", "api_key", "token"})


@dataclass(frozen=True, slots=True)
class TrackerRule:
    """A per-tracker override, matched by a substring of the announce URL."""

    uri: str
    name: str | None = None
    private: bool | None = None
    hit_and_run: str | None = None
    min_seed_ratio: float | None = None
    min_seed_days: float | None = None
    max_ratio: float | None = None
    max_seed_time: int | None = None
    remove_torrent: int | None = None
    maximum_eta: int | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The torrent rules of one instance (settings.policy merged with its overrides)."""

    stalled_strikes: int = 3
    stalled_delay: int = 15
    ignore_younger_than: int = 180
    metadata_timeout: int = 600
    do_not_remove_slow: bool = True
    maximum_eta: int = 604800
    min_speed: int = 0
    slow_window: int = 600
    min_progress_bytes: int = 1048576
    strike_expiry: int = 86400
    failed_import_messages: tuple[str, ...] = ()
    maximum_deletable_percentage: float = 0.99
    fail_closed_firewalled: bool = True
    protect_tag: str = "qbitrr-protected"
    max_removals_per_cycle: int = 10
    re_search: bool = True
    import_grace: int = 60
    hit_and_run: str = "and"
    min_seed_ratio: float = 1.0
    min_seed_days: float = 0
    max_ratio: float = -1
    max_seed_time: int = -1
    remove_torrent: int = -1
    trackers: tuple[TrackerRule, ...] = ()
    allowed_extensions: tuple[str, ...] | None = None
    folder_exclusion_regex: tuple[str, ...] = ()
    file_name_exclusion_regex: tuple[str, ...] = ()
    case_sensitive_matches: bool = False
    free_space: int = -1
    free_space_folder: str | None = None
    free_space_tag: str = "qbitrr-free-space-paused"
    search_missing: bool = False
    search_cutoff_unmet: bool = False
    search_limit: int = 5
    search_cooldown: int = 86400
    search_interval: int = 300
    executable_extensions: tuple[str, ...] = ()
    archive_policy: str = "allow"
    validate_media: bool = True
    ffprobe_timeout: int = 30
    auto_delete: bool = False

    def tracker_rule(self, tracker_url: str | None) -> TrackerRule | None:
        """The first tracker override whose ``uri`` is part of ``tracker_url``."""
        if not tracker_url:
            return None
        for rule in self.trackers:
            if rule.uri.lower() in tracker_url.lower():
                return rule
        return None


@dataclass(frozen=True, slots=True)
class SupervisorLimits:
    autorestart: bool | str = True
    startretries: int = 3
    startsecs: int = 10
    stopwaitsecs: int = 30
    stopsignal: str = "TERM"
    stopasgroup: bool = True
    max_restarts: int | None = None
    restart_window: int | None = None


@dataclass(frozen=True, slots=True)
class QbitConfig:
    name: str
    url: str = "http://127.0.0.1:8080"
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True
    timeout: float = 15


@dataclass(frozen=True, slots=True)
class ArrInstance:
    name: str
    type: ArrType
    url: str
    api_key: str
    category: str
    client: str = "default"
    enabled: bool = True
    timeout: float = 30
    supervisor: SupervisorLimits = field(default_factory=SupervisorLimits)
    policy: Policy = field(default_factory=Policy)

    @property
    def program(self) -> str:
        """The supervisord program name of this instance's manager."""
        return f"manager-{self.name}"


@dataclass(frozen=True, slots=True)
class Settings:
    check_interval: int = 60
    data_dir: Path = Path("./data")
    log_level: str = "INFO"
    log_format: str = "text"
    dry_run: bool = False
    max_restarts: int = 5
    restart_window: int = 300
    restart_delay: int = 5
    hang_timeout: int | None = None
    retention_days: int = 30
    policy: Policy = field(default_factory=Policy)

    @property
    def effective_hang_timeout(self) -> int:
        """Seconds without a heartbeat before a manager counts as hung."""
        if self.hang_timeout is not None:
            return self.hang_timeout
        return max(5 * self.check_interval, 300)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    tls_insecure: bool = False
    protocol: str = "5"
    keepalive: int = 60
    client_id: str = "qbitrr"
    base_topic: str = "qbitrr"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    outbox_limit: int = 10000


@dataclass(frozen=True, slots=True)
class WebUIConfig:
    host: str = "127.0.0.1"
    port: int = 6969
    token: str | None = None
    metrics_public: bool = False
    cors_origins: tuple[str, ...] = ()
    ingress_proxy: str | None = None


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = "sqlite:///./data/qbitrr.db"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole effective configuration."""

    config_version: int
    settings: Settings
    qbittorrent: dict[str, QbitConfig]
    mqtt: MqttConfig
    webui: WebUIConfig
    database: DatabaseConfig
    arr: dict[str, ArrInstance]
    #: The file it was read from (None when built from a dict).
    source: Path | None = None
    #: The validated document with defaults filled, as plain data (for `config show`).
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: ``document_digest`` of the document as read (before defaults); ``qbitrr-mqtt run``
    #: hands it to its programs so they skip re-checking the same file against the schema.
    validated: str = field(default="", compare=False, repr=False)

    def instance(self, name: str) -> ArrInstance:
        """The Arr instance called ``name``; KeyError names the known ones."""
        try:
            return self.arr[name]
        except KeyError:
            known = ", ".join(sorted(self.arr)) or "none configured"
            raise KeyError(f"unknown instance {name!r} (known: {known})") from None

    def client_for(self, instance: ArrInstance) -> QbitConfig:
        return self.qbittorrent[instance.client]


def field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}
