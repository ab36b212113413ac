import pandas as pd
import streamlit as st

from components.buttons import pressed, submitted
from components.events import record
from components.llm import cloud_key_source, router
from components.quality import quality_settings
from components.session import admin_here, database, user_here
from components.shared_settings import read_only_settings
from components.tiers import tier_tile
from llm.prices import (
    PriceError,
    format_usd,
    load_prices,
    price_rows,
    save_prices,
    with_model_rows,
)
from llm.router import RouteError
from llm.settings import SettingsError, record_change, save, stored, tier_probe

db, routing = database(), router()
saved, current, who = stored(db), routing.settings, user_here()
st.title("Settings")

if not admin_here():  # everyone sees what is in force; only admins get the widgets
    read_only_settings(current)
else:
    st.subheader("Models")
    for tier in routing.tiers():
        chosen = current.models.get(tier) or routing.provider(tier).default_model()
        with st.container(border=True):
            health = tier_tile(tier)
            if tier == "cloud":
                source = cloud_key_source()
                st.caption(f"API key: configured ({source})." if source else
                           "API key: not configured — set OPENAI_API_KEY in the environment or "
                           "in .streamlit/secrets.toml.")
            options = list(dict.fromkeys([chosen, *health.models]))
            left, middle, right = st.columns([4, 1, 1], vertical_alignment="bottom")
            picked = left.selectbox(
                f"{tier.capitalize()} model", options, key=f"settings_{tier}",
                accept_new_options=True,
                help="Type the path of any GGUF file to run it in-process instead of SmolLM2."
                if tier == "embedded" else "Pick an installed model or type another name.")
            if pressed("Cycle", f"cycle_{tier}", where=middle, disabled=len(options) < 2,
                       help="Switch to the next installed model"):
                picked = options[(options.index(chosen) + 1) % len(options)]
            if picked and picked != chosen:
                save(db, by=who, before=current,
                 models={**saved.get("models", {}), tier: picked})
                record("form_submitted", f"Chose {picked} for the {tier} tier")
                st.rerun()
            if pressed("Test", f"test_{tier}", where=right, help="Send a tiny prompt to this tier"):
                try:
                    result = routing.complete(tier_probe(tier))
                except RouteError as exc:
                    st.error(str(exc))
                else:
                    usage = result.usage
                    st.success(f"{result.model} answered in {result.latency_s:.2f} s "
                               f"({usage.prompt_tokens}+{usage.completion_tokens} tokens, "
                               f"{format_usd(result.cost_usd)}): {result.text.strip()[:80]}")

    st.subheader("Privacy and spending")
    MODES = {"keep_local": "keep it on this machine",
             "redact": "replace them by placeholders, then the cloud may answer"}
    for key, value in {  # stable widget keys, seeded once from what is in force
        "policy_mode": current.privacy_mode,
        "policy_cloud": current.allow_cloud,
        "policy_daily": "" if current.budget.daily_usd is None else str(current.budget.daily_usd),
        "policy_session": "" if current.budget.session_usd is None
        else str(current.budget.session_usd),
        "policy_user": "" if current.budget.user_daily_usd is None
        else str(current.budget.user_daily_usd),
    }.items():
        st.session_state.setdefault(key, value)
    with st.form("settings_policy"):
        mode = st.radio("When a prompt contains personal data or secrets", list(MODES),
                        format_func=MODES.get, horizontal=True, key="policy_mode")
        allow_cloud = st.toggle("Allow the cloud tier at all", key="policy_cloud")
        left, middle, right = st.columns(3)
        daily = left.text_input("Team's daily cloud budget (USD, empty = no cap)",
                                key="policy_daily")
        per_user = middle.text_input("Daily cloud budget per person (USD, empty = no cap)",
                                     key="policy_user")
        session = right.text_input("Per-session cloud budget (USD, empty = no cap)",
                                   key="policy_session")
        if submitted("Save", "policy_save"):
            try:
                save(db, by=who, before=current, privacy_mode=mode, allow_cloud=allow_cloud,
                     daily_budget_usd=daily, session_budget_usd=session,
                     user_daily_budget_usd=per_user)
            except SettingsError as exc:
                st.error(str(exc))
            else:
                record("form_submitted", "Changed the privacy and spending settings")
                st.success("Saved.")

    quality_settings(db, current, who)

    st.subheader("Prices")
    table = load_prices()
    st.caption(f"USD per million tokens. Savings are priced against {table.reference_model}. "
               f"{table.note}")
    edited = st.data_editor(pd.DataFrame(price_rows(table)), num_rows="dynamic", hide_index=True,
                            key="settings_prices")
    reference = st.selectbox("Reference cloud model", list(table.models),
                             index=list(table.models).index(table.reference_model))
    if pressed("Save prices", "settings_save_prices"):
        try:
            candidate = with_model_rows(table, edited.to_dict("records"), reference)
            save_prices(candidate)
            if candidate.to_json() != table.to_json():
                record_change(db, who, "prices", table.to_json(), candidate.to_json())
        except PriceError as exc:
            st.error(f"The prices were not saved: {exc}")
            record("error_shown", str(exc))
        else:
            routing.prices = candidate
            record("form_submitted", "Edited the price table")
            st.success("Prices saved.")
