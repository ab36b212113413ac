"""The Introduction workflow through AppTest, on the real embedded model."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.memory import facts, scope_for
from store.db import get_database
from tests.apptest import new_app
from tests.conftest import ROOT


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "introduction.py"), default_timeout=120)
    at.run()
    assert not at.exception
    return at


def card_labels(at: AppTest) -> list[str]:
    return [e.label for e in at.expander]


def test_the_assistant_introduces_itself_then_learns_name_and_colour(app_env: str) -> None:
    at = page()
    assert card_labels(at)[0] == "1. Meet the assistant"
    at.button(key="intro_hello").click()
    at.run()
    assert not at.exception
    assert card_labels(at)[0] == "1. Meet the assistant · done"
    # The introduction just arrived: its card stays open on it, and the next one opens.
    assert at.expander[0].proto.expanded is True and at.expander[1].proto.expanded is True
    assert at.expander[0].markdown[0].value.strip()

    at.text_input[0].input("")  # an empty name is refused with a sentence
    at.button[0].click()  # the form's submit button
    at.run()
    assert at.error, "an empty name must be refused"
    at.text_input[0].input("Ann")
    at.button[0].click()
    at.run()
    sid = at.session_state.session_id
    assert facts(get_database(), scope_for(get_database(), sid))["name"] == "Ann"
    assert at.expander[0].proto.expanded is False  # the user moved on: it closes now

    at.color_picker[0].pick("#ff8800")
    at.button[1].click()
    at.run()
    assert facts(get_database(), scope_for(get_database(), sid))["favourite_colour"] == "#ff8800"
    assert card_labels(at)[2].endswith("· done") and at.expander[3].proto.expanded is True
    at.button(key="intro_welcome").click()
    at.run()
    assert not at.exception
    welcome = at.expander[3]
    assert welcome.label == "4. All set · done" and welcome.proto.expanded is True
    assert welcome.markdown[0].value == ("Welcome, Ann! Your favourite colour, orange, is "
                                         "now your accent.")

    # Afterwards Home greets the user by name, with the colour as an accent.
    home = new_app({"sid": sid})
    home.run()
    assert home.title[0].value == "Welcome back, Ann"
    assert any("#ff8800" in h.proto.body for h in home.get("html"))


def test_a_reload_resumes_a_half_done_introduction(app_env: str) -> None:
    at = page()
    at.button(key="intro_hello").click()
    at.run()
    sid = at.session_state.session_id
    again = AppTest.from_file(str(ROOT / "pages" / "introduction.py"), default_timeout=60)
    again.query_params["sid"] = sid
    again.run()
    assert card_labels(again)[0].endswith("· done")
    assert again.expander[1].proto.expanded is True
