"""The WebUI page in a real headless Chromium against the whole running stack.

``qbitrr-mqtt run`` (real supervisord, ``manager-radarr``, ``manager-sonarr``, the bridge and
the WebUI) against a real Mosquitto, a real qbittorrent-nox and Radarr/Sonarr emulators
whose queues are the torrents of their category. Nothing is seeded: what the page shows is
what the stack did. The token is entered once for the whole module (one browser context,
so it stays in the browser's storage), then every view is exercised and photographed
(test-artifacts/screenshots/stack-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FullStack
from playwright.sync_api import expect

from services.torrents import add_stalled, api, info, wait_for

pytestmark = pytest.mark.slow

KiB = 1024


class Session:
    """One logged-in browser context shared by the module, and its JavaScript errors."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.errors: list[str] = []
        self.page = self.new_page()

    def new_page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page


@pytest.fixture(scope="module")
def session(browser: Any, full_stack: FullStack) -> Iterator[Session]:
    """Open the page and enter the token in its dialog, once for the module."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    session = Session(context)
    page = session.page
    page.goto(full_stack.url + "/")
    dialog = page.get_by_test_id("token-dialog")
    expect(dialog).to_be_visible()
    page.get_by_test_id("token-input").fill(full_stack.token)
    page.get_by_test_id("token-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("live-status")).to_have_text("live")
    try:
        yield session
    finally:
        context.close()


@pytest.fixture
def ui(session: Session) -> Iterator[Any]:
    """The module's logged-in page; no JavaScript error may happen during the test."""
    before = len(session.errors)
    yield session.page
    assert session.errors[before:] == [], "JavaScript errors on the page"


def process_row(page: Any, program: str) -> Any:
    return page.locator(f"[data-testid=process-row][data-name='{program}']")


def test_token_is_asked_once(session: Session, full_stack: FullStack) -> None:
    """A second tab of the same browser goes straight to the data: no dialog again."""
    tab = session.new_page()
    try:
        tab.goto(full_stack.url + "/#processes")
        expect(process_row(tab, "manager-radarr")).to_be_visible()
        expect(tab.get_by_test_id("token-dialog")).to_be_hidden()
    finally:
        tab.close()


def test_processes_show_the_supervised_programs(ui: Any, full_stack: FullStack, shot) -> None:
    ui.get_by_test_id("nav-processes").click()
    for program in ("manager-radarr", "manager-sonarr", "bridge", "webui"):
        expect(process_row(ui, program)).to_contain_text("RUNNING")
    pid = full_stack.running_pid("manager-radarr")
    expect(process_row(ui, "manager-radarr").get_by_test_id("process-pid")).to_have_text(str(pid))
    expect(process_row(ui, "webui").get_by_test_id("restart-button")).to_have_count(0)
    shot(ui, "stack-processes")


def test_restart_button_changes_the_pid(ui: Any, full_stack: FullStack) -> None:
    ui.get_by_test_id("nav-processes").click()
    row = process_row(ui, "manager-radarr")
    old = full_stack.running_pid("manager-radarr")
    expect(row.get_by_test_id("process-pid")).to_have_text(str(old))

    row.get_by_test_id("restart-button").click()
    dialog = ui.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text("Restart manager-radarr")
    ui.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_be_hidden()
    assert full_stack.supervisor.info("manager-radarr").pid == old, "cancel restarted it"

    row.get_by_test_id("restart-button").click()
    ui.get_by_test_id("confirm-ok").click()
    new = full_stack.running_pid("manager-radarr", not_pid=old)
    expect(row.get_by_test_id("process-pid")).to_have_text(str(new))
    expect(row).to_contain_text("RUNNING")
    other = process_row(ui, "manager-sonarr").get_by_test_id("process-pid")
    expect(other).to_have_text(str(full_stack.running_pid("manager-sonarr")))


def test_instances_show_their_connections(ui: Any, full_stack: FullStack, shot) -> None:
    ui.get_by_test_id("nav-instances").click()
    for name in ("radarr", "sonarr"):
        card = ui.locator(f"[data-testid=instance-card][data-name='{name}']")
        expect(card).to_contain_text("qBittorrent connected", timeout=60_000)
        expect(card).to_contain_text(f"{name} connected")
    shot(ui, "stack-instances")


def test_stalled_torrent_struck_then_its_removal_arrives_live(
    session: Session, ui: Any, full_stack: FullStack, shot
) -> None:
    # The actions timeline is open before the torrent even exists, so what it shows of the
    # removal can only have come over the live stream.
    timeline = session.new_page()
    try:
        timeline.goto(full_stack.url + "/#actions")
        expect(timeline.get_by_test_id("actions-list")).to_be_visible()
        expect(timeline.get_by_test_id("live-status")).to_have_text("live")
        timeline.evaluate("window.__notReloaded = true")

        radarr = full_stack.arrs["radarr"]
        category = full_stack.categories["radarr"]
        name = "Stalled.E2E.Movie.2160p"
        added = add_stalled(full_stack.qbit, name, {f"{name}.mkv": 16 * KiB}, category=category)
        radarr.link(added.hash, radarr.generate(1))

        # The torrents view shows it with its strikes while the manager counts them.
        wait_for(
            lambda: full_stack.store.list_strikes("radarr", added.hash),
            "a first strike",
            timeout=90,
        )
        ui.get_by_test_id("nav-torrents").click()
        ui.get_by_test_id("filter-instance").select_option("radarr")
        row = ui.locator(f"[data-testid=torrent-row][data-hash='{added.hash}']")
        expect(row).to_contain_text(name)
        expect(row.get_by_test_id("torrent-strikes")).to_have_text(re.compile(r"^[1-9]"))
        expect(row).to_contain_text("stalled")
        # The strike reason wraps: the row's buttons stay on screen at a desktop width.
        expect(row.get_by_test_id("torrent-protect")).to_be_in_viewport()
        shot(ui, "stack-torrents")

        # The fourth strike removes it through Radarr (blocklist); the timeline gets it live.
        action = timeline.get_by_test_id("action-row").filter(has_text=name)
        blocklist = action.filter(has_text="blocklist")
        expect(blocklist).to_have_count(1, timeout=90_000)
        expect(blocklist).to_contain_text("done", timeout=60_000)
        expect(blocklist).to_contain_text("radarr")
        assert timeline.evaluate("window.__notReloaded") is True, "the timeline was reloaded"
        timeline.bring_to_front()
        shot(timeline, "stack-actions")
        wait_for(lambda: info(api(full_stack.qbit), added.hash) is None, "the torrent gone")
    finally:
        timeline.close()


def test_logs_follow_a_manager(ui: Any, full_stack: FullStack, shot) -> None:
    ui.get_by_test_id("nav-logs").click()
    ui.get_by_test_id("log-select").select_option("manager-sonarr")
    lines = ui.get_by_test_id("log-lines")
    expect(lines).to_contain_text("manager sonarr started")
    expect(lines).not_to_contain_text("config reloaded")
    # SIGHUP makes the manager re-read its config and say so: the line arrives live.
    full_stack.supervisor.signal("manager-sonarr", "HUP")
    expect(lines).to_contain_text("config reloaded", timeout=60_000)
    shot(ui, "stack-logs")


@pytest.mark.parametrize(
    ("value", "says"),
    [("abc", "whole number"), ("-5", ">= 1")],
)
def test_config_error_shown_at_the_field(
    ui: Any, full_stack: FullStack, shot, value: str, says: str
) -> None:
    ui.get_by_test_id("nav-config").click()
    ui.reload()  # the file as it is on disk, not an earlier case's edit
    editor = ui.get_by_test_id("config-editor")
    expect(editor).to_have_value(re.compile(r"check_interval: 3\n"))
    original = editor.input_value()
    assert full_stack.arrs["radarr"].api_key not in original, "a secret was shown"
    broken = original.replace("check_interval: 3\n", f"check_interval: {value}\n")
    line = broken.splitlines().index(f"  check_interval: {value}") + 1
    editor.fill(broken)
    ui.get_by_test_id("config-validate").click()

    problem = ui.locator("[data-testid=config-problem][data-path='settings.check_interval']")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text(value)
    expect(problem).to_contain_text(says)
    expect(problem).to_have_attribute("data-line", str(line))
    marked = ui.get_by_test_id("config-line-error")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-line", str(line))
    shot(ui, f"stack-config-error-{'type' if value == 'abc' else 'minimum'}")

    ui.get_by_test_id("config-save").click()
    expect(ui.get_by_test_id("config-result")).to_have_class("error")
    saved = full_stack.config_path.read_text(encoding="utf-8")
    assert "check_interval: 3\n" in saved, "an invalid config was written"
