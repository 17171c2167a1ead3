"""Configuration: ``schema.json`` validation, environment overrides and typed objects."""

from .errors import ConfigError, Problem
from .loader import (
    apply_env_overrides,
    config_from_dict,
    find_config,
    load_config,
    parse_size,
    redact,
    validate,
)
from .models import (
    ArrInstance,
    Config,
    DatabaseConfig,
    MqttConfig,
    Policy,
    QbitConfig,
    Settings,
    SupervisorLimits,
    TrackerRule,
    WebUIConfig,
)

__all__ = [
    "ArrInstance",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "MqttConfig",
    "Policy",
    "Problem",
    "QbitConfig",
    "Settings",
    "SupervisorLimits",
    "TrackerRule",
    "WebUIConfig",
    "apply_env_overrides",
    "config_from_dict",
    "find_config",
    "load_config",
    "parse_size",
    "redact",
    "validate",
]
