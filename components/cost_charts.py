"""The Costs page's charts and figures, readable whatever the ledger holds: one day, one
call, no spend at all, or months of calls.

Plotly picks its own axes from the data, which fails a dashboard on the first day: a
single day's bar is drawn a millisecond wide under x-ticks of "23:59:59.9996", a spend
of $0 everywhere gets a −1…1 y-axis, a sparkline of one point two vertical lines. These
figures fix their axes to days and dollars, give a day's bar a day's width, start money
at zero, and leave out what one point cannot show.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

TIER_COLOURS = {"embedded": "#2a9d8f", "local": "#e9c46a", "cloud": "#e76f51"}
DAY_MS = 86_400_000
BAR_WIDTH_MS = int(DAY_MS * 0.8)  # set: Plotly sizes a lone bar on a date axis to ~0
DAILY_TICKS_UP_TO = 14  # days: a tick a day; beyond, Plotly spaces the date ticks itself


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame for a chart or the table: Decimal money becomes float."""
    data = pd.DataFrame(rows)
    for column in data.columns:
        if column.endswith("_usd"):
            data[column] = data[column].astype(float)
    return data


def _money_axis(values: pd.Series) -> dict[str, Any]:
    """A dollar axis from zero (negative savings go below it); never the −1…1 of an
    all-zero series."""
    top = float(values.clip(lower=0).max()) if len(values) else 0.0
    bottom = float(values.clip(upper=0).min()) if len(values) else 0.0
    axis: dict[str, Any] = {"tickprefix": "$", "rangemode": "tozero", "tickformat": ",.4~f",
                            "title": "USD"}
    if top == 0 and bottom == 0:
        axis["range"] = [0, 0.01]
    return axis


def _day_axis(days: pd.Series) -> dict[str, Any]:
    """A date axis in whole days ("30 Nov"), half a day of room on each side, so one day
    is one bar under one readable tick."""
    first, last = pd.Timestamp(days.min()), pd.Timestamp(days.max())
    axis: dict[str, Any] = {
        "type": "date", "tickformat": "%d %b",
        "range": [first - timedelta(hours=12), last + timedelta(hours=12)],
    }
    if (last - first).days < DAILY_TICKS_UP_TO:
        axis.update(dtick=DAY_MS, tick0=first)
    return axis


def stacked_by_tier(days: pd.DataFrame, value: str, title: str) -> go.Figure:
    """One bar per day, stacked by tier."""
    figure = go.Figure(
        [go.Bar(x=part["day"], y=part[value], name=tier, marker_color=TIER_COLOURS.get(tier),
                width=BAR_WIDTH_MS,
                hovertemplate="%{x|%d %b %Y}: $%{y:.4f}<extra>" + str(tier) + "</extra>")
         for tier, part in days.groupby("tier", sort=False)],
        layout={"title": title, "barmode": "relative", "legend_title": "Tier"},
    )
    by_day = days.groupby("day")[value].sum()
    figure.update_layout(xaxis=_day_axis(days["day"]), yaxis=_money_axis(by_day))
    return figure


def spend_and_savings(parts: pd.DataFrame, by: str) -> go.Figure:
    figure = go.Figure(
        [go.Bar(x=parts[value], y=parts[by], name=name, orientation="h",
                customdata=parts["calls"],
                hovertemplate="%{y}: $%{x:.4f} (%{customdata:,} calls)<extra></extra>")
         for value, name in (("cost_usd", "Spend"), ("savings_usd", "Savings"))],
        layout={"title": f"Spend and savings by {by} (USD)", "barmode": "group"},
    )
    figure.update_layout(xaxis=_money_axis(pd.concat([parts["cost_usd"],
                                                      parts["savings_usd"]])),
                         yaxis={"automargin": True})
    return figure


def route_reasons(reasons: pd.DataFrame) -> go.Figure:
    return go.Figure(
        go.Bar(x=reasons["calls"], y=reasons["reason"], orientation="h",
               customdata=reasons["cost_usd"],
               hovertemplate="%{y}<br>%{x:,} calls, $%{customdata:.4f}<extra></extra>"),
        layout={"title": "Most common route reasons (calls)", "height": 120 + 32 * len(reasons),
                "yaxis": {"autorange": "reversed", "automargin": True},
                "xaxis": {"rangemode": "tozero", "tickformat": ",d", "title": "calls"},
                "margin": {"l": 0}},
    )


def sparkline(values: pd.Series) -> list[float] | None:
    """A tile's sparkline, or None when there is not a line to draw (fewer than two days)."""
    return values.tolist() if len(values) >= 2 else None


def latency(ms: int | None) -> str:
    """A latency short enough for a tile: "850 ms", "12.3 s", "3 min 05 s"."""
    if ms is None:
        return "–"
    if ms < 1_000:
        return f"{ms:,} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes:,} min {seconds:02d} s"
