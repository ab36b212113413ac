"""What is left of the cloud budgets: the team's today, yours today, this session's."""

from __future__ import annotations

import streamlit as st

from components.llm import router
from llm import ledger
from llm.prices import format_usd
from store.db import Database


def show_budget(db: Database, sid: str, user: str) -> None:
    budget = router().settings.budget
    st.subheader("Cloud budget")
    shown = [(budget.daily_usd, ledger.left_today_usd(db, budget),
              "today (resets 00:00 UTC)")]
    if budget.user_daily_usd is not None:  # a cap per person beside the team's
        shown.append((budget.user_daily_usd, ledger.left_for_user_usd(db, budget, user),
                      "for you today"))
    shown.append((budget.session_usd, ledger.left_in_session_usd(db, budget, sid),
                  "in this session"))
    for column, (cap, left, when) in zip(st.columns(len(shown), border=True), shown,
                                         strict=True):
        column.metric(f"Left {when}", "no cap" if left is None else format_usd(left),
                      help=None if cap is None else f"Cap: {format_usd(cap)}")
    st.caption("Change the caps on the Settings page (admins only, with sign-in on). Only "
               "cloud calls count against them; at 80 % and 100 % of a daily cap the chat "
               "says so.")
