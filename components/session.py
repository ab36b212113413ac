"""The database and the session identity, as every page sees them.

Why the URL: the session id rides in the query string (``?sid=...``) rather than a cookie
because Streamlit can set query parameters natively (a cookie needs a custom component
and an extra browser round trip before the first render), a reload or bookmark keeps it,
and two tabs can hold two separate conversations. The id is 128 random bits; on a shared
server the URL is the key to the conversation, so share it only with whom you would
show the chat.
"""

from __future__ import annotations

import streamlit as st

from core.sessions import ensure_session
from store.db import Database, DatabaseError, get_database


@st.cache_resource(show_spinner="Opening the database…")
def _database() -> Database:
    return get_database()


def database() -> Database:
    """The migrated database, or a readable error and a stopped page."""
    try:
        return _database()
    except DatabaseError as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() ends the run


def session_id() -> str:
    """This browser session's id, restored from the URL after a reload."""
    db = database()
    if "session_id" not in st.session_state:
        st.session_state.session_id = ensure_session(db, st.query_params.get("sid"))
    sid: str = st.session_state.session_id
    if st.query_params.get("sid") != sid:
        st.query_params["sid"] = sid
    return sid
