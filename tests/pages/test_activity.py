"""The Activity page: the session's events, and what the assistant receives of them."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.events import record_event
from store.db import get_database
from tests.conftest import ROOT


def test_the_events_and_the_assistants_digest_are_shown(app_env: str) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "activity.py"), default_timeout=60)
    at.run()
    sid = at.session_state.session_id
    record_event(get_database(), sid, "page_opened", "Opened the Tasks page", page="Tasks")
    at.run()
    assert not at.exception
    [table] = at.dataframe
    assert "Opened the Tasks page" in set(table.value["summary"])
    # The digest is plain text, not a code block: a code block's highlighter cost the
    # browser on every visit of the page, even with its expander closed.
    assert not at.code
    [digest] = at.expander[0].text
    assert "page opened on Tasks: Opened the Tasks page" in digest.value
