"""The Costs page through AppTest, on an empty ledger and on one of 100,000 calls: the tiles
agree with the SQL totals, a filter changes them, and no query hands the page more than a
page of rows (so nothing loads the ledger into pandas to draw a chart)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import CursorResult
from streamlit.testing.v1 import AppTest

from components.cost_charts import latency as shown_latency
from llm import reports
from llm.reports import Filters
from standins.ledger_seed import seed_ledger
from store.db import get_database, open_database, utcnow
from store.models import LLMCallRow
from tests.conftest import ROOT

ROWS = 100_000
MOST_ROWS_A_RUN_MAY_FETCH = 1_000  # the table's 500 rows and a few dozen aggregate rows


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "costs.py"), default_timeout=120)
    at.run()
    assert not at.exception
    return at


def tile(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def assert_money(shown: str, amount: Decimal) -> None:
    """``shown`` ("$1,234.56", "-$0.0123") is ``amount`` rounded to the digits it shows."""
    match = re.fullmatch(r"(-?)\$([\d,]+\.(\d+))", shown)
    assert match, shown
    value = Decimal(match[1] + match[2].replace(",", ""))
    assert abs(value - amount) <= Decimal(1).scaleb(-len(match[3])) / 2, (shown, amount)


def default_filters(**picked: Any) -> Filters:
    """What the page filters on before anyone touches it: the last 30 UTC days."""
    today = utcnow().date()
    return Filters(since=datetime.combine(today - timedelta(days=29), time()),
                   until=datetime.combine(today + timedelta(days=1), time()), **picked)


class _RowsFetched:
    """Counts every row any SQLAlchemy result hands out (ORM, Core or pandas.read_sql)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        for name in ("_fetchone_impl", "_fetchmany_impl", "_fetchall_impl", "_fetchiter_impl"):
            monkeypatch.setattr(CursorResult, name, self._counting(getattr(CursorResult, name)))

    def _counting(self, fetch: Any) -> Any:
        def counted(result: CursorResult, *args: Any, **kwargs: Any) -> Any:
            found = fetch(result, *args, **kwargs)
            if isinstance(found, list):
                self.rows += len(found)
            elif found is not None and not hasattr(found, "__next__"):
                self.rows += 1
            elif found is not None:
                return self._each(found)
            return found

        return counted

    def _each(self, rows: Iterator[Any]) -> Iterator[Any]:
        for row in rows:
            self.rows += 1
            yield row


def test_an_empty_ledger_says_what_to_do(app_env: str) -> None:
    at = page()
    assert any("No LLM calls yet" in i.value for i in at.info)
    assert tile(at, "Left today (resets 00:00 UTC)") == "$1.00"
    assert not at.get("plotly_chart")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ledger of 100,000 calls over 30 days for the tests below (they only read it)."""
    path = tmp_path_factory.mktemp("costs") / "ledger.db"
    database = open_database(f"sqlite:///{path}")
    assert seed_ledger(database, rows=ROWS, days=30) == ROWS
    database.dispose()
    return path


@pytest.mark.slow
class TestAHundredThousandCalls:
    @pytest.fixture
    def db_url(self, seeded: Path) -> str:  # app_env points the page at this database
        return f"sqlite:///{seeded}"

    def test_the_tiles_show_the_sql_totals(self, app_env: str) -> None:
        at = page()
        db = get_database()
        sums = reports.totals(db, default_filters())
        assert 0.9 * ROWS < sums.calls < ROWS  # the window is most, not all, of the ledger
        assert tile(at, "Calls") == f"{sums.calls:,}"
        assert_money(tile(at, "Spend"), sums.cost_usd)
        assert_money(tile(at, "All-cloud cost"), sums.counterfactual_usd)
        assert_money(tile(at, "Savings"), sums.savings_usd)
        assert tile(at, "Saved") == f"{sums.savings_share:.1%}"
        cloud = next(s for s in reports.tier_shares(db, default_filters()) if s["tier"] == "cloud")
        assert tile(at, "Cloud share of calls") == f"{cloud['call_share']:.1%}"
        assert tile(at, "Cloud share of tokens") == f"{cloud['token_share']:.1%}"
        latency = reports.latency_percentiles(db, default_filters())
        # In a tile's width: "850 ms", "1.1 s" (test_cost_charts.py pins the format).
        assert tile(at, "Latency p50") == shown_latency(latency[0.5])
        assert tile(at, "Latency p95") == shown_latency(latency[0.95])
        rate = reports.escalation_rate(db, default_filters())
        assert rate and tile(at, "Escalation rate") == f"{rate:.1%}"
        # one chart at a time: the open tab's (spend per day); the others, and the quality
        # curve, are drawn when opened
        assert len(at.get("plotly_chart")) == 1
        assert any(f"newest 500 of {sums.calls:,} calls" in c.value for c in at.caption)
        assert at.get("download_button")[0].proto.label == "Export the filtered ledger as CSV"

    def test_a_filter_changes_the_numbers(self, app_env: str) -> None:
        at = page()
        db = get_database()
        everything = tile(at, "Calls")
        at.selectbox(key="costs_tier").select("cloud").run()
        assert not at.exception
        cloud = reports.totals(db, default_filters(tier="cloud"))
        assert tile(at, "Calls") == f"{cloud.calls:,}" != everything
        assert_money(tile(at, "Spend"), cloud.cost_usd)
        assert tile(at, "Cloud share of calls") == "100.0%"
        at.selectbox(key="costs_status").select("blocked").run()
        refused = reports.totals(db, default_filters(tier="cloud", status="blocked"))
        assert tile(at, "Calls") == f"{refused.calls:,}" and 0 < refused.calls < cloud.calls
        assert tile(at, "Spend") == "$0.00"

        at.selectbox(key="costs_tier").select(None)
        at.selectbox(key="costs_status").select(None)
        week = utcnow().date() - timedelta(days=13), utcnow().date() - timedelta(days=7)
        at.date_input(key="costs_dates").set_value(week).run()
        in_week = reports.totals(db, Filters(since=datetime.combine(week[0], time()),
                                            until=datetime.combine(week[1], time()) +
                                            timedelta(days=1)))
        assert tile(at, "Calls") == f"{in_week.calls:,}"
        assert 0 < in_week.calls < ROWS / 3

        at.date_input(key="costs_dates").set_value((date(2020, 1, 1), date(2020, 1, 2))).run()
        assert any("No calls match these filters" in i.value for i in at.info)
        assert [m.label for m in at.metric] == ["Left today (resets 00:00 UTC)",
                                                "Left in this session"]

    def test_the_aggregation_stays_in_sql(
        self, app_env: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        db = get_database()
        fetched = _RowsFetched(monkeypatch)
        with db.read() as s:  # the probe sees a full load: every id of the ledger
            assert len(s.scalars(select(LLMCallRow.id)).all()) == ROWS
        assert fetched.rows == ROWS
        fetched.rows = 0
        at = page()  # a cold run: the caches were cleared for this test
        assert tile(at, "Calls")
        assert 0 < fetched.rows <= MOST_ROWS_A_RUN_MAY_FETCH, fetched.rows


def test_a_reply_opens_its_own_rows_in_the_ledger(app_env: str) -> None:
    from llm.ledger import CallRecord, book
    from store.db import get_database

    db = get_database()
    for request, attempts in (("reply-a", 2), ("reply-b", 1)):
        for attempt in range(1, attempts + 1):
            book(db, CallRecord(request_id=request, attempt=attempt, purpose="chat",
                                tier="embedded", provider="llama.cpp",
                                model="SmolLM2-135M-Instruct", status="ok", route_reason="x"))
    at = AppTest.from_file(str(ROOT / "pages" / "costs.py"), default_timeout=60)
    at.query_params["request"] = "reply-a"
    at.run()
    assert not at.exception
    calls = next(m for m in at.metric if m.label == "Calls")
    assert calls.value == "2"
    assert any("behind one chat reply" in i.value for i in at.info)


def _chart_titles(at: AppTest) -> list[str]:
    import json

    return [json.loads(chart.proto.spec)["layout"]["title"]["text"]
            for chart in at.get("plotly_chart")]


def test_the_charts_are_tabs_and_only_the_open_one_is_drawn(app_env: str) -> None:
    """One chart at a time (each Plotly chart costs the browser on every visit): spend per
    day at first; opening another tab draws its chart instead."""
    seed_ledger(get_database(), rows=300, days=5, seed=1)
    at = page()
    assert _chart_titles(at) == ["Spend per day (USD)"]
    for tab, title in (("Savings per day", "Savings per day (USD)"),
                       ("By page", "Spend and savings by page (USD)"),
                       ("Route reasons", "Most common route reasons (calls)")):
        at.session_state["costs_chart"] = tab  # what a click on the tab sets
        at.run()
        assert not at.exception
        assert _chart_titles(at) == [title]
