"""Ambient's entrypoint: page config, sign-in, navigation, and the sidebar chat shared by
every page."""

import streamlit as st

from components.auth import current_user, identity_bar, sign_in_page
from components.buttons import one_run
from components.chat import answer_pending_message, render_sidebar_chat
from components.events import track_page
from components.navigation import app_pages
from components.session import admin_here, database, read_only_banner, session_id, session_notice

st.set_page_config(page_title="Ambient", page_icon=":material/eco:", layout="wide")

db = database()
if current_user(db) is None:  # sign-in is on (AMBIENT_AUTH=oidc) and nobody is signed in
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:")],
                  position="hidden").run()
    st.stop()
sid = session_id()

page = st.navigation(app_pages())
# A click no button took in this whole run is forgotten at its end (components/buttons.py).
with one_run(), read_only_banner(db):  # a full disk or read-only volume: one banner
    identity_bar(st.session_state.session_user, admin_here(), session_notice())
    track_page(page.title)
    render_sidebar_chat(db, sid)
    page.run()
    # The reply streams after the page is drawn, so a chat message never blanks the page.
    answer_pending_message(db, sid)
