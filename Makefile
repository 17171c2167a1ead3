# qbitrr-mqtt — one entry point for set-up, the main job and the tests.
#   make run    set up, then run the stack (the demo stack when no config exists)
#   make test   set up, then run the whole test suite against real services
#   make test-ha the real-Home-Assistant test alone (HA in its own venv, .ha-venv)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
SYS_PKGS  ?= mosquitto qbittorrent-nox chromium ffmpeg
# Commands whose absence means a system package is missing (same order as SYS_PKGS).
SYS_CMDS  ?= mosquitto qbittorrent-nox chromium ffprobe
CONFIG    ?= $(if $(QBITRR_MQTT_CONFIG),$(QBITRR_MQTT_CONFIG),config.yaml)
PYTEST_ARGS ?=
# Home Assistant for the 'ha' tests, in its own venv (its pins would fight ours in .venv).
# paho-mqtt is its MQTT integration's requirement: hass runs with --skip-pip, offline.
HA_VENV   ?= .ha-venv
HA_PKGS   ?= homeassistant==2025.4.4 home-assistant-frontend==20250411.0 PyQRCode==1.2.1 pyotp==2.8.0 paho-mqtt==2.1.0

# Find a Python >= 3.12: $PYTHON, then python3.13/3.12/python3 on PATH, then pyenv's versions.
find_python = $(shell \
  for c in "$$PYTHON" python3.13 python3.12 python3 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -rV); do \
    [ -n "$$c" ] || continue; p=$$(command -v "$$c" 2>/dev/null) || continue; \
    "$$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo "$$p"; break; }; \
  done)

.PHONY: help setup sysdeps venv ha-venv run demo test test-ha test-fast lint typecheck bench soak clean

help:
	@echo "make run    - set up and run qbitrr-mqtt (the demo stack when $(CONFIG) does not exist)"
	@echo "make test   - set up and run the test suite (real Mosquitto, qbittorrent-nox, supervisord, PostgreSQL, Chromium)"
	@echo "make test-ha - the test against a real Home Assistant (installs it into $(HA_VENV))"
	@echo "make lint   - ruff + mypy"
	@echo "make bench  - the benchmark harness"
	@echo "make soak   - the whole stack under load for SOAK_MINUTES (30); fails when RSS or fds grow"

setup: sysdeps venv

sysdeps:
	@missing=""; pkgs=($(SYS_PKGS)); cmds=($(SYS_CMDS)); \
	for i in $${!cmds[@]}; do command -v $${cmds[$$i]} >/dev/null 2>&1 || [ -x /usr/sbin/$${cmds[$$i]} ] || missing="$$missing $${pkgs[$$i]}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "Please install:$$missing (Debian/Ubuntu package names)"; exit 1; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	@py="$(call find_python)"; \
	if [ -z "$$py" ]; then \
	  echo "error: qbitrr-mqtt needs Python >= 3.12 and none was found."; \
	  echo "       Install one (e.g. 'apt-get install python3.12', or 'pyenv install 3.12'),"; \
	  echo "       or point PYTHON=/path/to/python3.12 at it."; exit 1; fi; \
	echo "Using $$py"; \
	[ -x $(PY) ] && $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' || { rm -rf $(VENV); "$$py" -m venv $(VENV); }
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test,e2e,fuzz,lint]'
	@touch $@

venv: $(VENV)/.installed

# The same interpreter as .venv (Home Assistant 2025.x needs Python >= 3.13).
$(HA_VENV)/.installed: Makefile $(VENV)/.installed
	@py=$$($(PY) -c 'import sys; print(sys._base_executable)'); \
	$$py -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' || { \
	  echo "error: Home Assistant 2025.x needs Python >= 3.13; $$py is older."; \
	  echo "       Point PYTHON=/path/to/python3.13 at one and run 'make clean setup'."; exit 1; }; \
	[ -x $(HA_VENV)/bin/python ] || $$py -m venv $(HA_VENV)
	$(HA_VENV)/bin/pip install -q --upgrade pip
	$(HA_VENV)/bin/pip install -q $(HA_PKGS)
	@touch $@

ha-venv: $(HA_VENV)/.installed

run: setup
	@if [ -f "$(CONFIG)" ]; then exec $(VENV)/bin/qbitrr-mqtt run -c "$(CONFIG)"; \
	else echo "No $(CONFIG) found: starting the demo stack (write one with '$(VENV)/bin/qbitrr-mqtt config init')."; \
	exec $(VENV)/bin/qbitrr-mqtt demo; fi

demo: setup
	$(VENV)/bin/qbitrr-mqtt demo

test: setup ha-venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-ha: setup ha-venv
	$(VENV)/bin/python -m pytest -m ha tests/integration $(PYTEST_ARGS)

test-fast: venv
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check qbitrr_mqtt services tests
	$(VENV)/bin/mypy qbitrr_mqtt

bench: setup
	$(VENV)/bin/python -m bench

SOAK_MINUTES ?= 30
soak: setup
	$(PY) tests/faults/soak.py --minutes $(SOAK_MINUTES) --json test-artifacts/soak-results.json

clean:
	rm -rf $(VENV) $(HA_VENV) .pytest_cache .mypy_cache .ruff_cache build dist
