"""Step cards: each workflow step is an expander whose open/closed state lives in the
workflow run (database), so it survives reruns, page switches and reloads, and the user,
the workflow or the assistant can minimise or expand it."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.session import database
from workflows.runs import Run, set_open

STATE_ICONS = {
    "waiting": ":material/radio_button_unchecked:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
}
STATE_WORDS = {"waiting": "", "done": " · done", "failed": " · failed"}


def card_key(run: Run, key: str) -> str:
    return f"card_{run.workflow}_{key}"


def _remember_toggle(run: Run, key: str, widget: str) -> None:
    set_open(database(), run, key, bool(st.session_state[widget]))


def _requested_by_assistant(run: Run, key: str, title: str) -> bool | None:
    """A minimise/expand the assistant asked for: by "workflow.step", step key, number or title."""
    requests = st.session_state.get("cards") or {}
    number = str(run.order.index(key) + 1)
    for name in (f"{run.workflow}.{key}", key, number, title.lower()):
        if name in requests:
            return bool(requests.pop(name))
    return None


def step_card(run: Run, key: str, title: str) -> DeltaGenerator:
    """``with step_card(run, "aspects", "Aspects to compare"):`` draws step 2's card."""
    widget = card_key(run, key)
    is_open = run.is_open(key)
    requested = _requested_by_assistant(run, key, title)
    if requested is not None and requested != is_open:
        set_open(database(), run, key, requested)
        is_open = requested
    st.session_state[widget] = is_open  # the stored state wins over the browser's memory
    state = run.state(key)
    label = f"{run.order.index(key) + 1}. {title}{STATE_WORDS[state]}"
    if state == "failed" and run.note(key):
        label += f": {run.note(key)}"
    return st.expander(
        label, icon=STATE_ICONS[state], key=widget,
        on_change=_remember_toggle, args=(run, key, widget),
    )
