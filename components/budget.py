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
    columns = st.columns(3, border=True)
    for column, cap, left, when in (
        (columns[0], budget.daily_usd, ledger.left_today_usd(db, budget),
         "for the team today (resets 00:00 UTC)"),
        (columns[1], budget.user_daily_usd, ledger.left_for_user_usd(db, budget, user),
         "for you today"),
        (columns[2], budget.session_usd, ledger.left_in_session_usd(db, budget, sid),
         "in this session"),
    ):
        column.metric(f"Left {when}", "no cap" if left is None else format_usd(left),
                      help=None if cap is None else f"Cap: {format_usd(cap)}")
    st.caption("Admins change the caps on the Settings page. Only cloud calls count against "
               "them; you get a notice in the chat at 80 % and 100 % of yours and the team's.")
