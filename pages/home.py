import streamlit as st

from components.profile import accent_bar, known_facts
from components.tiers import render_tier_status

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
st.caption(
    "The chat in the sidebar is the same on every page and is saved: reload the page and "
    "your conversation is still there."
)
