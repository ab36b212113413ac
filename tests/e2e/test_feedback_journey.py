"""The thumbs under an answer, in a real browser: a click is booked on the answer's ledger
row. (That a reload starts the widget from the stored rating is checked in AppTest,
tests/components/test_quality_ui.py.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from llm import ledger
from store.db import open_database
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.browser

SIDEBAR = '[data-testid="stSidebar"]'
CHAT_INPUT = f'{SIDEBAR} [data-testid="stChatInputTextArea"]'
MESSAGES = f'{SIDEBAR} [data-testid="stChatMessage"]'
THUMBS = f'{SIDEBAR} [data-testid="stFeedbackButton"]'


def test_a_thumbs_down_in_the_browser_is_booked_on_the_answers_ledger_row(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    expect(page.locator(CHAT_INPUT)).to_be_visible(timeout=120_000)
    page.locator(CHAT_INPUT).fill("Say hello in one word.")
    page.locator(CHAT_INPUT).press("Enter")
    reply = page.locator(MESSAGES).nth(1)
    expect(reply.get_by_text(re.compile("embedded · SmolLM2"))).to_be_visible(timeout=120_000)
    thumbs = page.locator(THUMBS)
    expect(thumbs).to_have_count(2, timeout=30_000)
    page.locator(f'{THUMBS}[aria-label="Thumbs down"]').click()
    db = open_database(app_server.database_url)
    request_id = None
    for _ in range(100):
        with db.read() as s:
            from store.models import LLMCallRow

            row = s.query(LLMCallRow).filter(LLMCallRow.feedback.is_not(None)).first()
            if row is not None:
                request_id = row.request_id
                break
        page.wait_for_timeout(200)
    assert request_id is not None, "the click was not booked"
    assert ledger.feedback_for(db, request_id) == "down"
    db.dispose()
