"""The Costs page on a new user's first day, in a real browser: no calls, one free call,
then a day of calls. The charts keep readable axes (date ticks, a dollar axis from zero);
screenshots in test-artifacts/costs/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from llm.ledger import CallRecord, book
from store.db import open_database
from tests.e2e.conftest import ARTIFACTS, AppServer
from tests.e2e.test_chat_journey import expect_no_exception
from tests.e2e.test_workflows_journey import open_page

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "costs"
PLOTS = '[data-testid="stPlotlyChart"]'
SPEND, SAVINGS = "Spend per day (USD)", "Savings per day (USD)"


def call(n: int, tier: str, cost: int, latency_ms: int) -> CallRecord:
    return CallRecord(
        request_id=f"r{n}", attempt=1, purpose="chat", tier=tier,
        provider="openai" if tier == "cloud" else "llama.cpp",
        model="gpt-4o-mini" if tier == "cloud" else "SmolLM2-135M-Instruct", status="ok",
        route_reason="chat starts on the embedded tier.", cost_nusd=cost,
        counterfactual_nusd=4_500_000, prompt_tokens=120, completion_tokens=40,
        latency_ms=latency_ms)


def chart(page: Page, title: str) -> Locator:
    """The chart titled ``title``, by its title: charts may mount out of page order."""
    return page.locator(PLOTS).filter(has_text=title)


def ticks(page: Page, title: str, axis: str) -> list[str]:
    texts = chart(page, title).locator(f"g.{axis}tick text")
    expect(texts.first).to_be_attached()
    return [t.strip() for t in texts.all_text_contents()]


def show(page: Page, title: str) -> None:
    """Open the chart's tab: one chart is drawn at a time, the open tab's, and opening
    another reruns the page to draw it."""
    tab = title.removesuffix(" (USD)")
    page.get_by_role("tab", name=tab).click()
    expect(chart(page, title)).to_be_visible(timeout=30_000)


def shoot(page: Page, name: str) -> None:
    """The page, and the per-day chart on show (below the fold of the page's screenshot)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    for name_, title in (("spend", SPEND), ("savings", SAVINGS)):
        found = chart(page, title)
        if found.count():
            found.scroll_into_view_if_needed()
            found.screenshot(path=str(SHOTS / f"{name}-{name_}-per-day.png"))


def readable_day_chart(page: Page, title: str) -> None:
    x = ticks(page, title, "x")
    assert x and all(re.fullmatch(r"\d\d [A-Z][a-z]{2}", t) for t in x), x  # "30 Nov"
    y = ticks(page, title, "y")
    assert y[0] == "$0" and not any(t.startswith(("−", "-")) for t in y), y


def wide_bar(page: Page, title: str) -> None:
    """A day's bar is drawn as a bar, not a hairline."""
    bar = chart(page, title).locator("g.point path").first
    expect(bar).to_be_attached()
    box = bar.bounding_box()
    assert box is not None and box["width"] > 20, box


def test_costs_reads_well_with_no_calls_one_call_and_one_day(
        page: Page, app_server: AppServer) -> None:
    page.goto(app_server.url)
    open_page(page, "Costs")
    expect(page.get_by_text("No LLM calls yet")).to_be_visible()
    shoot(page, "no-calls")

    db = open_database(app_server.database_url)
    book(db, call(1, "embedded", 0, 2_400))  # a new user's first reply: free, on one day
    page.reload()
    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.locator(PLOTS).first).to_be_visible()
    readable_day_chart(page, SPEND)  # spend per day: $0, not a −1…1 axis
    shoot(page, "one-call")
    show(page, SAVINGS)
    readable_day_chart(page, SAVINGS)  # savings per day
    wide_bar(page, SAVINGS)
    latency = page.locator('[data-testid="stMetric"]').filter(has_text="Latency p50")
    expect(latency).to_contain_text("2.4 s")
    shoot(page, "one-call-savings")

    for n, tier, cost, ms in ((2, "cloud", 1_500_000, 900), (3, "embedded", 0, 61_000)):
        book(db, call(n, tier, cost, ms))
    page.reload()
    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Calls").first
           ).to_contain_text("3")
    show(page, SPEND)
    readable_day_chart(page, SPEND)
    wide_bar(page, SPEND)
    shoot(page, "one-day")
    show(page, SAVINGS)
    readable_day_chart(page, SAVINGS)
    wide_bar(page, SAVINGS)
    shoot(page, "one-day-savings")
    db.dispose()
    expect_no_exception(page)
