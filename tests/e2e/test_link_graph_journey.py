"""The link graph in a real browser: upload the sample, see it drawn, read the scan."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.linkgraph import SAMPLE_EDGES, SAMPLE_METADATA
from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import CHAT_INPUT, MESSAGES, SIDEBAR, expect_no_exception
from tests.e2e.test_workflows_journey import open_page

pytestmark = pytest.mark.browser


def test_upload_the_sample_draw_it_and_read_the_scan(page: Page, app_server: AppServer) -> None:
    page.goto(app_server.url)
    open_page(page, "Link graph")
    uploads = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploads.nth(0).set_input_files(str(SAMPLE_EDGES))
    uploads.nth(1).set_input_files(str(SAMPLE_METADATA))
    page.get_by_role("button", name="Measure").click()

    expect(page.get_by_text("1. Upload the edge list and metadata · done")).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_text("Pages", exact=True).first).to_be_visible()
    page.get_by_text("3. Drawing").click()
    plots = page.locator('[data-testid="stPlotlyChart"]')
    expect(plots.last).to_be_visible(timeout=30_000)
    expect(plots.last.locator(".main-svg").first).to_be_attached()

    page.get_by_text("4. Read the scan").click()
    page.get_by_role("button", name=re.compile("Read the scan")).click()
    expect(page.get_by_text("4. Read the scan · done")).to_be_visible(timeout=180_000)
    scanned = page.locator(SIDEBAR).get_by_text(re.compile("Link graph scanned: 300 pages"))
    expect(scanned).to_be_visible(timeout=30_000)
    # The page switch above came as the first run was drawing: the expert stays the default.
    expect(page.get_by_role("combobox", name="Expert")).to_have_value("General assistant")
    expect_no_exception(page)


# Click "Measure", then send a chat message `delay` ms later, in the browser itself.
CLICK_THEN_SEND = """([input, delay]) => {
    const measure = [...document.querySelectorAll('button')]
        .find(b => b.innerText.trim() === 'Measure');
    const enter = new KeyboardEvent('keydown', {key: 'Enter', code: 'Enter', keyCode: 13,
                                                which: 13, bubbles: true});
    measure.click();
    setTimeout(() => document.querySelector(input).dispatchEvent(enter), delay);
}"""


def test_a_click_followed_at_once_by_a_chat_message_loses_neither(
    page: Page, app_server: AppServer
) -> None:
    """The message's run interrupts the click's run. When the page read the button's value,
    an interruption before the button was drawn lost the click (seen at 10 ms)."""
    page.goto(app_server.url)
    expect(page.locator(CHAT_INPUT)).to_be_visible()
    open_page(page, "Link graph")
    lost = []
    for n, delay in enumerate((10, 25, 50, 80, 120, 200)):
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            str(SAMPLE_EDGES))
        expect(page.get_by_role("button", name="Measure")).to_be_visible(timeout=30_000)
        page.locator(CHAT_INPUT).fill(f"Message {n}")
        page.evaluate(CLICK_THEN_SEND, [CHAT_INPUT, delay])
        expect(page.locator(MESSAGES).nth(2 * n)).to_contain_text(f"Message {n}", timeout=60_000)
        done = page.get_by_text("1. Upload the edge list and metadata · done")
        try:
            expect(done).to_be_visible(timeout=20_000)
        except AssertionError:
            lost.append(delay)
            continue
        finally:  # the reply has arrived in full
            expect(page.locator(MESSAGES)).to_have_count(2 * n + 2, timeout=120_000)
            expect(page.locator(SIDEBAR).get_by_role("button", name=re.compile("Stop"))
                   ).to_have_count(0, timeout=120_000)
        other = page.get_by_role("button", name="Use other files")
        if not other.is_visible():
            done.click()
        other.click()
        expect(page.get_by_role("button", name="Try the sample site")).to_be_visible()
    assert not lost, f"the click was lost when the message came {lost} ms after it"
    expect_no_exception(page)
