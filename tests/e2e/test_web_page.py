"""The jobs web page in a real headless Chromium, against the live API and a real worker.

Every wait is one of Playwright's auto-waiting ``expect`` assertions: the page must show
each change by itself (sign-in, live list over SSE, detail, retry, configuration).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect, sync_playwright
from sqlalchemy import delete

from orchestrator import submit
from orchestrator.storage.db import write_session
from services.catalog.models import (
    GroupPathMapping,
    Library,
    ManagerPathMapping,
    Player,
    PlayerGroup,
)
from tests.conftest import API_KEY, ApiServer, WorkerProcess
from tests.fakes.players import FakeJellyfin, FakeKodi
from tests.pipeline import fixture as webhook_body
from tests.pipeline import make_movie

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 15_000

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; missing is a skip locally and a failure in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install the chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, worker: WorkerProcess, api_server: ApiServer) -> Iterator[Page]:
    """A fresh browser context (empty session storage) at 1280x800; no uncaught errors."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(page: Page, server: ApiServer, key: str = API_KEY, hash_: str = "") -> None:
    page.goto(f"{server.url}/{hash_}")
    page.fill("#api-key", key)
    page.click("#signin-button")


def job_row(page: Page, job_id: str) -> Locator:
    return page.locator(f'#job-rows tr[data-job-id="{job_id}"]')


# Kept after the run (not in git) to look at what the page showed, at desktop and phone width.
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def screenshot(page: Page, path: Path) -> None:
    """Save what the page shows as ``tests/e2e/screenshots/<name>`` (the last run's)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    kept = SCREENSHOTS / path.name
    page.screenshot(path=str(kept))
    print(f"screenshot: {kept}")


def test_sign_in_and_live_list(page: Page, api_server: ApiServer, tmp_path: Path) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    sign_in(page, api_server, key="not-the-key")
    expect(page.locator("#signin-error")).to_contain_text("refused")
    expect(page.locator("#app")).to_be_hidden()
    # The sign-in page says where the key is kept, never the key.
    expect(page.locator("#signin-where")).to_contain_text("var/api_key")
    expect(page.locator("#signin-where")).to_contain_text("ORCH_API_KEY")
    assert API_KEY not in page.content()

    requests.clear()
    sign_in(page, api_server)
    expect(page.locator("#job-table")).to_be_visible()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    # Submitted after the page loaded: it must arrive over the event stream.
    echo_id = submit("test-echo", {"hello": "web"}).job.id
    progress_id = submit("test-progress", {"pause": 1.0}).job.id
    expect(job_row(page, echo_id)).to_have_attribute("data-status", "completed")
    # Its progress arrives live while it runs, with a bar; once done, no bar (only work
    # under way has one: a finished chain's 100 % hid a failed job after it).
    expect(job_row(page, progress_id)).to_contain_text(re.compile(r"\b(25|50|75)%"))
    expect(job_row(page, progress_id).locator("progress")).to_have_count(1)
    expect(job_row(page, progress_id)).to_have_attribute("data-status", "completed")
    expect(job_row(page, progress_id).locator("progress")).to_have_count(0)
    expect(job_row(page, echo_id).locator("progress")).to_have_count(0)
    # Newest first: the progress job was submitted last.
    expect(page.locator("#job-rows tr").first).to_have_attribute("data-job-id", progress_id)
    # An event with nothing to scan (Radarr's Test) is marked ignored, not as real work.
    ignored_id = submit("webhook", {"source": "radarr", "body": webhook_body("radarr_test")}).job.id
    expect(job_row(page, ignored_id).locator(".badge")).to_have_text("ignored")
    expect(job_row(page, ignored_id)).to_contain_text("Radarr Test: Test Title (1970) (ignored)")
    expect(job_row(page, echo_id).locator(".badge")).to_have_text("completed")

    # Live, not polled: the list itself was read once (plus two limit=1 probes).
    list_calls = [url for url in requests if urlparse(url).path == "/api/v1/jobs"]
    assert len(list_calls) <= 3, list_calls

    # The platform's maintenance stays out of the list, live or loaded, unless asked for.
    maintenance_id = submit("retention").job.id
    after_id = submit("test-echo", {"after": "maintenance"}).job.id
    expect(job_row(page, after_id)).to_have_attribute("data-status", "completed")
    expect(job_row(page, maintenance_id)).to_have_count(0)
    page.check("#filter-maintenance")
    expect(job_row(page, maintenance_id)).to_have_attribute("data-status", "completed")
    page.uncheck("#filter-maintenance")
    expect(job_row(page, maintenance_id)).to_have_count(0)

    assert API_KEY not in page.url
    assert API_KEY not in page.evaluate("document.cookie")
    assert page.evaluate("Object.values(sessionStorage)") == [API_KEY]
    screenshot(page, tmp_path / "job-list.png")

    # Filtering by status keeps only matching rows, and new matching jobs still arrive live.
    failed_id = submit("test-permanent", {}).job.id
    expect(job_row(page, failed_id)).to_have_attribute("data-status", "failed")
    page.select_option("#filter-status", "completed")
    expect(job_row(page, failed_id)).to_have_count(0)
    expect(job_row(page, echo_id)).to_be_visible()
    later_id = submit("test-echo", {"after": "filter"}).job.id
    expect(job_row(page, later_id)).to_have_attribute("data-status", "completed")
    expect(page.locator('#job-rows tr:not([data-status="completed"])')).to_have_count(0)

    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_failed_job_detail_and_retry(page: Page, api_server: ApiServer, tmp_path: Path) -> None:
    sign_in(page, api_server)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    failed_id = submit("test-permanent", {"why": "no disk"}).job.id
    expect(job_row(page, failed_id)).to_have_attribute("data-status", "failed")
    job_row(page, failed_id).click()

    detail = page.locator("#job-detail")
    expect(detail).to_have_attribute("data-job-id", failed_id)
    expect(detail).to_have_attribute("data-status", "failed")
    expect(page.locator("#detail-error")).to_contain_text("this can never work: no disk")
    expect(page.locator("#detail-traceback")).to_contain_text("Traceback")
    expect(page.locator("#detail-traceback")).to_contain_text("PermanentError")
    expect(page.locator('#detail-events li[data-event="job.failed"]')).to_have_count(1)
    expect(page.locator("#retry-button")).to_be_visible()
    expect(page.locator("#cancel-button")).to_be_hidden()
    assert f"#job={failed_id}" in page.url and API_KEY not in page.url
    screenshot(page, tmp_path / "failed-job.png")

    # Fails on attempt 1 with no automatic retry; a manual retry (attempt 2) succeeds.
    flaky_id = submit("test-flaky", {"fail_times": 1}, max_retries=0).job.id
    page.goto(f"{api_server.url}/#job={flaky_id}")  # a deep link; the key is still in the tab
    expect(detail).to_have_attribute("data-job-id", flaky_id)
    expect(detail).to_have_attribute("data-status", "failed")
    expect(page.locator("#detail-error")).to_contain_text("attempt 1 failed on purpose")

    page.click("#retry-button")
    expect(detail).to_have_attribute("data-status", "completed")
    expect(job_row(page, flaky_id)).to_have_attribute("data-status", "completed")
    expect(page.locator("#detail-result")).to_contain_text('"succeeded_on_attempt": 2')
    expect(page.locator('#detail-events li[data-event="job.requeued"]')).to_have_count(1)
    expect(page.locator("#detail-error-box")).to_be_hidden()
    expect(page.locator("#retry-button")).to_be_hidden()


def test_chain_tree(page: Page, api_server: ApiServer) -> None:
    root_id = submit("test-chain", {"steps": 3}).job.id
    sign_in(page, api_server, hash_=f"#job={root_id}")

    nodes = page.locator("#detail-chain li[data-tree-job-id]")
    expect(nodes).to_have_count(3)
    expect(page.locator('#detail-chain li[data-status="completed"]')).to_have_count(3)
    # Nested by parent: root > step 2 > step 3.
    deepest = page.locator("#detail-chain > ul > li > ul > li > ul > li")
    expect(deepest).to_have_count(1)
    expect(page.locator("#detail-chain > ul > li")).to_have_attribute("data-tree-job-id", root_id)


class Dialogs:
    """Answers the page's confirm() dialogs (accepting unless told not to) and keeps each
    question asked."""

    def __init__(self, page: Page) -> None:
        self.accept = True
        self.asked: list[str] = []
        page.on("dialog", self._answer)

    def _answer(self, dialog: Dialog) -> None:
        self.asked.append(dialog.message)
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


def test_configuration(page: Page, api_server: ApiServer, tmp_path: Path) -> None:
    dialogs = Dialogs(page)
    tag = uuid.uuid4().hex[:6]  # names are unique: other modules leave their configuration
    sign_in(page, api_server, hash_="#config")
    section = page.locator("#config-libraries")
    form = section.locator("form")
    expect(form).to_be_visible()

    # A 422 is shown next to the field it names.
    form.locator('[name="name"]').fill(f"Films {tag}")
    form.locator('[name="path"]').fill("relative/films")
    form.locator('button[type="submit"]').click()
    expect(form.locator('[data-error-for="path"]')).to_contain_text("absolute path")

    films = str(tmp_path / "films")
    Path(films).mkdir()  # a library's folder exists
    form.locator('[name="path"]').fill(films)
    form.locator('button[type="submit"]').click()
    row = section.locator("tbody tr", has_text=films)
    expect(row).to_have_count(1)
    expect(form.locator('[data-error-for="path"]')).to_be_hidden()

    row.get_by_role("button", name="Scan").click()
    expect(section.locator("[data-notice]")).to_contain_text("scan queued as job")

    row.get_by_role("button", name="Edit").click()
    expect(form).to_have_attribute("data-mode", "edit")
    form.locator('[name="name"]').fill(f"Movies {tag}")
    form.locator('button[type="submit"]').click()
    expect(row).to_contain_text(f"Movies {tag}")
    library_id = row.get_attribute("data-resource-id")

    # A group of that library, chosen by its name (the page shows names, never ids).
    groups = page.locator("#config-player-groups")
    group_form = groups.locator("form")
    library_box = group_form.get_by_role("checkbox", name=f"Movies {tag}", exact=True)
    expect(library_box).not_to_be_checked()
    groups.locator('[name="name"]').fill(f"Living room {tag}")
    library_box.check()
    groups.locator('[name="path_mappings"]').fill(f"{films} => smb://nas/films")
    groups.locator('button[type="submit"]').click()
    group_row = groups.locator("tbody tr", has_text=f"Living room {tag}")
    expect(group_row).to_contain_text("smb://nas/films")
    libraries_cell = group_row.locator("td").nth(2)  # id, name, libraries
    expect(libraries_cell).to_have_text(f"Movies {tag}")
    group_id = group_row.get_attribute("data-resource-id")
    assert group_id is not None and library_id is not None

    # The edit form shows the group's libraries chosen; a renamed library is renamed here too.
    group_row.get_by_role("button", name="Edit").click()
    expect(group_form).to_have_attribute("data-mode", "edit")
    expect(library_box).to_be_checked()
    group_form.get_by_role("button", name="Cancel edit").click()
    expect(library_box).not_to_be_checked()
    row.get_by_role("button", name="Edit").click()
    form.locator('[name="name"]').fill(f"Films {tag}")
    form.locator('button[type="submit"]').click()
    expect(libraries_cell).to_have_text(f"Films {tag}")

    # A player of that group, chosen by its name: the password is write-only.
    players = page.locator("#config-players")
    players.locator('[name="name"]').fill(f"kodi-{tag}")
    players.locator('[name="url"]').fill("http://127.0.0.1:9")
    players.locator('[name="group_id"]').select_option(label=f"Living room {tag}")
    players.locator('[name="password"]').fill("s3cret-pw")
    players.locator('button[type="submit"]').click()
    player_row = players.locator("tbody tr", has_text=f"kodi-{tag}")
    cells = player_row.locator("td")  # id, then the fields: ..., group (4), password (8), token (9)
    expect(cells.nth(4)).to_have_text(f"Living room {tag}")
    expect(cells.nth(8)).to_have_text("set")
    expect(cells.nth(9)).to_have_text("—")
    player_id = player_row.get_attribute("data-resource-id")
    player_row.get_by_role("button", name="Edit").click()
    expect(players.locator('[name="group_id"]')).to_have_value(group_id)
    players.get_by_role("button", name="Cancel edit").click()
    assert "s3cret-pw" not in page.content()
    screenshot(page, tmp_path / "configuration.png")
    player_row.get_by_role("button", name="Test").click()
    expect(players.locator("[data-notice]")).to_contain_text("unreachable")

    # Delete asks first; dismissed, nothing is deleted.
    deleted: list[str] = []
    page.on("request", lambda r: r.method == "DELETE" and deleted.append(urlparse(r.url).path))
    dialogs.accept = False
    group_row.get_by_role("button", name="Delete").click()
    expect(groups.locator("[data-notice]")).not_to_contain_text("Deleted")
    assert dialogs.asked[-1] == (
        f'Delete player group "Living room {tag}"? Its players are deleted too.'
    )
    expect(group_row).to_have_count(1)
    expect(player_row).to_have_count(1)

    dialogs.accept = True
    for row_ in (player_row, group_row, row):
        asked = len(dialogs.asked)
        row_.get_by_role("button", name="Delete").click()
        expect(row_).to_have_count(0)
        assert len(dialogs.asked) == asked + 1
    # Each row was deleted once: the dismissed Delete sent nothing.
    assert deleted == [
        f"/api/v1/players/{player_id}",
        f"/api/v1/player-groups/{group_id}",
        f"/api/v1/libraries/{library_id}",
    ]


def test_a_command_or_webhook_player_is_added_with_the_fields_of_its_type(
    page: Page, api_server: ApiServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    with write_session() as session:
        session.add(PlayerGroup(name=f"Scripts {tag}"))
    notify = tmp_path / "notify.sh"
    notify.write_text("#!/bin/bash\nexit 0\n")
    notify.chmod(0o755)
    sign_in(page, api_server, hash_="#config")
    players = page.locator("#config-players")

    def field(key: str) -> Locator:
        return players.locator(f'[data-field="{key}"]')

    expect(field("url")).to_be_visible()
    expect(field("command")).to_be_hidden()  # the first type offered is Kodi's

    # A command: no URL or credentials; a 422 shows next to the command.
    players.locator('[name="type"]').select_option(label="Command")
    for key in ("url", "username", "password", "token", "header_name", "header_value"):
        expect(field(key)).to_be_hidden()
    players.locator('[name="name"]').fill(f"tdarr {tag}")
    players.locator('[name="group_id"]').select_option(label=f"Scripts {tag}")
    players.locator('[name="command"]').fill("notify.sh")
    players.locator('[name="time_limit"]').fill("5")
    players.locator('button[type="submit"]').click()
    expect(players.locator('[data-error-for="command"]')).to_contain_text("absolute path")
    players.locator('[name="command"]').fill(str(notify))
    players.locator('button[type="submit"]').click()
    expect(players.locator("tbody tr", has_text=f"tdarr {tag}")).to_contain_text(str(notify))

    # A webhook: a URL and a header, whose value is write-only.
    players.locator('[name="type"]').select_option(label="Webhook")
    for key in ("url", "header_name", "header_value"):
        expect(field(key)).to_be_visible()
    for key in ("command", "time_limit", "username", "password", "token"):
        expect(field(key)).to_be_hidden()
    players.locator('[name="name"]').fill(f"hook {tag}")
    players.locator('[name="url"]').fill("http://127.0.0.1:9/hook")
    players.locator('[name="group_id"]').select_option(label=f"Scripts {tag}")
    players.locator('[name="header_name"]').fill("Authorization")
    players.locator('[name="header_value"]').fill("Bearer page-s3cret")
    players.locator('button[type="submit"]').click()
    hook = players.locator("tbody tr", has_text=f"hook {tag}")
    expect(hook).to_contain_text("Authorization")
    expect(hook.locator("td").nth(13)).to_have_text("set")  # id, the fields: header value (13)
    hook.get_by_role("button", name="Edit").click()
    expect(field("header_value")).to_be_visible()
    expect(field("command")).to_be_hidden()
    assert "page-s3cret" not in page.content()


def test_cancel_asks_first(page: Page, api_server: ApiServer) -> None:
    dialogs = Dialogs(page)
    job_id = submit("test-echo", {"path": "/data/later"}, countdown=600).job.id
    sign_in(page, api_server, hash_=f"#job={job_id}")
    detail = page.locator("#job-detail")
    expect(detail).to_have_attribute("data-status", "pending")

    dialogs.accept = False
    page.click("#cancel-button")
    assert dialogs.asked == ["Cancel this test-echo job (/data/later)?"]
    expect(detail).to_have_attribute("data-status", "pending")
    expect(page.locator("#cancel-button")).to_be_visible()

    dialogs.accept = True
    page.click("#cancel-button")
    expect(detail).to_have_attribute("data-status", "cancelled")
    assert len(dialogs.asked) == 2


def chain_members(page: Page, root_id: str) -> Locator:
    return page.locator(f'#job-rows tr.member[data-root-id="{root_id}"]')


def test_rows_show_summaries_and_a_chain_is_one_row(
    page: Page, api_server: ApiServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    sign_in(page, api_server)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")

    # One chain after the other: on PostgreSQL the events stream may miss an event that
    # commits after a later one (ids from a sequence), so nothing runs side by side here.
    root_id = submit("test-chain", {"steps": 3, "path": f"/data/movies/Chain {tag}"}).job.id

    # One row per chain, saying what it is about, in the state of the whole chain.
    root = job_row(page, root_id)
    expect(root).to_contain_text(f"/data/movies/Chain {tag}")
    expect(root).to_have_attribute("data-chain-status", "completed")
    failing = {"steps": 3, "fail_at": 2, "path": f"/data/Fail {tag}"}
    failing_id = submit("test-chain", failing).job.id
    expect(chain_members(page, root_id)).to_have_count(2)
    for member in chain_members(page, root_id).all():
        expect(member).to_be_hidden()
    expect(root.locator(".chain-toggle")).to_have_text("▸ 3")

    root.locator(".chain-toggle").click()
    for member in chain_members(page, root_id).all():
        expect(member).to_be_visible()
        expect(member).to_have_attribute("data-status", "completed")
    expect(root.locator(".chain-toggle")).to_have_attribute("aria-expanded", "true")
    assert "#job=" not in page.url  # expanding is not opening
    screenshot(page, tmp_path / "chains.png")
    root.locator(".chain-toggle").click()
    expect(chain_members(page, root_id).first).to_be_hidden()

    # The root completed, its child failed: the chain failed, said in words and a sign.
    failing = job_row(page, failing_id)
    expect(failing).to_have_attribute("data-chain-status", "failed")
    expect(failing).to_have_attribute("data-status", "completed")
    expect(failing).to_have_class(re.compile(r"\bfailed\b"))
    expect(failing.locator("td").first).to_have_text("⚠ failed")
    expect(chain_members(page, failing_id)).to_have_count(1)

    # The detail's chain tree shows the summary too.
    root.click()
    expect(page.locator(f'#detail-chain li[data-tree-job-id="{root_id}"]')).to_contain_text(
        f"/data/movies/Chain {tag}"
    )
    expect(page.locator("#detail-summary")).to_have_text(f"/data/movies/Chain {tag}")

    # Search by summary.
    page.fill("#filter-q", f"chain {tag.upper()}")
    page.press("#filter-q", "Enter")
    expect(page.locator("#job-rows tr")).to_have_count(1)
    expect(page.locator("#job-rows tr")).to_have_attribute("data-job-id", root_id)


def test_large_payloads_start_collapsed(page: Page, api_server: ApiServer) -> None:
    big_id = submit("test-echo", {"big": "x" * 5000}).job.id
    small_id = submit("test-echo", {"small": 1}).job.id
    sign_in(page, api_server, hash_=f"#job={big_id}")

    expect(page.locator("#job-detail")).to_have_attribute("data-status", "completed")
    expect(page.locator("#detail-payload-box")).to_have_js_property("open", False)
    expect(page.locator("#detail-result-box")).to_have_js_property("open", False)
    expect(page.locator("#detail-payload-size")).to_contain_text("KB")
    page.locator("#detail-payload-box > summary").click()
    expect(page.locator("#detail-payload")).to_be_visible()

    page.goto(f"{api_server.url}/#job={small_id}")
    expect(page.locator("#job-detail")).to_have_attribute("data-status", "completed")
    expect(page.locator("#detail-payload-box")).to_have_js_property("open", True)
    expect(page.locator("#detail-payload")).to_contain_text('"small": 1')


def test_a_phone_sized_page_is_usable(page: Page, api_server: ApiServer, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    job_id = submit("test-echo", {"path": "/data/movies/A Rather Long Movie Title (2001)"}).job.id
    sign_in(page, api_server)

    expect(page.locator("#signout")).to_be_in_viewport()
    row = job_row(page, job_id)
    expect(row).to_be_visible()
    expect(row.locator(".summary")).to_be_in_viewport()
    # Work done shows no bar, and an event with nothing to scan is marked ignored, here too.
    expect(row).to_have_attribute("data-status", "completed")
    expect(row.locator("progress")).to_have_count(0)
    ignored_id = submit("webhook", {"source": "sonarr", "body": webhook_body("sonarr_test")}).job.id
    expect(job_row(page, ignored_id).locator(".badge")).to_have_text("ignored")
    expect(job_row(page, ignored_id).locator(".badge")).to_be_in_viewport()
    # Nothing sticks out sideways: the page itself never scrolls horizontally.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, tmp_path / "phone-list.png")

    row.click()
    expect(page.locator("#job-detail")).to_have_attribute("data-job-id", job_id)
    expect(page.locator("#job-list-pane")).to_be_hidden()
    expect(page.locator("#detail-summary")).to_be_in_viewport()
    box = page.locator("#job-detail").bounding_box()
    assert box is not None and box["width"] > 300  # the whole width, not a squeezed column
    screenshot(page, tmp_path / "phone-detail.png")

    page.click("#detail-back")
    expect(page.locator("#job-detail")).to_be_hidden()
    expect(row).to_be_visible()
    expect(page.locator("#signout")).to_be_in_viewport()

    # The configuration's tables reflow: a row's buttons are reached without scrolling
    # sideways (they used to sit past the right edge).
    with write_session() as session:
        library = Library(name=f"phone {uuid.uuid4().hex[:6]}", path=str(tmp_path), kind="movies")
        session.add(library)
        session.flush()
        library_id = library.id
    try:
        page.goto(f"{api_server.url}/#config")
        library_row = page.locator(f'#config-libraries tr[data-resource-id="{library_id}"]')
        remove = library_row.get_by_role("button", name="Delete")
        expect(remove).to_be_visible()
        box = remove.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
        wrap = "#config-libraries .table-wrap"
        assert page.evaluate(
            f"(w => w.scrollWidth <= w.clientWidth)(document.querySelector('{wrap}'))"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, tmp_path / "phone-config.png")
    finally:
        with write_session() as session:
            session.execute(delete(Library).where(Library.id == library_id))


def test_a_detail_opens_over_the_list_without_squeezing_it(
    page: Page, api_server: ApiServer
) -> None:
    job_id = submit("test-echo", {"path": "/data/movies/A Rather Long Movie Title (2001)"}).job.id
    sign_in(page, api_server)
    row = job_row(page, job_id)
    expect(row).to_have_attribute("data-status", "completed")
    height = row.bounding_box()["height"]  # type: ignore[index]

    row.click()
    expect(page.locator("#job-detail")).to_have_attribute("data-job-id", job_id)
    # The list keeps the whole width and its rows their one line; the detail lies over it.
    assert page.locator("#job-list-pane").bounding_box()["width"] > 1200  # type: ignore[index]
    assert row.bounding_box()["height"] == height  # type: ignore[index]
    assert page.locator("#job-detail").bounding_box()["width"] >= 560  # type: ignore[index]


def test_a_notify_job_shows_each_player_and_whether_its_library_shows_the_change(
    page: Page, api_server: ApiServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    library_path = tmp_path / "movies"
    folder = make_movie(library_path, "The Matrix (1999)", 603)
    dead = FakeKodi()
    dead.stop()
    with FakeKodi() as kodi, FakeJellyfin(token="jf") as jellyfin:
        kodi.add_source("smb://nas/movies", "movies", disk=library_path)
        with write_session() as session:
            library = Library(name=f"movies-{tag}", path=str(library_path), kind="movies")
            living_room = PlayerGroup(name=f"living room {tag}", libraries=[library])
            living_room.path_mappings = [
                GroupPathMapping(from_path=str(library_path), to_path="smb://nas/movies")
            ]
            living_room.players = [
                Player(name=f"old kodi {tag}", type="kodi", url=dead.url, position=0),
                Player(name=f"kodi {tag}", type="kodi", url=kodi.url, position=1),
            ]
            bedroom = PlayerGroup(name=f"bedroom {tag}", libraries=[library])
            bedroom.players = [
                Player(name=f"jellyfin {tag}", type="jellyfin", url=jellyfin.url, token="jf")
            ]
            session.add_all([library, living_room, bedroom])
            session.flush()
            library_id = library.id
        try:
            sign_in(page, api_server)
            payload = {"library_id": library_id, "path": str(folder), "update_type": "Created"}
            job_id = submit("notify-players", payload).job.id
            page.goto(f"{api_server.url}/#job={job_id}")

            expect(page.locator("#job-detail")).to_have_attribute("data-status", "completed")
            players = page.locator("#detail-players li")
            expect(players).to_have_count(3)
            expect(players.nth(0)).to_contain_text(f"living room {tag} · old kodi {tag}: ✗")
            expect(players.nth(1)).to_contain_text(
                f"kodi {tag}: ✔ verified — Kodi lists the folder's media"
            )
            expect(players.nth(2)).to_contain_text(f"jellyfin {tag}: not verified — not checked")
            screenshot(page, tmp_path / "notify-players.png")
        finally:
            with write_session() as session:
                session.execute(delete(PlayerGroup).where(PlayerGroup.name.like(f"% {tag}")))
                session.execute(delete(Library).where(Library.id == library_id))


def test_a_failed_notify_job_still_shows_the_groups_it_told_and_why_the_others_failed(
    page: Page, api_server: ApiServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    library_path = tmp_path / "movies"
    folder = make_movie(library_path, "Heat (1995)", 949)
    with FakeKodi(username="kodi", password="right") as kodi:
        with write_session() as session:
            library = Library(name=f"movies-{tag}", path=str(library_path), kind="movies")
            dry = PlayerGroup(name=f"dry run {tag}", libraries=[library])
            dry.players = [Player(name=f"try-it {tag}", type="log", url="")]
            den = PlayerGroup(name=f"den {tag}", libraries=[library])
            den.players = [  # a wrong password: refused, for good
                Player(name=f"kodi {tag}", type="kodi", url=kodi.url, username="kodi",
                       password="wrong")
            ]  # fmt: skip
            session.add_all([library, dry, den])
            session.flush()
            library_id = library.id
        try:
            sign_in(page, api_server)
            payload = {"library_id": library_id, "path": str(folder), "update_type": "Created"}
            job_id = submit("notify-players", payload).job.id
            page.goto(f"{api_server.url}/#job={job_id}")

            expect(page.locator("#job-detail")).to_have_attribute("data-status", "failed")
            players = page.locator("#detail-players li")
            expect(players).to_have_count(2)
            expect(players.nth(0)).to_contain_text(f"dry run {tag} · try-it {tag}: not verified")
            expect(players.nth(1)).to_contain_text(f"den {tag} · kodi {tag}: ✗")
            expect(page.locator("#detail-result")).to_have_text("—")  # no result: it failed
        finally:
            with write_session() as session:
                session.execute(delete(PlayerGroup).where(PlayerGroup.name.like(f"% {tag}")))
                session.execute(delete(Library).where(Library.id == library_id))


def test_a_households_imports_reach_its_players(
    page: Page, api_server: ApiServer, tmp_path: Path
) -> None:
    """What a household sees: Radarr's and Sonarr's imports, each a chain that reached its
    players, and a Test event marked ignored (the README's picture)."""
    tag = uuid.uuid4().hex[:6]
    movies, tv = tmp_path / "movies", tmp_path / "tv"
    make_movie(movies, "The Matrix (1999)", 603)
    season = tv / "Severance" / "Season 02"
    season.mkdir(parents=True)
    (season / "Severance - S02E01 - Hello, Ms. Cobel WEBDL-2160p.mkv").write_bytes(b"\0" * 2048)

    def body(name: str) -> dict:  # the fixture, its manager's folders made this test's own
        text = json.dumps(webhook_body(name))
        return dict(
            json.loads(text.replace('"/movies', f'"/movies-{tag}').replace('"/tv', f'"/tv-{tag}'))
        )

    with FakeKodi() as kodi, FakeJellyfin(token="jf") as jellyfin:
        kodi.add_source("smb://nas/movies", "movies", disk=movies)
        with write_session() as session:
            films = Library(name=f"Movies {tag}", path=str(movies), kind="movies")
            shows = Library(name=f"TV {tag}", path=str(tv), kind="tv")
            for source, theirs, ours in (("radarr", "movies", movies), ("sonarr", "tv", tv)):
                mapping = ManagerPathMapping(source=source, from_path=f"/{theirs}-{tag}")
                mapping.to_path = str(ours)
                session.add(mapping)
            living_room = PlayerGroup(name=f"Living room {tag}", libraries=[films])
            living_room.path_mappings = [
                GroupPathMapping(from_path=str(movies), to_path="smb://nas/movies")
            ]
            living_room.players = [Player(name=f"Kodi {tag}", type="kodi", url=kodi.url)]
            bedroom = PlayerGroup(name=f"Bedroom {tag}", libraries=[shows])
            bedroom.players = [
                Player(name=f"Jellyfin {tag}", type="jellyfin", url=jellyfin.url, token="jf")
            ]
            session.add_all([films, shows, living_room, bedroom])
        try:
            sign_in(page, api_server)
            radarr = submit("webhook", {"source": "radarr", "body": body("radarr_download")}).job.id
            sonarr = submit("webhook", {"source": "sonarr", "body": body("sonarr_download")}).job.id
            test = submit("webhook", {"source": "radarr", "body": body("radarr_test")}).job.id

            for root in (radarr, sonarr):  # each chain: webhook, scan, notify, all completed
                expect(job_row(page, root).locator(".chain-toggle")).to_contain_text("3")
                expect(job_row(page, root)).to_have_attribute("data-chain-status", "completed")
            expect(job_row(page, test).locator(".badge")).to_have_text("ignored")
            job_row(page, radarr).locator(".chain-toggle").click()
            expect(page.locator(f'#job-rows tr[data-root-id="{radarr}"]')).to_have_count(3)
            assert kodi.scans() and jellyfin.updates()  # the players were told
            screenshot(page, tmp_path / "household.png")
        finally:
            with write_session() as session:
                session.execute(delete(PlayerGroup).where(PlayerGroup.name.like(f"% {tag}")))
                session.execute(delete(Library).where(Library.name.like(f"% {tag}")))
                session.execute(
                    delete(ManagerPathMapping).where(ManagerPathMapping.from_path.like(f"%-{tag}"))
                )
