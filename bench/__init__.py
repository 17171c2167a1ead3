"""The benchmark harness (issue 8): speed, memory and reaction time of qbitrr-mqtt at scale,
measured on real services (qbittorrent-nox, Mosquitto, supervisord, the Arr emulator).

``python -m bench [scenario] [--n N ...] [--repeat R] [--smoke]``; ``make bench`` runs them
all. Results go to ``bench/results/<date>.json`` and the table in ``docs/BENCHMARKS.md``.
"""
