"""Clicks kept in components.buttons' journal: taken once, by the run that draws the
button, even when the run the click started ended before it got there; dropped when
stale; put back when the action itself is cut short."""

from __future__ import annotations

import pytest
from streamlit.runtime.scriptrunner import RerunException, StopException
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.testing.v1 import AppTest

from components import buttons


@pytest.fixture(autouse=True)
def empty_journal() -> None:
    buttons.forget_all()
    yield
    buttons.forget_all()


def _button_script() -> None:
    import streamlit as st

    from components.buttons import pressed

    if st.session_state.get("cut_short"):  # this run ends before the button is drawn
        st.session_state.cut_short = False
        st.stop()
    if pressed("Go", "go"):
        st.session_state.done = st.session_state.get("done", 0) + 1


def _form_script() -> None:
    import streamlit as st

    from components.buttons import submitted

    if st.session_state.get("cut_short"):
        st.session_state.cut_short = False
        st.stop()
    with st.form("f"):
        title = st.text_input("Title")
        if submitted("Add", "add"):
            st.session_state.added = [*st.session_state.get("added", []), title]


def _redo_script() -> None:
    import streamlit as st

    from components.buttons import pressed

    if click := pressed("Go", "go"):
        with click.redo_if_cut_short():
            if st.session_state.get("interrupt"):  # stands for the next click's request
                st.session_state.interrupt = False
                st.rerun()
        st.session_state.done = st.session_state.get("done", 0) + 1


def _chat_script() -> None:
    import streamlit as st

    from components.buttons import sent

    if st.session_state.get("cut_short"):
        st.session_state.cut_short = False
        st.stop()
    st.session_state.setdefault("got", []).extend(sent("Say", "say"))


def _end_of_run_script() -> None:
    import streamlit as st

    from components.buttons import end_of_run, pressed

    if st.session_state.get("show", True):
        st.session_state.show = False
        if pressed("Go", "go"):
            st.session_state.done = True
    end_of_run()


def _failing_run_script() -> None:
    import streamlit as st

    from components.buttons import one_run, pressed

    with one_run():
        if st.session_state.get("fail"):
            raise ValueError("the page failed before it drew its button")
        if pressed("Go", "go"):
            st.session_state.done = True


def app(script) -> AppTest:  # noqa: ANN001
    at = AppTest.from_function(script, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_a_click_acts_once() -> None:
    at = app(_button_script)
    at.button(key="go").click().run()
    assert at.session_state.done == 1
    at.run()
    assert at.session_state.done == 1


def test_a_click_whose_run_ended_before_the_button_is_acted_on_by_the_next_run() -> None:
    at = app(_button_script)
    at.session_state.cut_short = True
    at.button(key="go").click().run()  # the callback noted it; the run stopped early
    assert "done" not in at.session_state
    at.run()  # the next interaction's run draws the button and takes the click
    assert at.session_state.done == 1
    at.run()
    assert at.session_state.done == 1


def test_a_form_submitted_in_a_cut_short_run_is_added_with_its_values() -> None:
    at = app(_form_script)
    at.text_input[0].input("Call Acme")
    at.session_state.cut_short = True
    at.button(key="add").click().run()
    assert "added" not in at.session_state
    at.run()
    assert at.session_state.added == ["Call Acme"]


def test_an_action_cut_short_inside_its_block_is_done_by_the_next_run_once() -> None:
    at = app(_redo_script)
    at.session_state.interrupt = True
    at.button(key="go").click().run()
    assert at.session_state.done == 1
    at.run()
    assert at.session_state.done == 1


def test_a_message_sent_in_a_cut_short_run_arrives_in_the_next_one() -> None:
    at = app(_chat_script)
    at.session_state.cut_short = True
    at.chat_input[0].set_value("first").run()
    assert at.session_state.got == []
    at.run()
    assert at.session_state.got == ["first"]
    at.chat_input[0].set_value("second").run()
    assert at.session_state.got == ["first", "second"]
    at.run()
    assert at.session_state.got == ["first", "second"]


def test_messages_noted_before_a_run_come_out_oldest_first() -> None:
    where = ("s", "", "say")
    for text in ("one", "two", "three"):
        buttons._note(where, text)
    assert buttons._take(where) == ["one", "two", "three"]


def test_a_stale_click_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(_button_script)
    at.session_state.cut_short = True
    at.button(key="go").click().run()
    monkeypatch.setattr(buttons, "CLICK_TTL_S", -1.0)  # every click is now too old
    at.run()
    assert "done" not in at.session_state


def test_the_journal_is_keyed_by_session_page_and_key_and_taken_once() -> None:
    here, elsewhere = ("s1", "page", "go"), ("s2", "page", "go")
    buttons._note(here)
    assert buttons._take(elsewhere) == []
    assert buttons._take(("s1", "other page", "go")) == []
    assert buttons._take(here) == [True]
    assert buttons._take(here) == []


def test_the_journal_never_grows_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(buttons, "MAX_NOTED", 50)
    for n in range(200):
        buttons._note((f"session {n}", "", "go"))
    assert len(buttons._noted) <= 50
    assert buttons._take(("session 199", "", "go")) == [True]  # the newest are kept


def test_stale_entries_are_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(buttons.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(buttons, "_last_prune", 0.0)
    buttons._note(("old", "", "go"))
    clock[0] += buttons.CLICK_TTL_S + buttons._PRUNE_EVERY_S + 1
    buttons._note(("new", "", "go"))
    assert "old" not in buttons._noted and "new" in buttons._noted


@pytest.mark.parametrize("cut", [RerunException(RerunData()), StopException()])
def test_redo_puts_a_taken_click_back_only_when_the_run_is_cut_short(cut: BaseException) -> None:
    where = ("s", "p", "go")
    with pytest.raises(type(cut)), buttons.Click(True, where).redo_if_cut_short():
        raise cut
    assert buttons._take(where) == [True]
    with pytest.raises(ValueError), buttons.Click(True, where).redo_if_cut_short():
        raise ValueError("an ordinary error is not a cut-short run")
    with pytest.raises(type(cut)), buttons.Click(False, where).redo_if_cut_short():
        raise cut
    assert buttons._take(where) == []


def test_a_click_still_untaken_when_a_run_ends_is_forgotten() -> None:
    at = app(_end_of_run_script)
    at.button(key="go").click().run()  # noted, but this run no longer draws the button
    assert "done" not in at.session_state
    at.session_state.show = True
    at.run()  # the button is back: the old click must not fire now
    assert "done" not in at.session_state


def test_a_click_untaken_by_a_run_that_failed_is_forgotten_too() -> None:
    """A run that ends in an error is over, like a complete one: its untaken click must
    not fire later, when the button is drawn again."""
    at = app(_failing_run_script)
    at.session_state.fail = True
    at.button(key="go").click().run()
    assert at.exception and "done" not in at.session_state
    at.session_state.fail = False
    at.run()
    assert not at.exception and "done" not in at.session_state


def test_the_chat_keeps_at_most_a_bounded_number_of_waiting_messages() -> None:
    where = ("s", "", "say")
    for n in range(buttons.MAX_PER_WIDGET + 50):
        buttons._note(where, f"message {n}")
    kept = buttons._take(where)
    assert len(kept) == buttons.MAX_PER_WIDGET and kept[-1] == "message 149"


def test_a_callback_of_its_own_is_refused() -> None:
    with pytest.raises(TypeError):
        buttons.pressed("Go", "go", on_click=print)


def test_a_started_run_calls_its_callbacks_before_a_newer_request_can_stop_it() -> None:
    """The gap between Streamlit taking a click's request and calling its callbacks is
    closed on this Streamlit: the check for a newer request waits until after them."""
    from streamlit.runtime.state.safe_session_state import SafeSessionState
    from streamlit.runtime.state.session_state import SessionState

    assert buttons.CALLBACKS_RUN_WHOLE
    checks: list[str] = []

    def a_newer_request_is_waiting() -> None:
        checks.append("checked")
        raise RerunException(RerunData())

    state = SafeSessionState(SessionState(), a_newer_request_is_waiting)
    state.on_script_will_rerun(None)  # the callbacks are called, nothing stops them
    assert checks == []
    with pytest.raises(RerunException):  # everywhere else the check is as before
        state["anything"] = 1
    assert checks == ["checked"]
