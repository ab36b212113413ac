"""Shared settings as everyone but an admin sees them: what is in force, with no widget
to change it (budgets, privacy, the cloud switch, models, the quality target, prices)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llm.prices import format_usd, load_prices, price_rows
from llm.router import RouterSettings

ADMINS_ONLY = ("Only admins change these settings, for everyone; you see them as they are. "
               "Ask an admin (AMBIENT_ADMINS) when one should change.")


def _cap(amount: object) -> str:
    return "no cap" if amount is None else format_usd(amount)  # type: ignore[arg-type]


def read_only_settings(current: RouterSettings) -> None:
    st.info(ADMINS_ONLY, icon=":material/lock:")
    budget = current.budget
    st.subheader("Privacy and spending")
    st.table(pd.DataFrame([
        {"setting": "Personal data or secrets in a prompt",
         "in force": "kept on this machine" if current.privacy_mode == "keep_local"
         else "replaced by placeholders, then the cloud may answer"},
        {"setting": "Cloud tier", "in force": "allowed" if current.allow_cloud else "off"},
        {"setting": "Team's daily cloud budget", "in force": _cap(budget.daily_usd)},
        {"setting": "Daily cloud budget per person", "in force": _cap(budget.user_daily_usd)},
        {"setting": "Per-session cloud budget", "in force": _cap(budget.session_usd)},
        {"setting": "Quality target", "in force": f"{current.quality_target:.0%}"},
        *({"setting": f"{tier.capitalize()} model", "in force": model}
          for tier, model in sorted(current.models.items())),
    ]).set_index("setting"))
    st.subheader("Prices")
    table = load_prices()
    st.caption(f"USD per million tokens. Savings are priced against {table.reference_model}.")
    st.table(pd.DataFrame(price_rows(table)).set_index("model"))
