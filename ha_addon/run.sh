#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# Add-on start: options + the Supervisor's MQTT service -> /data/config.yaml, then the stack.
set -euo pipefail

bashio::log.info "Writing /data/config.yaml from the add-on options"
qbitrr-mqtt addon-config --options /data/options.json --output /data/config.yaml

bashio::log.info "Starting qbitrr-mqtt (supervisord with one manager per Arr instance)"
exec qbitrr-mqtt run -c /data/config.yaml
