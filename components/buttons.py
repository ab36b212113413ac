"""Buttons whose clicks survive an interrupted run."""

import streamlit as st


def _clicked(flag: str) -> None:
    """The button's callback: note the click in a single write.

    Streamlit runs a callback before the page, so a click whose run is cut short by the
    next interaction (an upload finishing, a chat message sent at once) is still seen by
    the run that follows; ``st.button``'s return value alone is then lost. A callback can
    itself be stopped at any session-state access, so it does nothing but this write."""
    st.session_state[flag] = True


def pressed(label: str, key: str, **kwargs: object) -> bool:
    """``st.button`` that reports a click even when the click's own run was interrupted."""
    flag = f"{key}_clicked"
    now = st.button(label, key=key, on_click=_clicked, args=(flag,), **kwargs)
    return bool(st.session_state.pop(flag, False)) or now
