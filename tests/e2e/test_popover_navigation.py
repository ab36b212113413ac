"""A click on a page in the navigation while a sidebar popover is open goes to that page.

A popover that reruns the app when it opens or closes (``on_change="rerun"``, to draw its
contents only while open) lost that click: the click closed the popover, and the close's
rerun won over the page change, so the user stayed where they were (5 of 6 clicks, before
the fix). The sidebar's popovers now draw their contents with the page and never rerun.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from core.conversation import add_message
from core.sessions import ensure_session
from store.db import open_database
from tests.e2e.conftest import AppServer
from tests.e2e.test_workflows_journey import NAV

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("popover", ["Copy · why this model?", "Conversations"])
def test_a_page_click_with_a_popover_open_goes_to_the_page(
        page: Page, app_server: AppServer, popover: str) -> None:
    db = open_database(app_server.database_url)
    sid = ensure_session(db, None)
    add_message(db, sid, "user", "What is a link graph?")
    add_message(db, sid, "assistant", "A map of which pages link to which.", tier="embedded",
                model="SmolLM2-135M-Instruct", meta={"route_reason": "a short question"})
    db.dispose()
    page.goto(f"{app_server.url}/?sid={sid}")
    expect(page.get_by_role("heading", name="Ambient", exact=True)).to_be_visible()
    for target in ("Tasks", "Memory", "Long job"):
        page.get_by_role("button", name=popover).last.click()
        page.wait_for_timeout(800)  # open, and any rerun it would start has started
        page.locator(NAV).get_by_text(target, exact=True).click()
        expect(page.get_by_role("heading", name=target, exact=True)).to_be_visible(
            timeout=15_000)
