"""The Costs page on a new user's first day, in a real browser: no calls, one free call,
then a day of calls. The charts keep readable axes (date ticks, a dollar axis from zero);
screenshots in test-artifacts/costs/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from llm.ledger import CallRecord, book
from store.db import open_database
from tests.e2e.conftest import ARTIFACTS, AppServer
from tests.e2e.test_chat_journey import expect_no_exception
from tests.e2e.test_workflows_journey import open_page

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "costs"
PLOTS = '[data-testid="stPlotlyChart"]'


def call(n: int, tier: str, cost: int, latency_ms: int) -> CallRecord:
    return CallRecord(
        request_id=f"r{n}", attempt=1, purpose="chat", tier=tier,
        provider="openai" if tier == "cloud" else "llama.cpp",
        model="gpt-4o-mini" if tier == "cloud" else "SmolLM2-135M-Instruct", status="ok",
        route_reason="chat starts on the embedded tier.", cost_nusd=cost,
        counterfactual_nusd=4_500_000, prompt_tokens=120, completion_tokens=40,
        latency_ms=latency_ms)


def ticks(page: Page, chart: int, axis: str) -> list[str]:
    texts = page.locator(PLOTS).nth(chart).locator(f"g.{axis}tick text")
    expect(texts.first).to_be_attached()
    return [t.strip() for t in texts.all_text_contents()]


def shoot(page: Page, name: str) -> None:
    """The page, and the two per-day charts (below the fold of the page's screenshot)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    charts = page.locator(PLOTS)
    for index, chart in enumerate(("spend", "savings")[: charts.count()]):
        charts.nth(index).scroll_into_view_if_needed()
        charts.nth(index).screenshot(path=str(SHOTS / f"{name}-{chart}-per-day.png"))


def readable_day_chart(page: Page, chart: int) -> None:
    x = ticks(page, chart, "x")
    assert x and all(re.fullmatch(r"\d\d [A-Z][a-z]{2}", t) for t in x), x  # "30 Nov"
    y = ticks(page, chart, "y")
    assert y[0] == "$0" and not any(t.startswith(("−", "-")) for t in y), y


def wide_bar(page: Page, chart: int) -> None:
    """A day's bar is drawn as a bar, not a hairline."""
    bar = page.locator(PLOTS).nth(chart).locator("g.point path").first
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
    readable_day_chart(page, 0)  # spend per day: $0, not a −1…1 axis
    readable_day_chart(page, 1)  # savings per day
    wide_bar(page, 1)
    latency = page.locator('[data-testid="stMetric"]').filter(has_text="Latency p50")
    expect(latency).to_contain_text("2.4 s")
    shoot(page, "one-call")

    for n, tier, cost, ms in ((2, "cloud", 1_500_000, 900), (3, "embedded", 0, 61_000)):
        book(db, call(n, tier, cost, ms))
    page.reload()
    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Calls").first
           ).to_contain_text("3")
    readable_day_chart(page, 0)
    readable_day_chart(page, 1)
    wide_bar(page, 0)
    wide_bar(page, 1)
    shoot(page, "one-day")
    db.dispose()
    expect_no_exception(page)
