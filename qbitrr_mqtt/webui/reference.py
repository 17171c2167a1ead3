"""docs/API.md, generated from the WebUI's route table (the same objects that validate
requests and build ``/api/openapi.json``), so the page cannot drift from the server.

Regenerate with ``.venv/bin/python -m qbitrr_mqtt.webui.reference > docs/API.md``; a test
fails when the committed page is stale.
"""

from __future__ import annotations

from .app import route_table
from .spec import Route

HEADER = """# HTTP API

Generated from the WebUI's route table by `python -m qbitrr_mqtt.webui.reference`; the live
server also describes itself as OpenAPI 3.1 at `GET /api/openapi.json`.

- **Auth**: every route marked *token* needs `X-API-Token: <webui.token>` or
  `Authorization: Bearer <webui.token>`; a missing or wrong token is `401`. The token is
  compared in constant time and never logged.
- **Errors** are JSON: `{"error": {"code": "...", "message": "...", "problems": [...]}}`; bad
  input is a `4xx` that says which parameter or field and what is expected.
- **Paging**: list routes take `limit` and `offset` and answer with `total`.
- **Commands** (`POST /api/v1/...` that act) go through the same validation as MQTT requests:
  they wait briefly for the manager's answer, else answer `202` with the command id to poll at
  `GET /api/v1/commands/{id}`.
"""


def _route_rows(routes: list[Route]) -> list[str]:
    rows = ["| method | path | auth | what it does |", "|---|---|---|---|"]
    for r in routes:
        rows.append(
            f"| `{r.method}` | `{r.path}` | {'token' if r.auth else 'none'} | {r.summary} |"
        )
    return rows


def _details(route: Route) -> list[str]:
    out = [f"### `{route.method} {route.path}`", "", route.summary]
    if route.description:
        out += ["", route.description]
    if route.params:
        out += ["", "| parameter | in | required | description |", "|---|---|---|---|"]
        for p in route.params:
            out.append(
                f"| `{p.name}` | {p.where} | {'yes' if p.required else 'no'} | {p.description} |"
            )
    if route.body is not None:
        out += ["", f"Body: JSON{' (required)' if route.body_required else ''}."]
    if route.responses:
        out += [""] + [
            f"- `{status}`: {resp.description}" for status, resp in sorted(route.responses.items())
        ]
    return out + [""]


def reference_markdown() -> str:
    routes = route_table()
    lines = [HEADER, "## Routes", "", *_route_rows(routes), "", "## Details", ""]
    for route in routes:
        lines += _details(route)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(reference_markdown(), end="")
