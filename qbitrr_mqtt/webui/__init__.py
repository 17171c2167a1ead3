"""The aiohttp WebUI and HTTP API (SPEC §3): ``create_app`` builds it, ``run_webui`` serves it."""

from .app import create_app, route_table

__all__ = ["create_app", "route_table"]
