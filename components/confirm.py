"""Confirm-then-act: a destructive act waits for the user's "yes" and can be cancelled.

``ask_first`` is the whole pattern (a button, the question, Yes and Cancel);
``confirm_or_cancel`` is its second half, for a question that is already pending
elsewhere (an action the assistant proposed). Both use ``components.buttons.pressed``,
so an answer survives a run cut short by the next click, and rerun after an answer, so
the screen never shows a question that was already answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from components.buttons import Click, pressed

T = TypeVar("T")


def _ask(question: str, key: str, yes: str, no: str) -> tuple[Click, Click]:
    st.warning(question, icon=":material/help:")
    left, right = st.columns(2)
    confirmed = pressed(yes, f"{key}_yes", where=left, type="primary")
    with confirmed.redo_if_cut_short():  # the second button is drawn after "yes" was taken
        cancelled = pressed(no, f"{key}_no", where=right)
    return confirmed, cancelled


def confirm_or_cancel(question: str, key: str, *, yes: str = "Confirm",
                      no: str = "Cancel") -> bool | None:
    """``question`` with two buttons (keys ``<key>_yes`` and ``<key>_no``): True once
    confirmed, False once cancelled, None while unanswered."""
    confirmed, cancelled = _ask(question, key, yes, no)
    return True if confirmed else False if cancelled else None


def ask_first(label: str, key: str, question: str | Callable[[T], str], *, yes: str,
              payload: T = True, **button: Any) -> T | None:  # type: ignore[assignment]
    """A button for an act that cannot be undone. Its click keeps ``payload`` (what the act
    is about, e.g. the ids picked at that moment) and asks ``question`` (text, or built
    from the payload); the payload comes back once, in the run where the user says yes.
    Cancel forgets it. ``button`` goes to the first ``st.button`` (icon, disabled, ...)."""
    asked = f"{key}_asked"
    if asked not in st.session_state:
        if click := pressed(label, key, **button):
            with click.redo_if_cut_short():
                st.session_state[asked] = payload
            st.rerun()
        return None
    kept = st.session_state[asked]
    text = question(kept) if callable(question) else question
    confirmed, cancelled = _ask(text, key, yes, "Cancel")
    if not (confirmed or cancelled):
        return None
    with (confirmed or cancelled).redo_if_cut_short():
        del st.session_state[asked]
    if not confirmed:
        st.rerun()
    return kept
