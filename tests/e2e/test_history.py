"""A page change by the navigation is one step in the browser's history, with the whole URL.

Streamlit clears the query on a page change; the session id and the chosen expert go back
into the URL. Written one at a time, each was its own history entry: Back went to the same
page without its expert, and each entry cost the browser about 10 ms of every page change.
They now go back in one update (``components.session.keep_in_url``).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_workflows_journey import NAV

pytestmark = pytest.mark.browser
FULL_URL = re.compile(r"\?(?=.*\bsid=[0-9a-f]{32}\b)(?=.*\bexpert=general\b)")


def test_each_page_change_is_one_history_entry_with_the_session_and_the_expert(
        page: Page, app_server: AppServer) -> None:
    page.goto(app_server.url)
    expect(page.get_by_role("heading", name="Ambient", exact=True)).to_be_visible(
        timeout=60_000)
    expect(page).to_have_url(FULL_URL)
    sid = re.search(r"sid=([0-9a-f]{32})", page.url).group(1)
    for target, path in (("Memory", "/memory"), ("Tasks", "/tasks"), ("Long job", "/long_job")):
        before = page.evaluate("history.length")
        page.locator(NAV).get_by_text(target, exact=True).click()
        expect(page.get_by_role("heading", name=target, exact=True)).to_be_visible(
            timeout=15_000)
        expect(page).to_have_url(FULL_URL)
        page.wait_for_timeout(500)  # anything the run would still write into the URL
        assert path in page.url and f"sid={sid}" in page.url
        assert page.evaluate("history.length") == before + 1, "one entry per page change"
    page.go_back()
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_visible(timeout=15_000)
    expect(page).to_have_url(FULL_URL)
    assert "/tasks" in page.url and f"sid={sid}" in page.url
