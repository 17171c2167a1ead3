"""A real Home Assistant for tests (not a test module itself): ``start_home_assistant``.

Home Assistant lives in its own virtualenv (``make ha-venv``: ``.ha-venv``, never the project's
``.venv``, whose pins it would fight) and runs as ``hass -c <dir> --skip-pip`` on a free port.
No file of HA's private ``.storage`` is written: it is set up the way a user's browser does it,
through its public HTTP API —

1. ``POST /api/onboarding/users`` creates the owner and returns an auth code,
2. ``POST /auth/token`` turns the code into an access token,
3. ``POST /api/config/config_entries/flow`` (handler ``mqtt``) and one step with broker and
   port add the MQTT integration pointed at the test's broker.

The handle then reads states (``GET /api/states``) and calls services
(``POST /api/services/<domain>/<service>``) with that token.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from services.runners import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Where ``make ha-venv`` installs Home Assistant (override with QBITRR_HA_VENV).
HA_VENV = Path(os.environ.get("QBITRR_HA_VENV", ROOT / ".ha-venv"))

CONFIGURATION = """\
homeassistant:
  name: qbitrr-mqtt test
  latitude: 0
  longitude: 0
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: US
  currency: USD
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
"""


class HomeAssistantError(RuntimeError):
    """Home Assistant did not start or refused a call (the message says which, with its log)."""


def hass_binary() -> Path:
    """The ``hass`` of the HA virtualenv; a clear error when ``make ha-venv`` has not run."""
    hass = HA_VENV / "bin" / "hass"
    if not hass.exists():
        raise HomeAssistantError(
            f"Home Assistant is not installed at {HA_VENV}: run 'make ha-venv' (or 'make test-ha')"
        )
    return hass


class HomeAssistant:
    """A running Home Assistant: ``url``, ``token``, ``config_dir``, ``log``."""

    def __init__(self, workdir: Path) -> None:
        self.config_dir = workdir / "config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_id = f"{self.url}/"
        self.token = ""
        self.log = workdir / "hass.log"
        (self.config_dir / "configuration.yaml").write_text(CONFIGURATION.format(port=self.port))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(hass_binary()), "-c", str(self.config_dir), "--skip-pip"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    # --- HTTP -----------------------------------------------------------------------------
    def call(
        self, method: str, path: str, data: Any = None, *, form: bool = False, timeout: float = 60
    ) -> Any:
        """One request to HA's HTTP API; the decoded JSON answer."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        raw = None
        if data is not None:
            if form:
                raw = urllib.parse.urlencode(data).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                raw = json.dumps(data).encode()
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, raw, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            raise HomeAssistantError(
                f"{method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}"
            ) from None
        return json.loads(text) if text else None

    def wait_ready(self, timeout: float = 240.0) -> None:
        """Until the onboarding API answers (HA's HTTP server is up and set up)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise HomeAssistantError(f"hass exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                self.call("GET", "/api/onboarding", timeout=5)
                return
            except (OSError, HomeAssistantError):
                if time.monotonic() > deadline:
                    raise HomeAssistantError(
                        f"hass not ready within {timeout}s:\n{self.tail()}"
                    ) from None
                time.sleep(0.5)

    def onboard(self) -> None:
        """Create the owner and keep an access token for the API."""
        user = self.call(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": "Test",
                "username": "test",
                "password": "qbitrr-test-password",
                "language": "en",
            },
        )
        grant = {
            "grant_type": "authorization_code",
            "code": user["auth_code"],
            "client_id": self.client_id,
        }
        self.token = self.call("POST", "/auth/token", grant, form=True)["access_token"]

    def add_mqtt(self, host: str, port: int) -> dict[str, Any]:
        """Add the MQTT integration (discovery on, prefix ``homeassistant``) for the broker."""
        flow = self.call("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        if flow.get("step_id") != "broker":
            raise HomeAssistantError(f"unexpected MQTT config flow step: {flow}")
        done = self.call(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"broker": host, "port": port},
        )
        if done.get("type") != "create_entry" or done["result"]["state"] != "loaded":
            raise HomeAssistantError(f"MQTT integration not set up: {done}")
        return dict(done["result"])

    # --- what tests use -------------------------------------------------------------------
    def states(self) -> dict[str, dict[str, Any]]:
        """entity_id -> state object (``state``, ``attributes``, ...)."""
        return {s["entity_id"]: s for s in self.call("GET", "/api/states")}

    def service(self, domain: str, service: str, **data: Any) -> Any:
        return self.call("POST", f"/api/services/{domain}/{service}", data)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Warnings and errors HA logged about MQTT (an invalid discovery payload lands here)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [
            line
            for line in text.splitlines()
            if ("ERROR" in line or "WARNING" in line) and "mqtt" in line.lower()
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)

    def __enter__(self) -> HomeAssistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_home_assistant(workdir: Path, mqtt_host: str, mqtt_port: int) -> HomeAssistant:
    """A ready Home Assistant with an owner, a token and MQTT pointed at the given broker."""
    ha = HomeAssistant(workdir)
    try:
        ha.wait_ready()
        ha.onboard()
        ha.add_mqtt(mqtt_host, mqtt_port)
    except BaseException:
        ha.stop()
        raise
    return ha
