from datetime import datetime, time, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.auth import sign_in_required
from components.budget import show_budget
from components.buttons import downloaded, pressed
from components.cost_charts import (
    frame,
    latency,
    route_reasons,
    sparkline,
    spend_and_savings,
    stacked_by_tier,
)
from components.events import record
from components.llm import router
from components.quality import quality_section
from components.session import admin_here, database, session_id, user_here
from core.exports import to_csv
from llm import reports
from llm.prices import format_usd
from llm.reports import CSV_ROW_CAP, LEDGER_COLUMNS, Filters
from store.db import Database, utcnow

TABLE_ROWS = 500
BREAKDOWNS = ("model", "page", "purpose", "user")
PICKED = ("tier", "model", "page", "status")


@st.cache_data(show_spinner="Adding up the ledger…", max_entries=32)
def aggregates(_db: Database, url: str, version: tuple[int, int], filters: Filters) -> dict:
    """Everything the tiles, charts and table show: SQL aggregates and one page of rows.
    ``version`` changes with every booked call, so the cache never hides a new one."""
    return {
        "totals": reports.totals(_db, filters),
        "shares": reports.tier_shares(_db, filters),
        "latency": reports.latency_percentiles(_db, filters, (0.5, 0.95)),
        "escalation": reports.escalation_rate(_db, filters),
        "days": reports.over_time(_db, filters),
        "reasons": reports.route_reasons(_db, filters, limit=10),
        "table": reports.ledger_page(_db, filters, limit=TABLE_ROWS),
    } | {by: reports.breakdown(_db, by, filters) for by in BREAKDOWNS}


@st.cache_resource(show_spinner=False, max_entries=32)
def figures(url: str, version: tuple[int, int], filters: Filters,
            _found: dict) -> dict[str, go.Figure]:
    """The page's Plotly figures, built once per ledger version and filters like
    ``aggregates`` (whose result ``_found`` is): building and validating them took most of
    the page's script time. Shared, not copied: ``st.plotly_chart`` only reads a figure."""
    days = frame(_found["days"])
    return {
        "spend": stacked_by_tier(days, "cost_usd", "Spend per day (USD)"),
        "savings": stacked_by_tier(days, "savings_usd", "Savings per day (USD)"),
        "reasons": route_reasons(frame(_found["reasons"])),
    } | {by: spend_and_savings(frame(_found[by]), by) for by in BREAKDOWNS}


@st.cache_data(show_spinner=False, max_entries=8)
def pickers(_db: Database, url: str, version: tuple[int, int]) -> dict[str, list[str]]:
    return {c: reports.distinct_values(_db, c) for c in (*PICKED, "user")}


db, sid, me, admin = database(), session_id(), user_here(), admin_here()
by_person = admin and sign_in_required()  # a personal install has one person: no picker
st.title("Costs")
st.caption("Every LLM attempt with what it cost, and what the same tokens would have cost "
           "on the reference cloud model. Savings = all-cloud cost − spend. "
           + ("As an admin you see everyone's calls; pick a person to see theirs."
              if by_person else "" if admin else "These are your own calls."))

version = reports.ledger_version(db)
choices = pickers(db, db.url, version)
if not choices["tier"] or not (admin or me in choices["user"]):
    st.info("No LLM calls yet — chat in the sidebar or run a workflow, and each attempt shows "
            "up here with its cost, its tier and what the cloud would have charged.")
    show_budget(db, sid, me)
else:

    today = utcnow().date()
    shown = (*PICKED, "user") if by_person else PICKED
    dates_col, *pick_cols = st.columns([2] + [1] * len(shown))
    dates = dates_col.date_input("Dates (UTC)", (today - timedelta(days=29), today),
                                 max_value=today, key="costs_dates")
    first, last = (dates[0], dates[-1]) if dates else (today, today)
    picked = {
        column: col.selectbox("Person" if column == "user" else column.capitalize(),
                              [None, *choices[column]], key=f"costs_{column}",
                              format_func=lambda v: "All" if v is None else v)
        for col, column in zip(pick_cols, shown, strict=True)
    }
    if not admin:
        picked["user"] = me
    request = st.query_params.get("request")  # "open its rows" from a chat reply
    if request:
        st.info("Showing the attempts behind one chat reply.", icon=":material/receipt_long:")
        if every := pressed("Show every call", "costs_all_requests"):
            with every.redo_if_cut_short():
                del st.query_params["request"]
            st.rerun()
    filters = Filters(since=datetime.combine(first, time()),
                      until=datetime.combine(last + timedelta(days=1), time()),
                      request_id=request or None, **picked)
    found = aggregates(db, db.url, version, filters)
    sums = found["totals"]

    if not sums.calls:
        st.info("No calls match these filters. Widen the dates or set a filter back to All.")
    else:
        cloud = next((r for r in found["shares"] if r["tier"] == "cloud"),
                     {"call_share": 0.0, "token_share": 0.0})
        p50, p95 = found["latency"][0.5], found["latency"][0.95]
        rate = found["escalation"]
        days = frame(found["days"])
        daily = days.groupby("day")[["cost_usd", "savings_usd"]].sum()
        row = st.columns(5, border=True)
        row[0].metric("Spend", format_usd(sums.cost_usd), chart_data=sparkline(daily["cost_usd"]),
                      chart_type="bar")
        row[1].metric("All-cloud cost", format_usd(sums.counterfactual_usd),
                      help="The same tokens priced on the reference cloud model.")
        row[2].metric("Savings", format_usd(sums.savings_usd),
                      chart_data=sparkline(daily["savings_usd"]), chart_type="bar")
        row[3].metric("Saved", "–" if sums.savings_share is None else f"{sums.savings_share:.1%}",
                      help="Savings as a share of the all-cloud cost.")
        row[4].metric("Calls", f"{sums.calls:,}",
                      help="Attempts, including failed and refused ones.")
        row = st.columns(5, border=True)
        row[0].metric("Cloud share of calls", f"{cloud['call_share']:.1%}")
        row[1].metric("Cloud share of tokens", f"{cloud['token_share']:.1%}")
        row[2].metric("Latency p50", latency(p50))
        row[3].metric("Latency p95", latency(p95))
        row[4].metric("Escalation rate", "–" if rate is None else f"{rate:.1%}",
                      help="Escalated attempts per request: answers that failed validation and "
                           "were repaired or sent to a stronger tier.")

        charts = figures(db.url, version, filters, found)
        parts = BREAKDOWNS if by_person else BREAKDOWNS[:-1]
        views = {"Spend per day": "spend", "Savings per day": "savings",
                 **{f"By {'person' if by == 'user' else by}": by for by in parts},
                 "Route reasons": "reasons"}
        # One chart at a time: only the open tab's chart is drawn (another on a click, which
        # reruns). Each Plotly chart cost the browser about 0.2 s on every visit, and the
        # page drew five (bench/RESULTS.md, "pages").
        for tab, name in zip(st.tabs(list(views), key="costs_chart", on_change="rerun"),
                             views.values(), strict=True):
            if tab.open:
                tab.plotly_chart(charts[name])

        st.subheader("Ledger")
        table = frame(found["table"])
        st.dataframe(table, hide_index=True, column_config={
            column: (st.column_config.NumberColumn(label, format="$%.8f")
                     if column.endswith("_usd") else label)
            for column, label in LEDGER_COLUMNS.items()
        })
        st.caption(f"Showing the newest {len(table):,} of {sums.calls:,} calls that match the "
                   "filters.")
        if export := downloaded(
            "Export the filtered ledger as CSV",
            lambda: to_csv(pd.DataFrame(reports.ledger_csv_rows(db, filters),
                                        columns=list(LEDGER_COLUMNS)), LEDGER_COLUMNS),
            "costs_export", file_name=f"ambient-ledger-{first}-{last}.csv", mime="text/csv",
            icon=":material/download:",
            help=f"Up to the newest {CSV_ROW_CAP:,} calls that match the filters.",
        ):
            with export.redo_if_cut_short():  # record() reads session state before it writes
                record("form_submitted",
                       f"Exported {min(sums.calls, CSV_ROW_CAP):,} ledger rows as CSV")
        quality_section(db, filters, router().settings.quality_target, version)

    show_budget(db, sid, me)
