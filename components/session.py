"""The database and the session identity, as every page sees them.

Why the URL: the session id rides in the query string (``?sid=...``) rather than a cookie
because Streamlit can set query parameters natively (a cookie needs a custom component
and an extra browser round trip before the first render), a reload or bookmark keeps it,
and two tabs can hold two separate conversations. The id is 128 random bits made by the
server; an id in the URL that the server never made starts a new session (with a notice)
instead of being adopted, so a link cannot plant a session to read later.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import streamlit as st

from components.auth import current_user
from core.people import is_admin
from core.sessions import open_session
from store.db import Database, DatabaseError, StorageUnwritable, get_database


@st.cache_resource(show_spinner="Opening the database…")
def _database() -> Database:
    return get_database()


def _through_the_entrypoint() -> None:
    """Run every page through Home.py, even on a server's very first run.

    Until the entrypoint has called ``st.navigation`` once, Streamlit 1.67 treats a
    ``pages/`` folder as old-style pages: a bookmarked ``/long_job`` opened first after a
    restart ran ``pages/long_job.py`` alone — no sidebar chat, a menu named after the
    files. Every page asks for the database first, so this is where such a run is caught:
    it turns the old mode off and reruns, and the rerun goes through Home.py to the same
    page (both modes key a page by its URL path). Home.py itself, run that way, needs no
    rerun (its own ``st.navigation`` switches modes), and a rerun would drop the click
    that started the run."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and _running_a_page_script():
        PagesManager.uses_pages_directory = False
        st.rerun()


_PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"


def _running_a_page_script() -> bool:
    """Whether a script of pages/ is executing (Streamlit gives each its own ``__file__``)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__file__")
        if name and Path(name).resolve().parent == _PAGES_DIR:
            return True
        frame = frame.f_back
    return False


def database() -> Database:
    """The migrated database, or a readable error and a stopped page."""
    _through_the_entrypoint()
    try:
        return _database()
    except DatabaseError as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() ends the run


@contextmanager
def read_only_banner(db: Database) -> Iterator[None]:
    """One banner at the top of the page while the database cannot be written; a write
    that fails that way inside the block ends the page there (reading still worked, and
    the transaction left nothing half-saved) instead of a traceback."""
    banner = st.empty()
    with suppress(StorageUnwritable):
        yield
    if notice := db.read_only_notice:
        banner.error(notice, icon=":material/lock:")


def session_id() -> str:
    """This browser tab's session id, restored from the URL after a reload; a session of
    the user who is here (``components.auth``), never someone else's."""
    db = database()
    user = current_user(db)
    if user is None:  # Home.py shows the sign-in page first; a page run alone stops here
        st.stop()
    if "session_id" not in st.session_state or st.session_state.get("session_user") != user:
        opened = open_session(db, st.query_params.get("sid"), user)
        st.session_state.session_id, st.session_state.session_user = opened.id, user
        st.session_state.session_notice = opened.notice  # shown in the sidebar (Home.py)
    sid: str = st.session_state.session_id
    # A page change clears the URL's query (Streamlit): the session id and the parameters
    # kept with ``keep_in_url`` go back in one update, so the browser rewrites its history
    # entry once for all of them (each rewrite cost about 10 ms of every page change).
    wanted = {"sid": sid, **st.session_state.get(_KEPT_IN_URL, {})}
    missing = {k: v for k, v in wanted.items() if st.query_params.get(k) != v}
    if missing:
        st.query_params.update(missing)
    return sid


_KEPT_IN_URL = "_kept_in_url"


def keep_in_url(name: str, value: str) -> None:
    """Keep ``?name=value`` in this tab's URL, across reloads and page changes."""
    st.session_state.setdefault(_KEPT_IN_URL, {})[name] = value
    if st.query_params.get(name) != value:
        st.query_params[name] = value


def session_notice() -> str | None:
    """Why this tab's session is new although the URL named one (kept for the tab)."""
    return st.session_state.get("session_notice")


def admin_here() -> bool:
    """Whether the person in this tab may change shared settings."""
    return is_admin(database(), session_id())


def user_here() -> str:
    """The user this tab's work belongs to (the local user without sign-in)."""
    session_id()
    return str(st.session_state.session_user)
