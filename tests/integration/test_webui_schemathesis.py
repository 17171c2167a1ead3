"""Schemathesis against a live WebUI: no 5xx, and no answer that contradicts the document.

The app runs on a free port with a real SQLite store holding a few rows, the token is sent
with every generated request, and each operation gets a bounded number of examples. The two
streaming operations (SSE) are left out: a stream never ends, so a fuzzer cannot judge it;
the API tests cover them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from qbitrr_mqtt.config import load_config
from qbitrr_mqtt.store import open_store
from qbitrr_mqtt.webui import create_app, route_table
from qbitrr_mqtt.webui.server import BackgroundServer
from qbitrr_mqtt.webui.state import Tuning

TOKEN = "fuzz-token-0123456789abcdef"
MAX_EXAMPLES = 30
CONFIG = """\
settings: {data_dir: ./data}
mqtt: {password: mqtt-pass}
arr:
  radarr: {type: radarr, url: "http://127.0.0.1:7878", api_key: k-radarr}
  sonarr: {type: sonarr, url: "http://127.0.0.1:8989", api_key: k-sonarr}
"""


@pytest.fixture(scope="module")
def live_webui(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("webui-fuzz")
    path = tmp / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    store = open_store(f"sqlite:///{tmp / 'qbitrr.db'}")
    store.upsert_torrents("radarr", [{"hash": "a" * 40, "name": "Movie", "health": "stalled"}])
    store.record_intent("radarr", "a" * 40, "Movie", "remove", "stalled")
    store.upsert_instance_state("radarr", qbit_connected=True, counts={"stalled": 1})
    store.upsert_process_health("manager-radarr", state="RUNNING", pid=1234)
    (tmp / "data" / "logs").mkdir(parents=True)
    (tmp / "data" / "logs" / "bridge.log").write_text("hello\n", encoding="utf-8")
    tuning = Tuning(command_wait=0.05, poll_interval=0.2, heartbeat=1.0)
    app = create_app(load_config(path, env={}), store, None, token=TOKEN, tuning=tuning)
    server = BackgroundServer(app)
    url = server.start()
    yield url
    server.stop()
    store.close()


#: A config can be well-formed and still wrong (an unknown key inside the YAML text, a
#: client that is not configured): 422 with the problems is the right answer to such a
#: schema-valid body, so that one check does not apply to this operation.
EXCLUDED = {"PUT /api/v1/config": [positive_data_acceptance]}


def operations(url: str) -> list[schemathesis.APIOperation]:
    config = SchemathesisConfig.from_dict({"headers": {"X-API-Token": TOKEN}})
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json", config=config)
    streaming = {r.operation_id for r in route_table() if r.streaming}
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if op.definition.raw.get("operationId") not in streaming]


def fuzz(op: schemathesis.APIOperation, mode: GenerationMode) -> Callable[[], None]:
    """A Hypothesis test sending ``MAX_EXAMPLES`` generated requests to one operation."""
    excluded = EXCLUDED.get(op.label, [])

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=op.as_strategy(mode))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"X-API-Token": TOKEN}, timeout=30, excluded_checks=excluded)

    return check


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_matches_its_document(live_webui: str, mode: GenerationMode) -> None:
    ops = operations(live_webui)
    # Every operation but the two streams (and the document, which schemathesis skips itself).
    wanted = {f"{r.method} {r.path}" for r in route_table() if not r.streaming}
    assert {op.label for op in ops} == wanted - {"GET /api/openapi.json"}
    failures: list[str] = []
    for op in ops:
        raw = op.definition.raw
        if (
            mode is GenerationMode.NEGATIVE
            and not raw.get("parameters")
            and "requestBody" not in raw
        ):
            continue  # nothing to get wrong: no parameter, no body
        try:
            fuzz(op, mode)()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.label}: {exc}")
    assert not failures, "\n\n".join(failures)
