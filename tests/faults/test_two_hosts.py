"""Two "hosts" (two data directories, two ``qbitrr-mqtt run``) sharing one PostgreSQL
database and one broker, each with its own Arr instance and category on one qBittorrent.

Neither may touch the other's torrents, journal or commands: each removes only its own
stalled torrent through its own Arr, a command sent to one host's bridge is carried out by
that host's manager only, a host refuses a command for the other host's instance (it is not
in its config), and each WebUI lists its own processes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from fault_stack import TOKEN, FaultStack, MqttWatch, make_fault_stack, wait_for

from services.arr_emulator import start_arr_emulator
from services.runners import MosquittoHandle, QbitHandle
from services.torrents import add_seeding, api, info

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def request(watch: MqttWatch, stack: FaultStack, command: str, body: dict[str, Any]) -> dict:
    """One MQTT request to ``stack``'s bridge; its response."""
    transaction = uuid.uuid4().hex
    topic = f"{stack.base}/bridge/response/{command}"
    since = time.time()
    watch.client.publish(
        f"{stack.base}/bridge/request/{command}",
        json.dumps({**body, "transaction": transaction}),
        qos=1,
    )
    return wait_for(
        lambda: next(
            (
                r
                for m in watch.on(topic, since)
                if (r := json.loads(m.text())).get("transaction") == transaction
            ),
            None,
        ),
        f"the response to {command}",
    )


def processes(stack: FaultStack) -> dict[str, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{stack.webui_port}/api/v1/processes",
        headers={"X-API-Token": TOKEN},
    )
    with urllib.request.urlopen(req, timeout=10) as answer:
        return {p["name"]: p for p in json.load(answer)["processes"]}


def test_two_hosts_on_one_postgres_and_one_broker_do_not_interfere(
    own_qbit: QbitHandle, mosquitto: MosquittoHandle, pg_url: str, workdir: Path
) -> None:
    cats = {h: f"{h}-{uuid.uuid4().hex[:6]}" for h in ("a", "b")}
    with contextlib.ExitStack() as ex:
        stacks: dict[str, FaultStack] = {}
        stalled: dict[str, str] = {}
        arrs = {}
        for h in ("a", "b"):
            arr = ex.enter_context(
                start_arr_emulator(
                    workdir / h, "radarr", api_key="k" * 32, qbit_url=own_qbit.url,
                    category=cats[h], command_step=0.05,
                )
            )  # fmt: skip
            stack = ex.enter_context(
                make_fault_stack(qbit=own_qbit, broker=mosquitto, database_url=pg_url)
            )
            inst = stack.add_instance(f"radarr-{h}", arr, cats[h], stalled_strikes=2)
            stalled[h] = stack.stalled(inst, f"Host.{h.upper()}")[0].hash
            stacks[h], arrs[h] = stack, arr
        watch = MqttWatch(mosquitto, [f"{s.base}/bridge/response/#" for s in stacks.values()])
        ex.callback(watch.close)
        for stack in stacks.values():
            stack.start()

        # Each removes its own stalled torrent through its own Arr, and nothing else.
        for h in ("a", "b"):
            wait_for(lambda h=h: info(api(own_qbit), stalled[h]) is None, f"host {h}'s removal")
        for h, other in (("a", "b"), ("b", "a")):
            assert [r["downloadId"].lower() for r in arrs[h].state()["removals"]] == [stalled[h]]
            store = stacks[h].store()
            actions, _ = store.list_actions(instance=f"radarr-{h}")
            assert actions and all(a.hash != stalled[other] for a in actions)
            assert store.get_torrent(f"radarr-{h}", stalled[other]) is None

        # A torrent of host B's category, protected by a command sent to host B's bridge.
        target = add_seeding(
            own_qbit, "Protect.Me", {"Protect.Me.mkv": 16 * 1024}, category=cats["b"]
        ).hash
        store_b = stacks["b"].store()
        wait_for(lambda: store_b.get_torrent("radarr-b", target), "host B to track it")
        answer = request(watch, stacks["b"], "protect", {"instance": "radarr-b", "hash": target})
        assert answer["status"] == "ok", answer
        wait_for(
            lambda: "qbitrr-protected" in (info(api(own_qbit), target) or {}).get("tags", ""),
            "the protect tag set by host B",
        )
        # run_now to host A's bridge: done by host A's manager, host B's never sees it.
        answer = request(watch, stacks["a"], "run_now", {"instance": "radarr-a"})
        assert answer["status"] == "ok", answer
        store_a = stacks["a"].store()
        cmd = wait_for(
            lambda: (
                (c := store_a.get_command(answer["data"]["command_id"])) is not None
                and c.status == "done"
                and c
            ),
            "the run_now done",
        )
        assert cmd.instance == "radarr-a"
        commands, _ = store_a.list_commands(limit=100)
        assert "run_now" not in stacks["b"].log("manager-radarr-b")
        # Host A does not know host B's instance: refused, nothing queued.
        refused = request(watch, stacks["a"], "run_now", {"instance": "radarr-b"})
        assert refused["status"] == "error" and "unknown instance" in refused["error"]
        cli = subprocess.run(
            [sys.executable, "-m", "qbitrr_mqtt", "run-now", "radarr-b", "-c",
             str(stacks["a"].config_path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 2, cli.stdout + cli.stderr
        after, _ = stacks["a"].store().list_commands(limit=100)
        assert len(after) == len(commands)

        # Each WebUI shows its own processes, with its own supervisord's pids.
        for stack in stacks.values():
            listed = processes(stack)
            own = stack.children()
            assert {n: listed[n]["pid"] for n in own} == own
            others = {n for n in listed if n.startswith("manager-")}
            assert others == {p for p in own if p.startswith("manager-")}
