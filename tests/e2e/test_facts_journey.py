"""Facts first in a real browser: arithmetic and a remembered name, answered from
Ambient's data on the embedded model, with a caption that says so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import CHAT_INPUT, MESSAGES, expect_no_exception, send

pytestmark = pytest.mark.browser

FROM_DATA = re.compile(r"Answered from Ambient.s data \([^)]*\) · no model call")


def reply_text(page: Page, index: int) -> str:
    return page.locator(MESSAGES).nth(index).locator(
        '[data-testid="stMarkdownContainer"]').first.inner_text()


def test_sums_and_the_users_name_are_answered_from_data(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    expect(page.locator(CHAT_INPUT)).to_be_visible(timeout=60_000)  # a cold start is slow

    send(page, "What is 17*23?")
    reply = page.locator(MESSAGES).nth(1)
    expect(reply.get_by_text(FROM_DATA)).to_be_visible(timeout=60_000)
    expect(reply).to_contain_text("the calculator")
    assert reply_text(page, 1) == "17 * 23 = 391"

    send(page, "My name is Ann")  # a statement: remembered by rule, then the model replies
    expect(page.locator(MESSAGES).nth(3).get_by_text(re.compile("embedded · SmolLM2"))
           ).to_be_visible(timeout=120_000)
    expect(page.locator(MESSAGES).nth(3)).to_contain_text("I'll remember that name is Ann.")

    send(page, "What is my name?")
    reply = page.locator(MESSAGES).nth(5)
    expect(reply.get_by_text(FROM_DATA)).to_be_visible(timeout=60_000)
    expect(reply).to_contain_text("Memory")
    assert reply_text(page, 5) == "Your name is Ann."

    page.reload()  # stored like any reply: the answers come back after a reload
    expect(page.locator(MESSAGES)).to_have_count(6)
    assert reply_text(page, 1) == "17 * 23 = 391"
    assert reply_text(page, 5) == "Your name is Ann."
    expect(page.locator(MESSAGES).nth(5).get_by_text(FROM_DATA)).to_be_visible()
    expect_no_exception(page)
    assert "Error" not in app_server.log()
