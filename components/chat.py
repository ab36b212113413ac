"""The sidebar chat, rendered by the entrypoint so it is the same widget on every page.

It runs as a fragment: sending a message reruns only the chat, not the page around it.
"""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from components.llm import router
from core.assistant import MAX_USER_CHARS, ChatInputError, ChatTurn
from core.conversation import Message, count_messages, history
from core.db import Database

SHOWN_MESSAGES = 60
HISTORY_HEIGHT = 460


def _money(value: object) -> str:
    amount = Decimal(str(value))
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _model_tag(message: Message) -> str:
    parts = [p for p in (message.tier, message.model) if p]
    meta = message.meta
    if "completion_tokens" in meta:
        parts.append(f"{meta['prompt_tokens']}+{meta['completion_tokens']} tokens")
    if "cost_usd" in meta:
        parts.append(f"{_money(meta['cost_usd'])} (saved {_money(meta['savings_usd'])})")
    return " · ".join(parts)


def _route_details(message: Message) -> None:
    reason = message.meta.get("route_reason")
    if reason:
        with st.expander("Why this model?"):
            st.caption(reason)
            if message.meta.get("note"):
                st.caption(message.meta["note"])


def _render_message(message: Message) -> None:
    with st.chat_message(message.role):
        if message.content:
            st.markdown(message.content)
        if message.role != "assistant":
            return
        if message.status != "ok":
            st.error(message.meta.get("error", "The answer failed."))
        tag = _model_tag(message)
        if tag:
            st.caption(tag)
        _route_details(message)


def render_sidebar_chat(db: Database, session_id: str) -> None:
    with st.sidebar:
        st.subheader("Assistant")
        _chat(db, session_id)


@st.fragment
def _chat(db: Database, session_id: str) -> None:
    box = st.container(height=HISTORY_HEIGHT, key="chat_history")
    messages = history(db, session_id, limit=SHOWN_MESSAGES)
    with box:
        total = count_messages(db, session_id) if len(messages) == SHOWN_MESSAGES else 0
        if total > SHOWN_MESSAGES:
            st.caption(f"Showing the latest {SHOWN_MESSAGES} of {total:,} messages.")
        if not messages:
            st.caption("Ask me anything about what you are doing in Ambient.")
        for message in messages:
            _render_message(message)

    prompt = st.chat_input("Message the assistant", key="chat_input", max_chars=MAX_USER_CHARS)
    if not prompt:
        return
    try:
        turn = ChatTurn(
            db, session_id, prompt, router=router(), page=st.session_state.get("current_page")
        )
    except ChatInputError as exc:
        st.warning(str(exc))
        return
    with box:
        _render_message(turn.user_message)
        with st.chat_message("assistant"):
            st.write_stream(turn.stream())
            result = turn.result
            if result.error:
                st.error(result.error)
            elif result.reply is not None:
                st.caption(_model_tag(result.reply))
                _route_details(result.reply)
