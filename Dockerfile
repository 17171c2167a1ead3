# qbitrr-mqtt container: supervisord runs one manager per Arr instance, the bridge and the
# WebUI; tini is PID 1 (reaps zombies, forwards SIGTERM to `qbitrr-mqtt run`, which stops
# supervisord and its programs). Config and data live in the /config volume.
#
#   docker build -t qbitrr-mqtt .
#   docker run --rm -v "$PWD/config:/config" qbitrr-mqtt config init /config/config.yaml
#   docker run -d --name qbitrr-mqtt --stop-timeout 45 -p 6969:6969 \
#       -v "$PWD/config:/config" qbitrr-mqtt

ARG PYTHON_IMAGE=python:3.13-slim-bookworm

# --- build: the wheel, from exactly the files the package needs --------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md schema.json ./
COPY qbitrr_mqtt ./qbitrr_mqtt
COPY services ./services
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# tini: the init. ffmpeg: ffprobe checks finished media files. Debian's security updates
# replace these versions, so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg tini \
    && rm -rf /var/lib/apt/lists/*

# The package with its dependencies (supervisor among them) from the wheel built above.
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels

RUN groupadd --system --gid 1000 qbitrr \
    && useradd --system --uid 1000 --gid qbitrr --home-dir /config --shell /usr/sbin/nologin qbitrr \
    && mkdir -p /config \
    && chown qbitrr:qbitrr /config

# The config file is /config/config.yaml; its data_dir (./data) is then /config/data. The
# WebUI listens on every address inside the container (environment overrides beat the file).
ENV PYTHONUNBUFFERED=1 \
    QBITRR_MQTT_CONFIG=/config/config.yaml \
    QBITRR_WEBUI__HOST=0.0.0.0 \
    QBITRR_WEBUI__PORT=6969

VOLUME ["/config"]
WORKDIR /config
USER 1000:1000
EXPOSE 6969

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('QBITRR_WEBUI__PORT', '6969'), timeout=8); sys.exit(0 if r.status == 200 else 1)"]

ENTRYPOINT ["tini", "--", "qbitrr-mqtt"]
CMD ["run"]
