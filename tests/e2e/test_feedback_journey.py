"""The thumbs under an answer, in a real browser: a click is booked on the answer's ledger
row, and a reload of the page (same ``?sid=``) shows the stored thumb selected."""

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
# A selected thumb is drawn as its own element (Streamlit 1.67's Feedback.js): test id
# "stFeedbackButtonActive" and aria-checked="true" on the radio button.
SELECTED = f'{SIDEBAR} [data-testid="stFeedbackButtonActive"]'


def test_a_thumbs_down_is_booked_on_the_answers_ledger_row_and_a_reload_shows_it(
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

    # Reload the page: a new browser session on the same conversation (the ?sid= stays in
    # the URL). The stored rating must be shown selected, and only that one.
    assert "sid=" in page.url
    url = page.url
    page.reload()
    assert page.url == url
    reply = page.locator(MESSAGES).nth(1)
    expect(reply.get_by_text(re.compile("embedded · SmolLM2"))).to_be_visible(timeout=120_000)
    _shows_thumbs_down_selected(page)

    # A reload may reconnect to the same server session (its widget state still holds the
    # click); a fresh browser context on the same URL is a new session, so what it shows
    # comes from the ledger alone.
    fresh = page.context.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        other = fresh.new_page()
        other.goto(url)
        reply = other.locator(MESSAGES).nth(1)
        expect(reply.get_by_text(re.compile("embedded · SmolLM2"))).to_be_visible(
            timeout=120_000)
        _shows_thumbs_down_selected(other)
    finally:
        fresh.close()


def _shows_thumbs_down_selected(page: Page) -> None:
    selected = page.locator(SELECTED)
    expect(selected).to_have_count(1, timeout=30_000)
    expect(selected).to_have_attribute("aria-label", "Thumbs down")
    expect(selected).to_have_attribute("aria-checked", "true")
    expect(page.locator(f'{THUMBS}[aria-label="Thumbs up"]')).to_have_attribute(
        "aria-checked", "false")
