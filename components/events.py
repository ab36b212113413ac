"""Record meaningful interactions so the assistant knows what the user just did.

Pages call ``record("form_submitted", "Added 3 competitors")``; the event goes to the
session's in-memory list (for the page) and to the events table (for the assistant's
context, and so it survives a reload).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.session import database, session_id
from core.events import Event, record_event
from store.db import StorageUnwritable


def record(kind: str, summary: str, *, data: dict[str, Any] | None = None) -> Event | None:
    """Record an event; None when the database is read-only (the page's banner says so)."""
    try:
        event = record_event(
            database(),
            session_id(),
            kind,
            summary,
            page=st.session_state.get("current_page"),
            data=data,
        )
    except StorageUnwritable:
        return None
    st.session_state.setdefault("events", []).append(event)
    return event


def track_page(title: str) -> None:
    """Record "page opened" once per visit, not on every rerun of the same page."""
    if st.session_state.get("current_page") != title:
        st.session_state.current_page = title
        record("page_opened", f"Opened the {title} page")
