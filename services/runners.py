"""Start real Mosquitto and qbittorrent-nox processes for tests, the demo and the benchmark.

Each runner writes its config into a work directory, picks free ports on 127.0.0.1 (so
parallel sessions never collide with each other or with system services), waits until the
service answers, and returns a handle with ``stop()``, ``restart()`` (same ports, same data)
and context-manager support. A service that fails to come up raises :class:`ServiceError`
with the tail of its log.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Self

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# Binding a port we picked can race with another session picking the same one: retry.
START_ATTEMPTS = 3


class ServiceError(RuntimeError):
    """A service could not be started (the message carries its log tail)."""


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a SIGKILLed test run or demo leaves no broker or client behind."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the fixtures' own cleanup still runs
        pass


class ServiceHandle:
    """A child process started from a fixed command; restartable on the same ports."""

    name = "service"

    def __init__(self, command: list[str], log: Path, *, cwd: Path) -> None:
        self.command = command
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0  # where this start's lines begin in ``log``

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and wait until it is ready (raises :class:`ServiceError`)."""
        if self.running:
            return
        if shutil.which(self.command[0]) is None:
            raise ServiceError(f"{self.command[0]} is not installed (run `make setup`)")
        for port in self.ports():  # else our readiness check would talk to someone else
            if port_open(LOCALHOST, port, 0.5):
                raise ServiceError(f"{self.name}: port {port} on {LOCALHOST} is already in use")
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C in the test terminal is ours to forward
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ready():
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode} while starting; "
                    f"log {self.log}:\n{log_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise ServiceError(
                    f"{self.name} did not become ready within {START_TIMEOUT:.0f}s; "
                    f"log {self.log}:\n{log_tail(self.log)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; idempotent."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._wait_port_released()

    def kill(self) -> None:
        """SIGKILL the process (a crash, as far as clients can tell)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def ready(self) -> bool:
        """Whether the service answers (overridden per service)."""
        raise NotImplementedError

    def ports(self) -> tuple[int, ...]:
        """The TCP ports this service listens on (to wait for their release on stop)."""
        return ()

    def _wait_port_released(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(port_open(LOCALHOST, p, 0.2) for p in self.ports()):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start_on_free_ports(build: Callable[[], ServiceHandle], fixed: bool) -> ServiceHandle:
    """Build and start a handle; with ports of our own choosing, retry a lost port race."""
    attempts = 1 if fixed else START_ATTEMPTS
    for attempt in range(attempts):
        handle = build()
        try:
            handle.start()
        except ServiceError as exc:
            handle.kill()
            if attempt + 1 == attempts or "in use" not in str(exc):
                raise
            continue
        return handle
    raise AssertionError("unreachable")


# --- Mosquitto ---------------------------------------------------------------------------


class MosquittoHandle(ServiceHandle):
    """A running Mosquitto: ``host``, ``port``, ``log``, and ``cafile`` when TLS is on."""

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int, users: dict[str, str] | None, tls: bool) -> None:
        self.host = LOCALHOST
        self.port = port
        self.users = dict(users or {})
        self.tls = tls
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.cafile: Path | None = None
        self._write_config()
        super().__init__(
            ["mosquitto", "-c", str(self.conf)], workdir / "mosquitto.log", cwd=workdir
        )

    def _write_config(self) -> None:
        # As root, Mosquitto would drop to the "mosquitto" user and lose our files: stay us.
        lines = [
            f"listener {self.port} {LOCALHOST}",
            "persistence false",
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        if self.users:
            passwd = self.workdir / "mosquitto.passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                done = subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwd), user, password],
                    capture_output=True,
                    text=True,
                )
                if done.returncode:
                    raise ServiceError(
                        f"mosquitto_passwd refused user {user!r}: {(done.stdout + done.stderr).strip()}"
                    )
            passwd.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            cert, key = _self_signed_cert(self.workdir)
            self.cafile = cert
            lines += [f"certfile {cert}", f"keyfile {key}"]
        self.conf.write_text("\n".join(lines) + "\n")

    def ready(self) -> bool:
        # Mosquitto listens before it loads TLS files and then exits if they are bad: an open
        # port alone is not ready. It logs "... running" once every listener is set up.
        if not port_open(self.host, self.port):
            return False
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            return b" running" in log.read()

    def ports(self) -> tuple[int, ...]:
        return (self.port,)


def _self_signed_cert(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA: pass it as ``ca_certs``)."""
    cert, key = workdir / "broker.crt", workdir / "broker.key"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


def start_mosquitto(
    workdir: Path,
    *,
    port: int | None = None,
    users: dict[str, str] | None = None,
    tls: bool = False,
) -> MosquittoHandle:
    """Start Mosquitto on 127.0.0.1 (a free port unless given), persistence off.

    ``users`` maps user names to passwords and turns anonymous access off; ``tls`` serves
    TLS with a self-signed certificate (``handle.cafile``).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    handle = _start_on_free_ports(
        lambda: MosquittoHandle(workdir, port or free_port(), users, tls), fixed=port is not None
    )
    assert isinstance(handle, MosquittoHandle)
    return handle


# --- qbittorrent-nox ---------------------------------------------------------------------


def pbkdf2_password(password: str, salt: bytes | None = None) -> str:
    """qBittorrent's ``WebUI\\Password_PBKDF2`` value (PBKDF2-HMAC-SHA512, 100000 rounds)."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100_000)
    return f"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(digest).decode()})"


class QbitHandle(ServiceHandle):
    """A running qbittorrent-nox: ``url``, ``port`` (WebUI), ``bt_port``, ``save_path``,
    ``username``/``password`` (None when localhost needs no login), ``profile``, ``log``."""

    name = "qbittorrent-nox"

    def __init__(
        self,
        workdir: Path,
        webui_port: int,
        bt_port: int,
        username: str | None,
        password: str | None,
    ) -> None:
        self.workdir = workdir
        self.host = LOCALHOST
        self.port = webui_port
        self.bt_port = bt_port
        self.username = username
        self.password = password
        self.url = f"http://{LOCALHOST}:{webui_port}"
        self.profile = workdir / "profile"
        self.save_path = workdir / "downloads"
        self.save_path.mkdir(parents=True, exist_ok=True)
        self.conf = self.profile / "qBittorrent" / "config" / "qBittorrent.conf"
        self._write_config()
        super().__init__(
            ["qbittorrent-nox", f"--profile={self.profile}", f"--webui-port={webui_port}"],
            workdir / "qbittorrent.log",
            cwd=workdir,
        )

    def _write_config(self) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        auth = ["WebUI\\LocalHostAuth=false"]
        if self.username is not None:
            auth = [
                "WebUI\\LocalHostAuth=true",
                f"WebUI\\Username={self.username}",
                f'WebUI\\Password_PBKDF2="{pbkdf2_password(self.password or "")}"',
            ]
        self.conf.write_text(
            "\n".join(
                [
                    "[LegalNotice]",
                    "Accepted=true",
                    "",
                    "[BitTorrent]",
                    f"Session\\Port={self.bt_port}",
                    "Session\\DHTEnabled=false",
                    "Session\\PeXEnabled=false",
                    "Session\\LSDEnabled=false",
                    "Session\\AnonymousModeEnabled=false",
                    "Session\\MultiConnectionsPerIp=true",
                    "Session\\IgnoreLimitsOnLAN=true",
                    f"Session\\DefaultSavePath={self.save_path}",
                    "Session\\TempPathEnabled=false",
                    "Session\\Encryption=0",
                    "Session\\AddTrackersEnabled=false",
                    "Session\\QueueingSystemEnabled=false",
                    "",
                    "[Network]",
                    "PortForwardingEnabled=false",
                    "",
                    "[Preferences]",
                    f"WebUI\\Address={LOCALHOST}",
                    f"WebUI\\Port={self.port}",
                    "WebUI\\HostHeaderValidation=false",
                    "WebUI\\CSRFProtection=false",
                    "WebUI\\ClickjackingProtection=false",
                    "WebUI\\UseUPnP=false",
                    "WebUI\\MaxAuthenticationFailCount=1000",
                    "General\\StatusbarExternalIPDisplayed=false",
                    *auth,
                    "",
                ]
            )
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/app/version", timeout=2) as r:
                return r.status == 200 or self.username is not None
        except urllib.error.HTTPError as exc:
            return exc.code == 403 and self.username is not None  # up, wants a login
        except OSError:
            return False

    def ports(self) -> tuple[int, ...]:
        return (self.port,)


def start_qbittorrent(
    workdir: Path,
    *,
    webui_port: int | None = None,
    bt_port: int | None = None,
    username: str | None = None,
    password: str | None = None,
) -> QbitHandle:
    """Start qbittorrent-nox with its profile, downloads and log under ``workdir``.

    Without ``username`` the WebUI needs no login from localhost; with it, that user and
    ``password`` are required. DHT, PeX, LSD and UPnP are off, so it only finds the peers a
    test gives it (``torrents/addPeers`` with ``127.0.0.1:<bt_port>``).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def build() -> QbitHandle:
        return QbitHandle(
            workdir, webui_port or free_port(), bt_port or free_port(), username, password
        )

    handle = _start_on_free_ports(build, fixed=webui_port is not None)
    assert isinstance(handle, QbitHandle)
    return handle
