"""The whole journey a new user takes, in one browser session, with reloads along the way
and a screenshot of every page kept under test-artifacts/journey/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from linkgraph.scan import SAMPLE_EDGES
from tests.e2e.conftest import ARTIFACTS, AppServer
from tests.e2e.test_chat_journey import MESSAGES, SIDEBAR, expect_no_exception, send
from tests.e2e.test_workflows_journey import open_page, set_number

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "journey"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect_no_exception(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def reload_and_check(page: Page) -> None:
    page.reload()
    expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible()
    expect_no_exception(page)


@pytest.mark.timeout(900)
def test_a_new_users_whole_journey(page: Page, app_server: AppServer) -> None:
    page.goto(app_server.url)
    expect(page.get_by_role("heading", name="Ambient")).to_be_visible()
    shot(page, "01-home")

    open_page(page, "Introduction")
    page.get_by_role("button", name="Say hello").click()
    expect(page.get_by_text("1. Meet the assistant · done")).to_be_visible(timeout=120_000)
    page.get_by_label("What should I call you?").fill("Ann")
    page.get_by_role("button", name="Remember my name").click()
    expect(page.get_by_text("2. Your name · done")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Remember my colour").click()
    expect(page.get_by_text("3. Your favourite colour · done")).to_be_visible(timeout=30_000)
    shot(page, "02-introduction")
    reload_and_check(page)
    expect(page.get_by_text("2. Your name · done")).to_be_visible()

    open_page(page, "Tasks")
    page.get_by_label("New task").fill("Write the quarterly report")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]')).to_be_visible()
    send(page, "add a task to call Globex")
    expect(page.locator(SIDEBAR).get_by_text("Added the task").first).to_be_visible(
        timeout=120_000
    )
    reload_and_check(page)
    expect(page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]')).to_be_visible()
    shot(page, "03-tasks")

    open_page(page, "Competitive analysis")
    page.get_by_label("Type them, one per line or separated by commas").fill(
        "Acme, Initech, Globex"
    )
    page.get_by_role("button", name="Use these competitors").click()
    expect(page.get_by_text("1. Competitors · done")).to_be_visible()
    page.get_by_role("button", name="Use these aspects").click()
    page.get_by_role("button", name=re.compile("Analyse")).click()
    # Reload once the job has started (a reload at the instant of the click can end the
    # click's run before it starts anything); the analysis keeps running through it.
    started = page.get_by_role("button", name=re.compile("Running…|Download the report"))
    expect(started.first).to_be_visible(timeout=60_000)
    reload_and_check(page)
    expect(page.get_by_role("button", name=re.compile("Download the report"))).to_be_visible(
        timeout=300_000
    )
    shot(page, "04-competitive-analysis")

    open_page(page, "Link graph")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        str(SAMPLE_EDGES)
    )
    page.get_by_role("button", name="Measure").click()
    expect(page.get_by_text("1. Upload the edge list and metadata · done")).to_be_visible(
        timeout=60_000
    )
    page.get_by_text("4. Read the scan").click()
    page.get_by_role("button", name=re.compile("Read the scan")).click()
    expect(page.get_by_text("4. Read the scan · done")).to_be_visible(timeout=180_000)
    shot(page, "05-link-graph")
    reload_and_check(page)

    open_page(page, "Long job")
    set_number(page, "Items", "30")
    set_number(page, "Seconds per item", "1")
    page.get_by_role("button", name=re.compile("Start")).click()
    expect(page.get_by_role("button", name=re.compile("Running"))).to_be_disabled(
        timeout=15_000
    )
    reload_and_check(page)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text(re.compile("Cancelled after"))).to_be_visible(timeout=30_000)
    shot(page, "06-long-job")

    open_page(page, "Costs")
    calls = page.locator('[data-testid="stMetric"]').filter(has_text="Calls").first
    expect(calls).to_contain_text(re.compile(r"Calls\s*\d"))
    shot(page, "07-costs")

    for title, name in (("Experts", "08-experts"), ("Memory", "09-memory"),
                        ("Activity", "10-activity"), ("Settings", "11-settings")):
        open_page(page, title)
        shot(page, name)
    # The conversation is still there after every page: its latest entry (the Long job's
    # note; the latest few can all be notes, not chat bubbles) and the count of all of them.
    sidebar = page.locator(SIDEBAR)
    expect(sidebar.get_by_text(re.compile("Long job cancelled after"))).to_be_visible()
    showing = re.compile(r"Showing the latest \d+ of \d+ messages")
    expect(sidebar.get_by_text(showing)).to_be_visible()
    sidebar.get_by_role("button", name="Show earlier messages").click()
    expect(page.locator(MESSAGES).filter(has_text="Added the task").first).to_be_visible()
    page.goto(app_server.url + "/?sid=" + re.search(r"sid=([0-9a-f]{32})", page.url)[1])
    expect(page.get_by_role("heading", name="Welcome back, Ann")).to_be_visible()
    shot(page, "12-home-again")
