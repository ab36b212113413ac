"""Home and the sidebar chat through Streamlit's AppTest, on the real embedded model."""

from __future__ import annotations

import pytest

from core.conversation import history
from core.events import recent_events
from store.db import get_database
from tests.apptest import new_app, rerun


@pytest.fixture
def app(app_env: str):  # noqa: ANN201
    at = new_app()
    at.run()
    assert not at.exception
    return at


def test_home_says_what_ambient_is_and_which_tiers_are_available(app) -> None:  # noqa: ANN001
    assert app.title[0].value == "Ambient"
    assert "local-first" in app.markdown[0].value
    tiles = " ".join(m.value for m in app.markdown)
    assert "Embedded" in tiles
    assert any("SmolLM2-135M-Instruct" in m.value for m in app.markdown)
    assert "Local" in tiles and "Cloud" in tiles


def test_home_says_how_to_turn_on_the_other_tiers(app_env: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    from llm.providers import _register_builtins

    _register_builtins()  # providers read the environment when they are built
    at = new_app()
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "Ollama is not running at http://127.0.0.1:9" in text and "ollama serve" in text
    assert "No OpenAI key or endpoint is configured" in text


def test_the_session_id_is_put_in_the_url(app) -> None:  # noqa: ANN001
    sid = app.query_params["sid"]
    sid = sid[0] if isinstance(sid, list) else sid
    assert len(sid) == 32 and app.session_state.session_id == sid


def test_opening_a_page_is_recorded_once(app, app_env: str) -> None:  # noqa: ANN001
    rerun(app)
    events = recent_events(get_database(), app.session_state.session_id)
    assert [e.summary for e in events] == ["Opened the Home page"]


def test_the_sidebar_chat_streams_a_reply_and_stores_both_messages(app, app_env: str) -> None:  # noqa: ANN001
    assert len(app.sidebar.chat_input) == 1
    app.sidebar.chat_input[0].set_value("Hello! Who are you?")
    rerun(app)
    assert not app.exception
    user, assistant = app.sidebar.chat_message[-2:]
    assert user.name == "user" and user.markdown[0].value == "Hello! Who are you?"
    assert assistant.name == "assistant" and assistant.markdown[0].value.strip()
    # the footer names the tier; a note ("cut off at the token limit"), if any, comes first
    assert any("embedded · SmolLM2-135M-Instruct" in c.value for c in assistant.caption)
    stored = history(get_database(), app.session_state.session_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == assistant.markdown[0].value.strip()


def test_a_reload_with_the_same_url_restores_the_conversation(app, app_env: str) -> None:  # noqa: ANN001
    app.sidebar.chat_input[0].set_value("Remember this message.")
    rerun(app)
    sid = app.session_state.session_id
    reloaded = new_app({"sid": sid})  # a new browser session, same URL
    reloaded.run()
    assert reloaded.session_state.session_id == sid
    shown = [m.markdown[0].value for m in reloaded.sidebar.chat_message if m.markdown]
    assert shown[0] == "Remember this message." and len(shown) == 2


def test_the_expert_picker_falls_back_to_the_default_expert_not_the_first_one(app) -> None:  # noqa: ANN001
    """A browser whose run was interrupted sends the widget's own default back; that default
    must be the default expert (it was the first option, "Competitive analyst")."""
    picker = app.sidebar.selectbox(key="expert")
    assert picker.options[0] != "General assistant"  # alphabetical: the trap is real
    assert picker.options[picker.proto.default] == "General assistant"
    assert picker.value == "general" and app.query_params["expert"] == "general"


def test_the_expert_in_the_url_is_restored_after_a_reload(app_env: str) -> None:
    at = new_app({"expert": "task_clerk"})
    at.run()
    assert at.sidebar.selectbox(key="expert").value == "task_clerk"
    unknown = new_app({"expert": "no_such_expert"})
    unknown.run()
    assert unknown.sidebar.selectbox(key="expert").value == "general"


def test_a_forged_session_id_in_the_url_is_replaced(app_env: str) -> None:
    at = new_app({"sid": "../../etc/passwd"})
    at.run()
    assert not at.exception and at.session_state.session_id != "../../etc/passwd"


def test_a_planted_session_id_starts_a_new_session_and_says_so(app_env: str) -> None:
    planted = "0123456789abcdef0123456789abcdef"
    at = new_app({"sid": planted})
    at.run()
    assert not at.exception
    assert at.session_state.session_id != planted
    assert at.query_params["sid"] == at.session_state.session_id
    # Said in the sidebar for as long as the tab lives (a toast was gone in 4 s).
    assert any("not found on this server" in w.value for w in at.sidebar.warning)


def test_home_shows_todays_spend_savings_activity_and_workflows(app_env: str) -> None:
    from core.events import record_event
    from llm.ledger import CallRecord, book
    from store.db import get_database

    at = new_app()
    at.run()
    db, sid = get_database(), at.session_state.session_id
    book(db, CallRecord(request_id="r1", attempt=1, purpose="chat", tier="cloud",
                        provider="openai", model="gpt-4o-mini", status="ok", route_reason="x",
                        cost_nusd=1_500_000, counterfactual_nusd=1_500_000))
    book(db, CallRecord(request_id="r2", attempt=1, purpose="chat", tier="embedded",
                        provider="llama.cpp", model="SmolLM2-135M-Instruct", status="ok",
                        route_reason="x", cost_nusd=0, counterfactual_nusd=4_500_000))
    record_event(db, sid, "form_submitted", "Added the task 'Call Acme'", page="Tasks")
    rerun(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spent on models today"] == "$0.0015"
    assert metrics["Saved against all-cloud"] == "$0.0045"
    assert metrics["Model calls today"] == "2"
    assert any("Added the task 'Call Acme'" in c.value for c in at.caption)
    links = [link.proto.label for link in at.get("page_link")]
    assert {"Tasks", "Competitive analysis", "Link graph", "Long job"} <= set(links)


def test_model_calls_today_counts_the_reply_just_streamed(app, app_env: str) -> None:  # noqa: ANN001
    from llm.ledger import day_start
    from llm.reports import Filters, totals
    from store.db import utcnow

    assert {m.label: m.value for m in app.metric}["Model calls today"] == "0"
    app.sidebar.chat_input[0].set_value("Hello! Who are you?")
    rerun(app)
    assert not app.exception
    # the footer names the tier; a note ("cut off at the token limit"), if any, comes first
    assert any("embedded · SmolLM2" in c.value for c in app.sidebar.chat_message[-1].caption)
    booked = totals(get_database(), Filters(since=day_start(utcnow()))).calls
    assert booked >= 1
    # The reply streamed after the page was drawn; the figure counts it all the same.
    assert {m.label: m.value for m in app.metric}["Model calls today"] == f"{booked:,}"
