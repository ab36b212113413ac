"""Ambient's entrypoint: page config, navigation, and the sidebar chat shared by every page."""

import streamlit as st

from components.chat import render_sidebar_chat
from components.events import track_page
from components.session import database, session_id

st.set_page_config(page_title="Ambient", page_icon=":material/eco:", layout="wide")

db = database()
sid = session_id()

page = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/activity.py", title="Activity", icon=":material/history:"),
    ]
)
track_page(page.title)
render_sidebar_chat(db, sid)
page.run()
