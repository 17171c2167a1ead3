"""Arr emulator: an in-memory Radarr v3 / Sonarr v3 / Lidarr v1 for tests, demo and benchmark.

- ``ArrEmulator(kind, api_key)``: the state, with a Python control API.
- ``make_app(emulator)`` / ``await serve(emulator, host, port)``: serve it in-process.
- ``start_arr_emulator(workdir, kind, api_key=..., port=None)``: a subprocess handle.
- ``python -m services.arr_emulator --flavor radarr --port 0 --api-key K``: standalone.
"""

from .app import RunningEmulator, make_app, serve
from .emulator import ArrEmulator
from .runner import EmulatorError, EmulatorProcess, start_arr_emulator

__all__ = [
    "ArrEmulator",
    "EmulatorError",
    "EmulatorProcess",
    "RunningEmulator",
    "make_app",
    "serve",
    "start_arr_emulator",
]
