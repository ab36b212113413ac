"""The assistant in a real browser: pick an expert, tell it your name, find the fact in the
Memory page, reload, and find the conversation and the fact still there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import CHAT_INPUT, MESSAGES, SIDEBAR, expect_no_exception, send
from tests.e2e.test_workflows_journey import choose

pytestmark = pytest.mark.browser


def expect_remembered(page: Page, text: str) -> None:
    """Wait until a fact input on the Memory page holds ``text``."""
    page.wait_for_function(
        "t => [...document.querySelectorAll('[data-testid=\"stMain\"] input')]"
        ".some(e => e.value.includes(t))",
        arg=text,
        timeout=30_000,
    )


def test_the_assistant_remembers_a_name_across_a_reload(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    expect(page.locator(CHAT_INPUT)).to_be_visible()

    # Pick an expert in the sidebar.
    choose(page, "Expert", "Task clerk")
    expect(page.get_by_role("combobox", name="Expert")).to_have_value("Task clerk")

    send(page, "My name is Ann.")
    reply_tag = page.locator(MESSAGES).nth(1).get_by_text(re.compile("embedded · SmolLM2"))
    expect(reply_tag).to_be_visible(timeout=120_000)
    expect_no_exception(page)

    page.locator('[data-testid="stSidebarNav"]').get_by_text("Memory").click()
    expect(page.get_by_role("heading", name="Memory")).to_be_visible()
    expect_remembered(page, "Ann")

    page.reload()
    expect(page.get_by_role("heading", name="Memory")).to_be_visible()
    expect(page.get_by_role("combobox", name="Expert")).to_have_value("Task clerk")
    expect(page.locator(MESSAGES)).to_have_count(2)
    expect(page.locator(MESSAGES).first).to_contain_text("My name is Ann.")
    expect_remembered(page, "Ann")
    expect_no_exception(page)


def test_stopping_a_reply_keeps_what_arrived(page: Page, app_server: AppServer) -> None:
    page.goto(app_server.url)
    send(page, "Write a very long story about a lighthouse keeper and the sea.")
    stop = page.locator(SIDEBAR).get_by_role("button", name=re.compile("Stop"))
    expect(stop).to_be_visible(timeout=60_000)
    reply = page.locator(MESSAGES).nth(1)
    expect(reply.locator('[data-testid="stMarkdownContainer"]').first).not_to_be_empty(
        timeout=60_000
    )
    stop.click()
    expect(reply.get_by_text("The answer was stopped before it finished.")).to_be_visible(
        timeout=30_000
    )
    page.reload()
    expect(page.locator(MESSAGES)).to_have_count(2)
    expect(page.locator(MESSAGES).nth(1).get_by_text("stopped before it finished")).to_be_visible()
    expect_no_exception(page)
