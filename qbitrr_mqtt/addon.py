"""Home Assistant add-on: turn ``/data/options.json`` and the MQTT service into a config file.

``qbitrr-mqtt addon-config`` runs in the add-on's start script before ``qbitrr-mqtt run``. It
reads the options the user set in the add-on's Configuration tab, asks the Supervisor API for
the MQTT broker (``GET http://supervisor/services/mqtt`` with ``$SUPERVISOR_TOKEN``) unless the
user named a broker of their own, and writes a config file that the normal loader validates.

Every failure is one clear line on stderr and a non-zero exit: 2 for options the user must
fix (naming the option, e.g. ``arr[1].url``, and what to put there), 1 for the environment
(no options file, Supervisor API unreachable or refusing the token, no MQTT service).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, Problem, config_from_dict

#: Where the Supervisor API lives inside an add-on; ``$SUPERVISOR_API`` overrides it (tests).
DEFAULT_SUPERVISOR_API = "http://supervisor"
SUPERVISOR_API_ENV = "SUPERVISOR_API"
TOKEN_ENV = "SUPERVISOR_TOKEN"
#: The WebUI port; ha_addon/config.yaml's ``ingress_port`` must be the same (a test checks).
INGRESS_PORT = 6969
#: Home Assistant's ingress proxy: the only client whose X-Ingress-Path is trusted.
INGRESS_PROXY = "172.30.32.2"
#: The add-on's persistent directory: database, logs, supervisord socket, API token.
ADDON_DATA_DIR = Path("/data")
#: The policy options the add-on offers; each sets the key of the same name in settings.policy.
POLICY_OPTIONS = (
    "stalled_strikes",
    "stalled_delay",
    "ignore_younger_than",
    "hit_and_run",
    "min_seed_ratio",
    "min_seed_days",
    "max_ratio",
    "max_seed_time",
    "remove_torrent",
    "fail_closed_firewalled",
)
_NAME = re.compile(r"^[a-z0-9-]+$")
_FIX = "fix the options above in the add-on's Configuration tab, then start it again"


class AddonError(Exception):
    """Why the config could not be written, and the exit code that says whose problem it is."""

    def __init__(self, lines: list[str], code: int = 1) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.code = code

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _bad_options(problems: list[Problem]) -> AddonError:
    return AddonError([f"add-on option {p}" for p in problems] + [_FIX], 2)


# --- reading -------------------------------------------------------------------------------


def read_options(path: Path) -> dict[str, Any]:
    """The add-on options as a mapping; a missing or broken file is an AddonError."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AddonError(
            [
                f"{path} does not exist: addon-config runs inside the Home Assistant add-on, "
                "where the Supervisor writes the options there"
            ]
        ) from None
    except OSError as exc:
        raise AddonError([f"cannot read {path}: {exc.strerror}"]) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AddonError([f"{path} is not valid JSON: {exc}"], 2) from None
    if not isinstance(doc, dict):
        raise AddonError([f"{path} holds {type(doc).__name__}, expected a JSON object"], 2)
    return doc


def fetch_mqtt_service(api: str, token: str, timeout: float = 10) -> dict[str, Any] | None:
    """The broker the Supervisor offers (host, port, username, password, ssl, protocol).

    None when no add-on provides MQTT (the Supervisor answers 400 "Service not enabled").
    """
    url = api.rstrip("/") + "/services/mqtt"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = _json_body(response.read(), url)
    except urllib.error.HTTPError as exc:
        body = _json_body(exc.read(), url, strict=False)
        if exc.code in (401, 403):
            raise AddonError(
                [
                    f"the Supervisor API refused the token ({exc.code}) at {url}: "
                    "the add-on needs 'services: [mqtt:need]' in its config.yaml"
                ]
            ) from None
        if exc.code == 400:
            return None  # the service exists but no broker add-on provides it
        message = body.get("message") if isinstance(body, dict) else None
        raise AddonError(
            [f"the Supervisor API answered {exc.code} at {url}: {message or exc.reason}"]
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AddonError([f"cannot reach the Supervisor API at {url}: {reason}"]) from None
    data = body.get("data") if isinstance(body, dict) else None
    if body.get("result") != "ok" or not isinstance(data, dict) or not data.get("host"):
        raise AddonError([f"unexpected answer from the Supervisor API at {url}: {body!r:.200}"])
    return data


def _json_body(raw: bytes, url: str, *, strict: bool = True) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        if not strict:
            return {}
        raise AddonError([f"the Supervisor API at {url} did not answer JSON"]) from None
    return body if isinstance(body, dict) else {}


# --- converting ----------------------------------------------------------------------------


def _arr_instances(options: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The ``arr`` list of the options as the config's ``arr`` mapping, keyed by name."""
    items = options.get("arr", [])
    if not isinstance(items, list):
        return {}, [Problem("arr", f"got {type(items).__name__}", "a list of Arr instances")]
    arr: dict[str, Any] = {}
    problems: list[Problem] = []
    for i, item in enumerate(items):
        where = f"arr[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(where, f"got {item!r:.40}", "an Arr instance"))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(
                Problem(
                    f"{where}.name",
                    f"got {name!r:.40}",
                    "lower-case letters, digits and '-' only, e.g. radarr-4k",
                )
            )
            continue
        if name in arr:
            problems.append(
                Problem(f"{where}.name", f"{name!r} is used twice", "a different name per instance")
            )
            continue
        entry = {k: item[k] for k in ("type", "url", "api_key") if k in item}
        entry["category"] = item.get("category") or name
        arr[name] = entry
    return arr, problems


def _mqtt_section(options: Mapping[str, Any], service: Mapping[str, Any] | None) -> dict[str, Any]:
    """The broker: the user's own when ``mqtt.host`` is set, else the Supervisor's service."""
    own = options.get("mqtt") or {}
    if isinstance(own, dict) and own.get("host"):
        return {k: own[k] for k in ("host", "port", "username", "password", "tls") if k in own}
    if service is None:
        raise AddonError(
            [
                "no MQTT broker: the Supervisor offers no MQTT service. Install and start the "
                "Mosquitto broker add-on, or set mqtt.host (and port, username, password) "
                "in this add-on's options to use another broker"
            ]
        )
    return {
        "host": service["host"],
        "port": int(service.get("port", 1883)),
        "username": service.get("username") or None,
        "password": service.get("password") or None,
        "tls": bool(service.get("ssl", False)),
        # The Supervisor offers 3.1 or 3.1.1; our client speaks 3.1.1 or 5.
        "protocol": "3.1.1",
    }


def _number(value: Any) -> Any:
    """A ``list(-1|1|2)`` option arrives as the string '-1'; the config wants the number."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return value


def options_to_config(
    options: Mapping[str, Any],
    mqtt_service: Mapping[str, Any] | None,
    data_dir: Path = ADDON_DATA_DIR,
) -> dict[str, Any]:
    """The config document for these options (not yet validated by the loader)."""
    arr, problems = _arr_instances(options)
    policy_in = options.get("policy") or {}
    if not isinstance(policy_in, dict):
        problems.append(Problem("policy", f"got {policy_in!r:.40}", "a mapping of policy values"))
        policy_in = {}
    qbit = options.get("qbittorrent") or {}
    if not isinstance(qbit, dict):
        problems.append(Problem("qbittorrent", f"got {qbit!r:.40}", "url, username, password"))
        qbit = {}
    token = options.get("api_token")
    if isinstance(token, str) and 0 < len(token) < 8:
        problems.append(
            Problem(
                "api_token",
                f"is {len(token)} characters long",
                "at least 8 characters, or empty to have one generated",
            )
        )
    if problems:
        raise _bad_options(problems)
    settings: dict[str, Any] = {
        "data_dir": str(data_dir),
        "policy": {k: _number(policy_in[k]) for k in POLICY_OPTIONS if k in policy_in},
    }
    for key in ("log_level", "dry_run"):
        if key in options:
            settings[key] = options[key]
    client = {k: qbit[k] for k in ("url", "username", "password") if k in qbit}
    for key in ("username", "password"):
        if client.get(key) == "":
            client[key] = None  # an empty field in the form means "no login"
    webui: dict[str, Any] = {
        "host": "0.0.0.0",
        "port": INGRESS_PORT,
        "ingress_proxy": INGRESS_PROXY,
    }
    if options.get("api_token"):
        webui["token"] = options["api_token"]
    return {
        "config_version": 1,
        "settings": settings,
        "qbittorrent": {"default": client},
        "mqtt": _mqtt_section(options, mqtt_service),
        "webui": webui,
        "arr": arr,
    }


def _option_path(config_path: str, arr_index: Mapping[str, int]) -> str:
    """The option that produced a config key: ``arr.radarr.url`` → ``arr[0].url``."""
    parts = config_path.split(".")
    head, rest = parts[0], parts[1:]
    if head == "arr" and rest and rest[0] in arr_index:
        return ".".join([f"arr[{arr_index[rest[0]]}]", *rest[1:]])
    if head == "qbittorrent" and rest:
        return ".".join(["qbittorrent", *rest[1:]])
    if head == "settings" and rest:
        return ".".join(rest)
    if head == "webui" and rest[:1] == ["token"]:
        return "api_token"
    return config_path


def check_config(doc: dict[str, Any], options: Mapping[str, Any]) -> None:
    """Validate ``doc`` with the config loader; problems name the options that caused them."""
    try:
        config_from_dict(doc)
    except ConfigError as exc:
        names = [i.get("name") for i in options.get("arr", []) if isinstance(i, dict)]
        index = {n: i for i, n in enumerate(names) if isinstance(n, str)}
        raise _bad_options(
            [Problem(_option_path(p.path, index), p.message, p.expected) for p in exc.problems]
        ) from None


# --- writing -------------------------------------------------------------------------------


def dump_config(doc: dict[str, Any], output: Path) -> None:
    """Write the config atomically, readable only by its owner (it holds secrets)."""
    header = (
        "# Written by 'qbitrr-mqtt addon-config' at every add-on start from the add-on's\n"
        "# options; edit those in Home Assistant instead of this file.\n"
    )
    text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=".config-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_addon_config(
    options_path: Path, env: Mapping[str, str], data_dir: Path = ADDON_DATA_DIR
) -> dict[str, Any]:
    """Options + MQTT service → a validated config document (AddonError on any failure)."""
    options = read_options(options_path)
    own = options.get("mqtt")
    service = None
    if not (isinstance(own, dict) and own.get("host")):
        token = env.get(TOKEN_ENV)
        if not token:
            raise AddonError(
                [
                    f"${TOKEN_ENV} is not set, so the Supervisor API cannot be asked for the "
                    "MQTT broker: run this inside the add-on, or set mqtt.host in the options"
                ]
            )
        service = fetch_mqtt_service(env.get(SUPERVISOR_API_ENV) or DEFAULT_SUPERVISOR_API, token)
    doc = options_to_config(options, service, data_dir)
    check_config(doc, options)
    return doc


def write_addon_config(
    options: Path,
    output: Path,
    *,
    env: Mapping[str, str] | None = None,
    data_dir: Path = ADDON_DATA_DIR,
) -> int:
    """``qbitrr-mqtt addon-config``: write ``output`` from the options; the exit code."""
    env = os.environ if env is None else env
    try:
        doc = build_addon_config(options, env, data_dir)
        dump_config(doc, output)
    except AddonError as exc:
        for line in exc.lines:
            print(f"qbitrr-mqtt: {line}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"qbitrr-mqtt: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return 1
    names = ", ".join(doc["arr"]) or "none"
    print(
        f"Wrote {output} ({len(doc['arr'])} Arr instance(s): {names}; broker {doc['mqtt']['host']})"
    )
    return 0
