"""Workflows in a real browser: the long job, a competitive analysis, a task by chat."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import (
    SIDEBAR,
    confirmation,
    download,
    expect_no_exception,
    send,
)
from tests.pages.test_competitive import INSTRUCTION_FRAGMENTS

pytestmark = pytest.mark.browser

NAV = '[data-testid="stSidebarNav"]'
MAIN = '[data-testid="stMain"]'


def open_page(page: Page, title: str) -> None:
    page.locator(NAV).get_by_text(title, exact=True).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()


def listed_options(page: Page, combobox: str) -> list[str]:
    """The options a dropdown offers, retried: a rerun can close it as it opens."""
    for _ in range(5):
        page.get_by_role("combobox", name=combobox).click()
        try:
            page.get_by_role("option").first.wait_for(timeout=3_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)
            continue
        texts = page.get_by_role("option").all_inner_texts()
        page.keyboard.press("Escape")
        if texts:  # empty: the dropdown closed between the wait and the read; open it again
            return texts
        page.wait_for_timeout(500)
    return []


def choose(page: Page, combobox: str, option: str) -> None:
    """Pick ``option`` in a dropdown, retried: a rerun can close it as it opens."""
    for _ in range(5):
        page.get_by_role("combobox", name=combobox).click()
        try:
            page.get_by_role("option", name=option).click(timeout=3_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)
            continue
        return
    raise AssertionError(f"could not pick {option!r} in {combobox!r}")


def set_number(page: Page, label: str, value: str) -> None:
    box = page.get_by_label(label)
    box.fill(value)
    box.press("Enter")


def test_the_long_job_locks_narrates_and_survives_a_reload(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    open_page(page, "Long job")
    set_number(page, "Items", "8")
    set_number(page, "Seconds per item", "1.5")
    page.get_by_role("button", name=re.compile("Start")).click()

    running = page.get_by_role("button", name=re.compile("Running"))
    expect(running).to_be_disabled(timeout=15_000)
    expect(page.locator(SIDEBAR).get_by_text(re.compile(r"Long job: 25% done"))).to_be_visible(
        timeout=30_000
    )
    page.reload()  # the job is found where it is, still running
    expect(page.get_by_role("button", name=re.compile("Running"))).to_be_disabled()
    expect(page.locator(MAIN).get_by_text(re.compile(r"of 8 items"))).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Start"))).to_be_enabled(timeout=60_000)
    expect(page.locator(SIDEBAR).get_by_text(re.compile(r"Long job: 100% done"))).to_be_visible(
        timeout=15_000
    )
    expect(page.get_by_text("Finished: 8 of 8 items done.")).to_be_visible()
    expect_no_exception(page)


def test_a_competitive_analysis_of_three_competitors_downloads_its_report(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    open_page(page, "Competitive analysis")
    # Only the embedded model is here: each model step says so before it runs (issue 15).
    expect(page.locator(MAIN).get_by_text(
        "The offline model suggests made-up or unusable competitor names; start Ollama",
        exact=False)).to_be_visible()
    page.get_by_label("Type them, one per line or separated by commas").fill(
        "Acme Analytics\nGlobex\nInitech"
    )
    page.get_by_role("button", name="Use these competitors").click()
    expect(page.get_by_text("1. Competitors · done")).to_be_visible()
    page.get_by_role("button", name="Use these aspects").click()
    expect(page.locator(MAIN).get_by_text(
        "The offline model writes poor analyses; start Ollama", exact=False)).to_be_visible()
    page.get_by_role("button", name=re.compile("Analyse")).click()
    expect(page.get_by_role("button", name=re.compile("Download the report"))).to_be_visible(
        timeout=300_000
    )
    report = download(page, page.get_by_role("button", name=re.compile("Download the report")))
    assert report.suggested_filename == "competitive-analysis.md"
    text = Path(report.path()).read_text(encoding="utf-8")
    assert text.startswith("# Competitive analysis")
    for name in ("Acme Analytics", "Globex", "Initech"):
        assert name in text
    shown = page.locator(MAIN).inner_text()
    for fragment in INSTRUCTION_FRAGMENTS:  # the model's instructions never reach the user
        assert fragment.casefold() not in text.casefold(), fragment
        assert fragment.casefold() not in shown.casefold(), fragment
    expect_no_exception(page)


def test_a_task_added_through_the_chat_shows_in_the_tasks_page(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    send(page, "add a task to call Acme")
    expect(confirmation(page, 1, "Added the task 'Call Acme'")).to_be_visible(
        timeout=120_000
    )
    open_page(page, "Tasks")
    page.get_by_text("Delete tasks").click()
    assert "Call Acme" in listed_options(page, "Tasks to delete")
    expect_no_exception(page)
