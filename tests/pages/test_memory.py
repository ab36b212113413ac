"""The Memory page: see, add, change and forget facts (AppTest on the page script)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.memory import facts, remember, scope_for
from store.db import get_database
from tests.conftest import ROOT


def memory_page(app_env: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "memory.py"), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def test_a_fact_can_be_added_changed_and_forgotten(app_env: str) -> None:
    at = memory_page(app_env)
    scope = scope_for(get_database(), at.session_state.session_id)
    at.text_input[0].input("Favourite colour")
    at.text_input[1].input("green")
    at.button[0].click()
    at.run()
    assert facts(get_database(), scope) == {"favourite_colour": "green"}
    at.text_input(key="fact_favourite_colour").input("teal")
    at.run()
    assert facts(get_database(), scope) == {"favourite_colour": "teal"}
    at.button(key="forget_favourite_colour").click()
    at.run()
    assert facts(get_database(), scope) == {}


def test_a_bad_fact_is_refused_with_a_sentence_and_the_input_kept(app_env: str) -> None:
    at = memory_page(app_env)
    at.text_input[0].input("name")
    at.text_input[1].input("")
    at.button[0].click()
    at.run()
    assert at.error and at.error[0].value
    assert at.text_input[0].value == "name"


def test_facts_told_to_the_assistant_are_listed(app_env: str) -> None:
    at = memory_page(app_env)
    remember(get_database(), scope_for(get_database(), at.session_state.session_id), "name", "Ann")
    at.run()
    assert at.text_input(key="fact_name").value == "Ann"
