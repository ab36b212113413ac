"""The sidebar chat, rendered by the entrypoint so it is the same widget on every page.

Two halves: ``render_sidebar_chat`` draws the history, the controls and the input before
the page runs; ``answer_pending_message`` streams the reply after the page has been drawn.
A "Stop" button during the stream triggers a full rerun, which interrupts the stream;
the part that arrived is kept. Progress messages that workflows post from background
threads show up through a small live fragment that polls only while narration is
expected.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable

import streamlit as st

from assistant import actions
from assistant.turn import MAX_USER_CHARS, ChatInputError, ChatStorageError, ChatTurn
from components.buttons import pressed, sent
from components.confirm import ask_first, confirm_or_cancel
from components.llm import router
from components.navigation import page_path, page_titles
from components.quality import verdict
from components.session import keep_in_url, user_here
from core.conversation import (
    Message,
    active_conversation,
    clear_conversation,
    conversations,
    count_messages,
    history,
    new_conversation,
    switch_conversation,
    update_message,
)
from core.events import record_event
from core.experts import DEFAULT_EXPERT, Expert, experts_for
from core.narration import deliver_budget_alerts, recent_narration
from llm.ledger import feedback_for_many
from llm.prices import format_usd
from store.db import Database

# The latest messages are drawn at first, more on request: every drawn message costs the
# browser on every page change (bench/RESULTS.md, "pages": 60 messages made a sidebar
# click about 0.35 s slower than 10 on this machine; 10 instead of 20 took about a quarter
# off the browser's and the server's CPU time per page change, A/B on a loaded machine;
# 3 instead of 10 took about 40 ms off a sidebar click, so each drawn message costs about
# 6 ms). Six fill the 440-pixel history box (the box scrolls; more on request).
FIRST_SHOWN = 6
MORE_SHOWN = 40  # "Show earlier messages" adds this many
MAX_SHOWN = 500  # beyond that: the conversation's export has them all
HISTORY_HEIGHT = 440
LIVE_SECONDS = 120
_SLOT = "_chat_slot"
# Streamlit may start the next run before an interrupted one has unwound; a run waits
# for the session's interrupted reply to be stored before it reads the history.
_replies_in_flight: dict[str, threading.Event] = {}
_REPLY_SETTLE_SECONDS = 5


# -- small pieces ------------------------------------------------------------------------
def _model_tag(message: Message) -> str:
    meta = message.meta
    if meta.get("answered_from"):  # facts first: no model, no ledger row, no cost
        return f"Answered from Ambient's data ({meta['answered_from']}) · no model call"
    parts = [p for p in (message.tier, message.model) if p]
    if "completion_tokens" in meta:
        parts.append(f"{meta['prompt_tokens']}+{meta['completion_tokens']} tokens")
    if "cost_usd" in meta:
        cost, saved = format_usd(meta["cost_usd"]), format_usd(meta["savings_usd"])
        parts.append(f"{cost} (saved {saved})")
    return " · ".join(parts)


def _reply_captions(message: Message) -> None:
    """Who answered, at what cost, and why it was not the tier tried first."""
    if message.meta.get("fallback"):
        st.caption(f":material/alt_route: {message.meta['fallback']}")
    if message.meta.get("note"):
        st.caption(f":material/info: {message.meta['note']}")
    tag = _model_tag(message)
    if tag:
        st.caption(tag)


def _render_message(message: Message, db: Database | None = None,
                    last: bool = False, verdicts: dict[str, str] | None = None) -> None:
    """One message; for an assistant reply (with ``db``), the thumbs under it and, when the
    answer check doubts it, the caution (with "Ask a stronger model" on the last one).
    ``verdicts``: the stored thumbs of the drawn replies, read in one query."""
    if message.role == "narration":
        icon = {"warning": ":material/warning:", "error": ":material/error:",
                "done": ":material/task_alt:"}.get(message.meta.get("kind", ""),
                                                   ":material/campaign:")
        comment = message.meta.get("comment")
        st.caption(f"{icon} {message.content}" + (f" — *{comment}*" if comment else ""))
        return
    with st.chat_message(message.role):
        if message.content:
            st.markdown(message.content)
        if message.role != "assistant":
            return
        if message.status != "ok":
            st.error(message.meta.get("error", "The answer failed."))
        for done in message.meta.get("actions", []):
            (st.success if done["ok"] else st.warning)(done["message"])
        _reply_captions(message)
        if db is not None:
            _doubts_and_verdict(db, message, last, verdicts)
        if message.content or message.meta.get("route_reason"):
            # Drawn with its contents, not only while open ("on_change='rerun'"): a popover
            # that reruns on closing lost the click that closed it when that click was on a
            # page in the navigation (the close's rerun won over the page change; 5 of 6
            # clicks went nowhere). The cost: its code block on every page change (60 drawn
            # messages: about 0.15 s per sidebar click when measured; the chat draws 10).
            with st.popover("Copy · why this model?", width="content", key=f"why_{message.id}"):
                _why_this_model(message)


def _why_this_model(message: Message) -> None:
    """The reply to copy, why its tier was chosen, and a link to its rows in the ledger."""
    if message.content:
        st.code(message.content, language=None, wrap_lines=True)
    if message.meta.get("route_reason"):
        st.caption(message.meta["route_reason"])
    if message.meta.get("context"):
        st.caption(message.meta["context"])
    if message.meta.get("request_id"):
        st.page_link("pages/costs.py", label="Open its rows in the cost ledger",
                     icon=":material/receipt_long:",
                     query_params={"request": message.meta["request_id"]})


def _experts() -> tuple[dict[str, Expert], list[str]]:
    """Read fresh on every run (a few small files): a saved expert shows up at once. The
    shared experts, and the person's own ones."""
    return experts_for(user_here())


def current_expert() -> Expert | None:
    experts, _ = _experts()
    slug = st.session_state.get("expert", DEFAULT_EXPERT)
    return experts.get(slug) or experts.get(DEFAULT_EXPERT)


# -- conversation menu -------------------------------------------------------------------
def _export_markdown(messages: list[Message]) -> str:
    lines = ["# Ambient conversation", ""]
    for m in messages:
        who = {"user": "You", "assistant": "Assistant", "narration": "Progress"}[m.role]
        when = m.created_at.strftime("%Y-%m-%d %H:%M") if m.created_at else ""
        model = f" ({m.model})" if m.model else ""
        lines += [f"**{who}**{model} · {when}", "", m.content or "", ""]
    return "\n".join(lines)


def _export_json(messages: list[Message]) -> str:
    return json.dumps(
        [
            {"role": m.role, "content": m.content, "status": m.status, "tier": m.tier,
             "model": m.model, "created_at": m.created_at.isoformat() if m.created_at else None,
             "meta": m.meta}
            for m in messages
        ],
        indent=2,
        default=str,
    )


def _conversation_menu(db: Database, session_id: str, conversation_id: int) -> int:
    """The menu; returns how many messages the active conversation holds."""
    with st.popover("Conversations", icon=":material/forum:", width="stretch"):
        if pressed("New conversation", "chat_new", icon=":material/add:"):
            new_conversation(db, session_id)
            st.rerun()
        known = conversations(db, session_id)
        labels = {c.id: f"{c.title} ({c.messages})" for c in known}
        if conversation_id in labels:
            st.session_state.chat_switch = conversation_id  # follow the active conversation
        st.selectbox(
            "Switch to", list(labels), format_func=labels.get, key="chat_switch",
            on_change=lambda: switch_conversation(db, session_id, st.session_state.chat_switch),
        )
        # the count comes with the list (one query fewer on every run of every page)
        count = next((c.messages for c in known if c.id == conversation_id), None)
        if count is None:
            count = count_messages(db, session_id, conversation_id)
        left, right = st.columns(2)
        # Deferred: the conversation is read and formatted only when a download is asked for.
        left.download_button(
            "Markdown", lambda: _export_markdown(history(db, session_id,
                                                         conversation_id=conversation_id)),
            "conversation.md", "text/markdown", key="chat_export_md",
            icon=":material/download:", disabled=not count, on_click="ignore")
        right.download_button(
            "JSON", lambda: _export_json(history(db, session_id,
                                                 conversation_id=conversation_id)),
            "conversation.json", "application/json", key="chat_export_json",
            icon=":material/download:", disabled=not count, on_click="ignore")
        if ask_first("Clear this conversation", "chat_clear",
                     f"Delete all {count} messages of this conversation? This cannot be undone.",
                     yes="Yes, clear", icon=":material/delete:", disabled=not count):
            removed = clear_conversation(db, session_id, conversation_id)
            record_event(db, session_id, "form_submitted",
                         f"Cleared the conversation ({removed} messages)")
            st.rerun()
    return count


# -- pending destructive actions ---------------------------------------------------------
def _pending_actions(db: Database, session_id: str, message: Message) -> None:
    pending = message.meta.get("pending_actions") or []
    if not pending or message.meta.get("pending_resolved"):
        return
    context = actions.ActionContext(db, session_id, st.session_state.get("current_page"),
                                    user_turn=True, pages=page_titles())
    for index, item in enumerate(pending):
        answer = confirm_or_cancel(item["summary"], f"action_{message.id}_{index}")
        if answer:
            outcome = actions.confirm(context, actions.Proposal(item["name"], item["args"]))
            _resolve(db, message, outcome.message, outcome.ok)
            st.rerun()
        if answer is False:
            _resolve(db, message, f"Cancelled: {item['summary']}", True)
            st.rerun()


def _resolve(db: Database, message: Message, text: str, ok: bool) -> None:
    meta = message.meta | {
        "pending_resolved": True,
        "actions": [*message.meta.get("actions", []),
                    {"ok": ok, "message": text, "effect": None}],
    }
    update_message(db, message.id, content=message.content, status=message.status,
                   tier=message.tier, model=message.model, meta=meta)


def _doubts_and_verdict(db: Database, message: Message, last: bool,
                        verdicts: dict[str, str] | None = None) -> None:
    if message.meta.get("caution"):
        st.warning(message.meta["caution"], icon=":material/fact_check:")
        stronger = message.meta.get("stronger_tier")
        if last and stronger:
            click = pressed(f"Ask a stronger model ({stronger})", f"stronger_{message.id}",
                            icon=":material/trending_up:")
            if click:
                with click.redo_if_cut_short():
                    st.session_state.setdefault("chat_prompts", []).append(
                        {"reask": message.id, "tier": stronger})
    if verdicts is None:
        verdict(db, message)
    else:
        verdict(db, message, verdicts.get(message.meta.get("request_id", "")))


# -- live narration ----------------------------------------------------------------------
def _live_feed(db: Database, session_id: str, after_id: int) -> None:
    newer = [m for m in history(db, session_id, limit=20) if m.id > after_id]
    for message in newer:
        _render_message(message)


_live_fragment = st.fragment(_live_feed, run_every=2)


def _narration_expected(db: Database, session_id: str) -> bool:
    return bool(st.session_state.get("expect_narration")) or recent_narration(
        db, session_id, LIVE_SECONDS
    )


# -- the panel ---------------------------------------------------------------------------
def _expert_picker(names: dict[str, str]) -> None:
    """The expert, kept in ``?expert=<slug>`` so it survives a reload and a page switch.

    The widget's own default is the default expert, never the first option: when a page
    switch interrupts a session's first run, the browser can send back the widget's
    default, and "the first option" silently swapped the user's expert for another.
    """
    slugs = list(names)
    default = DEFAULT_EXPERT if DEFAULT_EXPERT in names else slugs[0]
    if st.session_state.get("expert") not in names:  # first run, a reload, or a deleted file
        wanted = st.query_params.get("expert")
        st.session_state.expert = wanted if wanted in names else default
    st.selectbox("Expert", slugs, index=slugs.index(default), format_func=names.get,
                 key="expert")
    keep_in_url("expert", st.session_state.expert)


def render_sidebar_chat(db: Database, session_id: str) -> None:
    in_flight = _replies_in_flight.get(session_id)
    if in_flight is not None:
        in_flight.wait(_REPLY_SETTLE_SECONDS)
    experts, problems = _experts()
    conversation_id = active_conversation(db, session_id)
    deliver_budget_alerts(db, session_id)  # 80 %/100 % of a budget: once, into this chat
    with st.sidebar:
        st.subheader("Assistant")
        names = {slug: e.name for slug, e in experts.items()}
        if names:
            _expert_picker(names)
        for problem in problems:
            st.caption(f":material/warning: {problem}")
        total = _conversation_menu(db, session_id, conversation_id)

        box = st.container(height=HISTORY_HEIGHT, key="chat_history")
        shown_key = f"chat_shown_{conversation_id}"
        shown = st.session_state.get(shown_key, FIRST_SHOWN)
        messages = history(db, session_id, limit=shown, conversation_id=conversation_id)
        with box:
            if len(messages) == shown and total > shown:
                st.caption(f"Showing the latest {shown:,} of {total:,} messages"
                           + (" (export the conversation for all of them)."
                              if shown >= MAX_SHOWN else "."))
                if shown < MAX_SHOWN and (more := pressed(
                        "Show earlier messages", "chat_earlier", type="tertiary",
                        icon=":material/expand_less:")):
                    with more.redo_if_cut_short():
                        st.session_state[shown_key] = min(shown + MORE_SHOWN, MAX_SHOWN)
                    st.rerun()
            if not messages:
                st.caption("Ask me anything about what you are doing in Ambient.")
            last_reply = next((m.id for m in reversed(messages) if m.role == "assistant"), None)
            # The thumbs of every drawn reply in one query, not one query per reply.
            verdicts = feedback_for_many(db, [
                m.meta["request_id"] for m in messages
                if m.role == "assistant" and m.status == "ok" and m.meta.get("request_id")])
            for message in messages:
                _render_message(message, db, last=message.id == last_reply, verdicts=verdicts)
            last_id = messages[-1].id if messages else 0
            if _narration_expected(db, session_id):
                _live_fragment(db, session_id, last_id)
        st.session_state[_SLOT] = box

        replies = [m for m in messages if m.role == "assistant"]
        if replies:
            _pending_actions(db, session_id, replies[-1])
            fill = replies[-1].meta.get("context_fill")
            if fill is not None:
                st.progress(min(float(fill), 1.0), text=replies[-1].meta.get("context", ""))

        # No max_chars: the browser would drop or cut a longer paste without a word. The
        # turn refuses it with the limit, and the text is shown back to copy.
        # A sent message waits in "chat_prompts" until it is answered; ``sent`` hands over
        # every message sent since, even when the runs that carried them were cut short.
        # The queue is fetched first: between ``sent`` and the append there is no yield.
        queue = st.session_state.setdefault("chat_prompts", [])
        queue.extend(sent("Message the assistant", "chat_input"))


_stops = itertools.count()  # keys of the Stop buttons: unique within a run, and across runs


_AFTER_REPLY = "after_reply"


def after_reply(refresh: Callable[[], None]) -> None:
    """Run ``refresh`` again once this run has answered a chat message: the reply streams
    after the page is drawn, so a figure the page drew before it (Home's "Model calls
    today") would otherwise be one call behind until the next run."""
    st.session_state[_AFTER_REPLY] = (st.session_state.get("current_page"), refresh)


def answer_pending_message(db: Database, session_id: str) -> None:
    """Stream the replies to the messages sent since the last answer, oldest first (after
    the page was drawn); then redraw what the page asked to (``after_reply``)."""
    page, refresh = st.session_state.pop(_AFTER_REPLY, None) or (None, None)
    queued = st.session_state.get("chat_prompts", [])
    answered = bool(queued)
    while queued:
        _answer(db, session_id, queued)
    if answered and refresh is not None and page == st.session_state.get("current_page"):
        refresh()


def _answer(db: Database, session_id: str, queued: list[str]) -> None:
    """Answer ``queued[0]``. It leaves the queue only once stored (or refused): a run
    interrupted before that leaves it for the next run."""
    box = st.session_state.get(_SLOT)
    prompt = queued[0]
    try:
        if isinstance(prompt, dict):  # "Ask a stronger model" on an earlier reply
            turn = _reask(db, session_id, prompt)
            prompt = turn.user_message.content
        else:
            turn = ChatTurn(db, session_id, prompt, router=router(), expert=current_expert(),
                            page=st.session_state.get("current_page"), pages=page_titles())
    except ChatInputError as exc:
        queued.pop(0)
        st.sidebar.warning(str(exc))
        if len(prompt) > MAX_USER_CHARS:  # keep it for the user: copy, shorten, send again
            st.sidebar.code(prompt, language=None, wrap_lines=True, height=160)
        return
    except ChatStorageError as exc:
        queued.pop(0)
        st.sidebar.error(str(exc))
        st.sidebar.code(prompt, language=None, wrap_lines=True)
        return
    queued.pop(0)
    with box:
        if turn.reasking is None:
            _render_message(turn.user_message)
        with st.chat_message("assistant"):
            stop = st.empty()
            # A plain button: its click acts by cutting this run (the stream) short; no run
            # reads its value, so there is nothing to keep (components/buttons.py).
            # One key per reply: a run answers every message still queued, one by one.
            stop.button("Stop", icon=":material/stop_circle:", key=f"chat_stop_{next(_stops)}")
            answer = turn.stream()
            settled = _replies_in_flight[session_id] = threading.Event()
            try:
                st.write_stream(answer)
            finally:
                # A click on Stop (or anywhere) interrupts this run; closing the stream here
                # stores the part that arrived, and the next run waits for that.
                answer.close()
                settled.set()
                if _replies_in_flight.get(session_id) is settled:
                    del _replies_in_flight[session_id]
            stop.empty()
            result = turn.result
            if result.error:
                st.error(result.error)
            for outcome in result.outcomes:
                (st.success if outcome.ok else st.warning)(outcome.message)
            if result.reply is not None and result.reply.status == "ok":
                _reply_captions(result.reply)
                _doubts_and_verdict(db, result.reply, last=True)
        for notice in deliver_budget_alerts(db, session_id):  # this reply reached one
            _render_message(notice)
    _apply_effects(result.effects)
    if result.pending:
        st.rerun()  # show the confirmation buttons


def _reask(db: Database, session_id: str, asked: dict) -> ChatTurn:
    reply = next((m for m in history(db, session_id, limit=MAX_SHOWN)
                  if m.id == asked.get("reask")), None)
    if reply is None:
        raise ChatInputError("That answer is no longer in the chat, so there is nothing to "
                             "re-ask; ask the question again.")
    return ChatTurn.reask(db, session_id, reply, str(asked.get("tier")), router=router(),
                          expert=current_expert(), page=st.session_state.get("current_page"),
                          pages=page_titles())


def _apply_effects(effects: list[dict]) -> None:
    cards = st.session_state.setdefault("cards", {})
    target = None
    for effect in effects:
        if effect.get("type") == "card":
            cards[str(effect.get("key"))] = bool(effect.get("expanded"))
        elif effect.get("type") == "navigate":
            target = page_path(str(effect.get("page", "")))
    if target:
        st.switch_page(target)
