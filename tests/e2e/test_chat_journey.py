"""A new user's first minutes, in a real browser: chat, reload, switch page."""

from __future__ import annotations

import re
import warnings

import pytest
from playwright.sync_api import Download, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.browser

SIDEBAR = '[data-testid="stSidebar"]'
CHAT_INPUT = f'{SIDEBAR} [data-testid="stChatInputTextArea"]'
MESSAGES = f'{SIDEBAR} [data-testid="stChatMessage"]'


def confirmation(page: Page, index: int, text: str) -> Locator:
    """The confirmation of an action the assistant did (its ``st.success``) in message
    ``index``; never the model's own sentence about the action, which may use the same words
    ("Just added the task 'Call Acme' ..." beside "Added the task 'Call Acme' (priority 3).")."""
    return (page.locator(MESSAGES).nth(index)
            .locator('[data-testid="stAlertContentSuccess"]').filter(has_text=text))


def wait_until_idle(page: Page, timeout_ms: float = 60_000) -> None:
    """Wait until no script run is going on (Streamlit's own ``data-test-script-state``).
    A run still drawing can move what is below it (a chart taking its height) between
    Playwright's check that an element is still and its click, which then lands elsewhere."""
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"]')
                 ?.getAttribute('data-test-script-state') === 'notRunning'""",
        timeout=timeout_ms,
    )


def download(page: Page, button: Locator, clicks: int = 3) -> Download:
    """Click a download button once the page is idle and return the download; a click that
    starts no download within 20 s is made again (a download is the same file each time),
    at most ``clicks`` times, and a repeat is reported as a warning in the test summary.
    A CI run's one click on "Export the filtered ledger" started nothing for 30 s while the
    server sat idle: the click most likely landed where the button had been a moment before."""
    wait_until_idle(page)
    for click in range(1, clicks + 1):
        try:
            with page.expect_download(timeout=20_000) as started:
                button.click()
            if click > 1:
                warnings.warn(f"the download started on click {click} of {button}",
                              stacklevel=2)
            return started.value
        except PlaywrightTimeoutError:
            if click == clicks:
                raise
    raise AssertionError("unreachable")


def send(page: Page, text: str) -> None:
    page.locator(CHAT_INPUT).fill(text)
    page.locator(CHAT_INPUT).press("Enter")


def expect_no_exception(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_chat_reload_and_switch_page_keep_the_conversation(
    page: Page, app_server: AppServer
) -> None:
    page.goto(app_server.url)
    expect(page.get_by_role("heading", name="Ambient")).to_be_visible()
    expect(page.locator(CHAT_INPUT)).to_be_visible()

    send(page, "Hello there, what can you do?")
    expect(page.locator(MESSAGES).first).to_contain_text("Hello there, what can you do?")
    # "What can you do?" is answered from Ambient's data (facts first), not by the model.
    reply_tag = page.locator(MESSAGES).nth(1).get_by_text(re.compile("Answered from Ambient"))
    expect(reply_tag).to_be_visible(timeout=120_000)
    answer_text = page.locator(MESSAGES).nth(1).locator('[data-testid="stMarkdownContainer"]')
    answer = answer_text.first.inner_text()
    expect_no_exception(page)

    # The session id is in the URL, so a reload finds the same conversation.
    expect(page).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))
    url = page.url
    page.reload()
    expect(page.locator(MESSAGES)).to_have_count(2)
    expect(page.locator(MESSAGES).first).to_contain_text("Hello there, what can you do?")
    assert answer_text.first.inner_text() == answer
    assert page.url == url

    # Another page: the same chat, and the page sees what the user did.
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Activity").click()
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()
    expect(page.locator(MESSAGES)).to_have_count(2)
    expect(page.locator(MESSAGES).first).to_contain_text("Hello there, what can you do?")
    page.get_by_text("What the assistant receives").click()
    digest = page.locator('[data-testid="stExpander"]').filter(
        has_text="What the assistant receives")
    expect(digest).to_contain_text("page opened on Home: Opened the Home page")
    expect(digest).to_contain_text("page opened on Activity: Opened the Activity page")
    expect(page).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))
    expect_no_exception(page)

    # A reload on the second page keeps both the page and the conversation.
    page.reload()
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()
    expect(page.locator(MESSAGES)).to_have_count(2)
    assert "Error" not in app_server.log()


def test_the_copy_and_why_popover_draws_the_reply_when_opened(
    page: Page, app_server: AppServer
) -> None:
    """The popover under a reply is drawn only while open (components/chat.py): a click
    opens it on the reply's text to copy, and it stays open after the rerun that draws it."""
    page.goto(app_server.url)
    send(page, "What can you do?")
    reply = page.locator(MESSAGES).nth(1)
    expect(reply.get_by_text(re.compile("Answered from Ambient"))).to_be_visible(
        timeout=120_000)
    answer = reply.locator('[data-testid="stMarkdownContainer"]').first.inner_text()
    page.reload()  # the streamed reply has no popover yet; the history drawn next has it
    button = reply.get_by_text("Copy · why this model?")
    expect(button).to_be_visible(timeout=60_000)
    expect(page.locator(f'{SIDEBAR} [data-testid="stCode"]')).to_have_count(0)
    button.click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]')
    expect(code).to_be_visible(timeout=60_000)
    expect(code).to_contain_text(answer.strip().splitlines()[0])
    expect_no_exception(page)
