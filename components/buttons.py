"""Buttons whose clicks are harder to lose when the next interaction interrupts their run."""

import streamlit as st


def _clicked(flag: str) -> None:
    """The button's callback: note the click in a single write.

    Streamlit runs a callback before the page, so a click whose run is cut short by the
    next interaction (an upload finishing, a chat message sent at once) is still seen by
    the run that follows; ``st.button``'s return value alone is then lost. A callback can
    itself be stopped at any session-state access, so it does nothing but this write."""
    st.session_state[flag] = True


def pressed(label: str, key: str, **kwargs: object) -> bool:
    """``st.button`` that also reports a click whose own run was interrupted, unless
    Streamlit stopped the callback too (a second request within ~10 ms can)."""
    flag = f"{key}_clicked"
    now = st.button(label, key=key, on_click=_clicked, args=(flag,), **kwargs)
    return bool(st.session_state.pop(flag, False)) or now
