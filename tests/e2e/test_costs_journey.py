"""Costs in a real browser: chat a few turns, open Costs, see the calls and the savings."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import MESSAGES, expect_no_exception, send
from tests.e2e.test_workflows_journey import open_page

pytestmark = pytest.mark.browser


def test_a_few_chat_turns_show_up_in_costs_with_their_savings(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    for turn, text in enumerate(("Hello!", "What is a link graph?", "Thanks, bye.")):
        send(page, text)
        reply = page.locator(MESSAGES).nth(2 * turn + 1)
        expect(reply.get_by_text(re.compile("embedded · SmolLM2"))).to_be_visible(
            timeout=120_000
        )
    open_page(page, "Costs")
    calls = page.locator('[data-testid="stMetric"]').filter(has_text="Calls")
    expect(calls.first).to_contain_text(re.compile(r"Calls\s*[3-9]"))
    saved = page.locator('[data-testid="stMetric"]').filter(has_text="Saved")
    expect(saved.first).to_contain_text("100.0%")  # all answered locally, at no cost
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Spend").first
           ).to_contain_text("$0")
    expect_no_exception(page)
