"""The WebUI page in a real headless Chromium against a real WebUI process and store."""

from __future__ import annotations

import json
import threading
from typing import Any

from conftest import WebUIStack
from playwright.sync_api import expect

H1 = "1" * 40
H2 = "2" * 40


def seed(stack: WebUIStack) -> None:
    store = stack.store
    store.upsert_process_health("manager-radarr", state="RUNNING", pid=4321, restart_count=1)
    store.upsert_process_health(
        "manager-sonarr",
        state="FATAL",
        restart_count=5,
        restart_limit_reached=True,
        last_exit="exit status 1",
    )
    store.upsert_instance_state(
        "radarr",
        qbit_connected=True,
        arr_connected=True,
        counts={"stalled": 1, "downloading": 1},
        queue_size=2,
    )
    store.upsert_torrents(
        "radarr",
        [
            {
                "hash": H1,
                "name": "Stalled.Movie.2160p",
                "state": "stalledDL",
                "health": "stalled",
                "progress": 0.4,
                "size": 8 * 2**30,
            },
            {
                "hash": H2,
                "name": "Healthy.Movie.1080p",
                "state": "downloading",
                "health": "downloading",
                "progress": 0.7,
            },
        ],
    )
    store.add_strike("radarr", H1, "stalled")
    store.add_strike("radarr", H1, "stalled")


def login(page: Any, stack: WebUIStack) -> None:
    page.goto(stack.url + "/")
    dialog = page.get_by_test_id("token-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("token-input").fill("not-the-token")
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("token-error")).to_contain_text("refused")
    page.get_by_test_id("token-input").fill(stack.token)
    page.get_by_test_id("token-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("live-status")).to_have_text("live")


def play_manager(stack: WebUIStack, instance: str, result: Any) -> threading.Thread:
    """Claim and finish the next command of ``instance``, as its manager would."""

    def run() -> None:
        for _ in range(1500):
            claimed = stack.store.claim_next_command(instance)
            if claimed is not None:
                stack.store.finish_command(claimed.id, result=result)
                return
            threading.Event().wait(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_token_processes_instances_torrents(page, webui_stack, shot):
    seed(webui_stack)
    login(page, webui_stack)
    rows = page.get_by_test_id("process-row")
    expect(rows).to_have_count(2)
    sonarr = page.locator("[data-testid=process-row][data-name=manager-sonarr]")
    expect(sonarr.get_by_test_id("restart-limit")).to_be_visible()
    expect(
        page.locator(
            "[data-testid=process-row][data-name=manager-radarr] [data-testid=process-pid]"
        )
    ).to_have_text("4321")
    shot(page, "processes")

    page.get_by_test_id("nav-instances").click()
    card = page.locator("[data-testid=instance-card][data-name=radarr]")
    expect(card.get_by_test_id("count-stalled")).to_have_text("1")
    shot(page, "instances")

    page.get_by_test_id("nav-torrents").click()
    expect(page.get_by_test_id("torrent-row")).to_have_count(2)
    stalled = page.locator(f"[data-testid=torrent-row][data-hash='{H1}']")
    expect(stalled.get_by_test_id("torrent-strikes")).to_contain_text("2")
    page.get_by_test_id("filter-state").select_option("stalled")
    expect(page.get_by_test_id("torrent-row")).to_have_count(1)
    shot(page, "torrents")
    # The token is remembered: a reload goes straight to the data.
    page.reload()
    expect(page.get_by_test_id("token-dialog")).to_be_hidden()
    expect(page.get_by_test_id("torrent-row").first).to_be_visible()


def test_torrent_action_needs_confirmation(page, webui_stack, shot):
    seed(webui_stack)
    login(page, webui_stack)
    page.get_by_test_id("nav-torrents").click()
    row = page.locator(f"[data-testid=torrent-row][data-hash='{H1}']")
    row.get_by_test_id("torrent-recheck").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    page.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_test_id("confirm-dialog")).to_be_hidden()
    assert webui_stack.store.list_commands()[1] == 0  # cancelled: nothing was sent

    manager = play_manager(webui_stack, "radarr", {"removed": H1})
    row.get_by_test_id("torrent-remove").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("Stalled.Movie.2160p")
    page.get_by_test_id("confirm-option").check()
    shot(page, "torrent-remove-confirm")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("toast")).to_contain_text("done")
    manager.join(30)
    commands, total = webui_stack.store.list_commands()
    assert total == 1
    assert commands[0].command == "remove" and commands[0].source == "http"
    assert json.loads(commands[0].payload) == {"hash": H1, "blocklist": True}
    assert commands[0].status == "done"


def test_actions_arrive_live(page, webui_stack, shot):
    store = webui_stack.store
    store.mark_done(
        store.record_intent("radarr", H2, "Earlier.Movie", "recheck", "missing files").id
    )
    login(page, webui_stack)
    page.get_by_test_id("nav-actions").click()
    expect(page.get_by_test_id("action-row")).to_have_count(1)
    intent = store.record_intent("radarr", H1, "Live.Movie", "remove", "stalled 3 times")
    live = page.locator(f"[data-testid=action-row][data-id='{intent.id}']")
    expect(live).to_contain_text("Live.Movie")
    expect(live).to_contain_text("intent")
    expect(page.get_by_test_id("action-row").first).to_contain_text("Live.Movie")  # newest on top
    store.mark_done(intent.id)
    expect(live).to_contain_text("done")
    shot(page, "actions")


def test_config_error_shown_at_the_field(page, webui_stack, shot):
    login(page, webui_stack)
    page.get_by_test_id("nav-config").click()
    editor = page.get_by_test_id("config-editor")
    expect(editor).to_have_value(lambda_contains("api_key"))
    text = editor.input_value()
    assert "radarr-secret" not in text and '"***"' in text
    broken = text.replace("type: sonarr", "type: sonar")
    editor.fill(broken)
    page.get_by_test_id("config-validate").click()
    problem = page.locator("[data-testid=config-problem][data-path='arr.sonarr.type']")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("one of")
    line = broken.splitlines().index("    type: sonar") + 1
    expect(problem).to_have_attribute("data-line", str(line))
    marked = page.get_by_test_id("config-line-error")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-line", str(line))
    shot(page, "config-error")

    editor.fill(text.replace("url: http://127.0.0.1:8989", "url: http://127.0.0.1:9999"))
    page.get_by_test_id("config-save").click()
    expect(page.get_by_test_id("config-result")).to_contain_text("Restart needed: manager-sonarr")
    expect(page.get_by_test_id("config-problem")).to_have_count(0)
    saved = webui_stack.config_path.read_text(encoding="utf-8")
    assert "9999" in saved and "sonarr-secret" in saved and "# e2e config" in saved


def test_logs_follow_live(page, webui_stack, shot):
    logs = webui_stack.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / "manager-radarr.log"
    path.write_text(
        "".join(f"2026-01-01 INFO radarr: cycle {i}\n" for i in range(20)), encoding="utf-8"
    )
    login(page, webui_stack)
    page.get_by_test_id("nav-logs").click()
    out = page.get_by_test_id("log-lines")
    expect(out).to_contain_text("cycle 19")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("2026-01-01 WARNING radarr: a brand new line\n")
    expect(out).to_contain_text("a brand new line")
    shot(page, "logs")


def test_usable_on_a_phone(browser, webui_stack, shot):
    seed(webui_stack)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        login(page, webui_stack)
        page.get_by_test_id("nav-torrents").click()
        expect(page.get_by_test_id("torrent-row")).to_have_count(2)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "the page scrolls sideways on a phone (only tables may)"
        shot(page, "torrents-phone")
    finally:
        context.close()


def lambda_contains(text: str) -> Any:
    import re

    return re.compile(re.escape(text))
