"""The introduction's own text: the greeting shown is at most what was asked for."""

from __future__ import annotations

from workflows.introduction import GREETING_SENTENCES, greeting_text


def test_a_greeting_that_runs_on_is_cut_to_the_sentences_asked_for() -> None:
    raw = ("Welcome, Ada! Teal is a lovely colour. I can help you plan your day. "
           "Ask me anything.\nSee you soon!")
    assert GREETING_SENTENCES == 2
    assert greeting_text(raw) == "Welcome, Ada! Teal is a lovely colour."


def test_a_short_greeting_and_no_greeting_are_kept_as_they_are() -> None:
    assert greeting_text("Welcome, Ada!") == "Welcome, Ada!"
    assert greeting_text("Hi Ada, nice to meet you") == "Hi Ada, nice to meet you"
    assert greeting_text("") == "" and greeting_text("   ") == ""
    # A decimal or an abbreviation without a following space is not a sentence end.
    assert greeting_text("Hi Ada. Version 2.5 is here. Bye.") == "Hi Ada. Version 2.5 is here."
