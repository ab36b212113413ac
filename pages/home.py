import streamlit as st

from components.auth import sign_in_required
from components.chat import after_reply
from components.navigation import workflow_pages
from components.profile import accent_bar, known_facts
from components.session import database, session_id, user_here
from components.tiers import render_tier_status
from core.events import recent_events
from llm.ledger import day_start
from llm.prices import format_usd
from llm.reports import Filters, totals
from store.db import utcnow

db = database()
you = known_facts()
st.title(f"Welcome back, {you['name']}" if "name" in you else "Ambient")
accent_bar(you.get("favourite_colour"))
st.markdown(
    "A local-first AI workflow dashboard. Each workflow is a page of steps that reads top "
    "to bottom like a notebook; the assistant in the sidebar sees what you do and answers "
    "on the cheapest model able to do the job, keeping private data on this machine."
)

st.subheader("Models")
render_tier_status()

st.subheader("Today")
today_box = st.empty()


def draw_today() -> None:
    # With sign-in each person sees their own spend (admins see everyone's on Costs).
    today = totals(db, Filters(since=day_start(utcnow()),
                               user=user_here() if sign_in_required() else None))
    spend, saved, calls = today_box.container().columns(3)
    spend.metric("Spent on models today", format_usd(today.cost_usd))
    saved.metric("Saved against all-cloud", format_usd(today.savings_usd),
                 f"{today.savings_share:.0%} less than all-cloud"
                 if today.savings_share is not None else None,
                 delta_color="off", delta_arrow="off")
    calls.metric("Model calls today", f"{today.calls:,}")


draw_today()
after_reply(draw_today)  # a reply streamed after this page is counted at once

left, right = st.columns(2)
with left:
    st.subheader("Workflows")
    for path, title, icon in workflow_pages():
        st.page_link(path, label=title, icon=icon)
with right:
    st.subheader("Recent activity")
    events = recent_events(db, session_id(), limit=6)
    if not events:
        st.caption("Nothing yet. Open a workflow, or say hello in the chat.")
    for event in reversed(events):
        when = event.created_at.strftime("%H:%M") if event.created_at else ""
        st.caption(f"{when} · {event.summary}")
