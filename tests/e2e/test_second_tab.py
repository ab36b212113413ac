"""Without sign-in there is one local user (issue #16): a second tab, opened without the
first one's ?sid=, finds the tasks, memory and earlier conversation made in the first."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import (
    MESSAGES,
    SIDEBAR,
    confirmation,
    expect_no_exception,
    send,
)
from tests.e2e.test_team_sign_in import choose_conversation, sid_of
from tests.e2e.test_workflows_journey import MAIN, listed_options, open_page

pytestmark = pytest.mark.browser


def test_a_second_tab_without_the_sid_finds_the_local_users_work(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    send(page, "add a task to call Acme")
    expect(confirmation(page, 1, "Added the task 'Call Acme'")).to_be_visible(
        timeout=120_000)
    send(page, "my name is Ann")
    expect(page.locator(MESSAGES)).to_have_count(4, timeout=120_000)
    expect(page).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))
    first_sid = sid_of(page)

    second = page.context.new_page()  # a new tab, typed address: no ?sid=
    second.set_default_timeout(60_000)
    second.goto(app_server.url)
    expect(second).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))
    assert sid_of(second) != first_sid  # a tab of its own …
    expect(second.locator(SIDEBAR).get_by_text(re.compile("Signed in as"))).to_have_count(0)
    expect(second.get_by_role("heading", name="Sign in to Ambient")).to_have_count(0)
    # … that finds the work of the first: the earlier conversation,
    choose_conversation(second, "add a task to call Acme")
    expect(second.locator(MESSAGES).first).to_contain_text("add a task to call Acme")
    expect(second.locator(MESSAGES).nth(2)).to_contain_text("my name is Ann")
    # the tasks,
    open_page(second, "Tasks")
    second.get_by_text("Delete tasks").click()
    assert "Call Acme" in listed_options(second, "Tasks to delete")
    # and the memory.
    open_page(second, "Memory")
    expect(second.locator(MAIN).get_by_text("name", exact=True)).to_be_visible()
    expect(second.locator(MAIN).get_by_role("textbox", name="Value of name")).to_have_value(
        "Ann")
    expect_no_exception(second)
    second.close()
