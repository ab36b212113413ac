"""Confirm-then-act through AppTest: nothing happens before "yes", cancel forgets the
question, and the act gets what was picked when the user asked."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _delete_script() -> None:
    import streamlit as st

    from components.confirm import ask_first

    picked = st.multiselect("Pick", [1, 2, 3], key="pick")
    gone = ask_first(f"Delete {len(picked)}…", "delete",
                     lambda ids: f"Delete {len(ids)} item(s) for good?", yes="Yes, delete",
                     payload=list(picked), disabled=not picked)
    if gone:
        st.session_state.acted = [*st.session_state.get("acted", []), gone]


def _pending_script() -> None:
    import streamlit as st

    from components.confirm import confirm_or_cancel

    st.session_state.answer = confirm_or_cancel("Delete the task 'Call Acme'?", "action_7_0")


def app(script) -> AppTest:  # noqa: ANN001
    at = AppTest.from_function(script, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_nothing_is_done_before_yes_and_the_act_gets_what_was_picked() -> None:
    at = app(_delete_script)
    assert at.button(key="delete").disabled and not at.warning
    at.multiselect(key="pick").select(1).select(3).run()
    at.button(key="delete").click().run()
    assert [w.value for w in at.warning] == ["Delete 2 item(s) for good?"]
    assert "acted" not in at.session_state
    at.multiselect(key="pick").unselect(3).run()  # a change after asking does not count
    at.button(key="delete_yes").click().run()
    assert at.session_state.acted == [[1, 3]]
    at.run()
    assert at.session_state.acted == [[1, 3]] and not at.warning  # once, and asked no more


def test_cancel_forgets_the_question() -> None:
    at = app(_delete_script)
    at.multiselect(key="pick").select(2).run()
    at.button(key="delete").click().run()
    at.button(key="delete_no").click().run()
    assert not at.exception and not at.warning and "acted" not in at.session_state
    assert at.button(key="delete").label == "Delete 1…"


def test_a_pending_question_answers_yes_no_or_not_yet() -> None:
    at = app(_pending_script)
    assert at.session_state.answer is None
    assert at.warning[0].value == "Delete the task 'Call Acme'?"
    at.button(key="action_7_0_yes").click().run()
    assert at.session_state.answer is True
    at.button(key="action_7_0_no").click().run()
    assert at.session_state.answer is False
