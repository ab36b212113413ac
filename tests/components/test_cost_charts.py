"""The Costs charts stay readable on a new user's first day: one day, one call, no spend."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from components.cost_charts import (
    DAY_MS,
    frame,
    latency,
    sparkline,
    spend_and_savings,
    stacked_by_tier,
)

TODAY = date(2026, 11, 30)


def days(*rows: tuple[date, str, float, float]) -> pd.DataFrame:
    return frame([{"day": d, "tier": t, "cost_usd": c, "savings_usd": s}
                  for d, t, c, s in rows])


def test_one_day_is_one_bar_under_one_date_tick() -> None:
    figure = stacked_by_tier(days((TODAY, "cloud", 0.0015, 0.0)), "cost_usd", "Spend")
    axis = figure.layout.xaxis
    assert axis.type == "date" and axis.tickformat == "%d %b" and axis.dtick == DAY_MS
    start, end = (pd.Timestamp(x) for x in axis.range)
    assert end - start == pd.Timedelta(days=1)  # half a day either side, not a millisecond
    assert figure.data[0].width == 0.8 * DAY_MS  # the bar is most of its day wide
    assert figure.layout.yaxis.tickprefix == "$"


def test_no_spend_at_all_draws_a_zero_dollar_axis_not_minus_one_to_one() -> None:
    free = days((TODAY, "embedded", 0.0, 0.0004))
    spend = stacked_by_tier(free, "cost_usd", "Spend per day")
    assert tuple(spend.layout.yaxis.range) == (0, 0.01)
    savings = stacked_by_tier(free, "savings_usd", "Savings per day")
    assert savings.layout.yaxis.range is None and savings.layout.yaxis.rangemode == "tozero"


def test_a_month_leaves_the_tick_spacing_to_plotly() -> None:
    month = days(*[(TODAY - timedelta(days=n), "local", 0.0, 0.001) for n in range(30)])
    axis = stacked_by_tier(month, "savings_usd", "Savings").layout.xaxis
    assert axis.dtick is None and axis.tickformat == "%d %b"


def test_breakdowns_count_money_from_zero() -> None:
    parts = frame([{"model": "SmolLM2", "cost_usd": 0.0, "savings_usd": 0.0, "calls": 1}])
    axis = spend_and_savings(parts, "model").layout.xaxis
    assert tuple(axis.range) == (0, 0.01) and axis.tickprefix == "$"


def test_a_sparkline_needs_two_days_and_latency_fits_a_tile() -> None:
    assert sparkline(pd.Series([0.1])) is None
    assert sparkline(pd.Series([0.1, 0.2])) == [0.1, 0.2]
    assert [latency(v) for v in (None, 850, 12_345, 185_000)] == [
        "–", "850 ms", "12.3 s", "3 min 05 s"]
