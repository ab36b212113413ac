"""The built context stays inside the window however long the history is."""

from __future__ import annotations

from sqlalchemy import insert

from core.assistant import REPLY_TOKENS, build_context
from core.conversation import active_conversation
from core.db import Database, utcnow
from core.experts import load_expert
from core.memory import remember, scope_for
from core.models import EventRow, MessageRow
from core.sessions import ensure_session
from llm.providers import get_provider


def test_five_thousand_messages_and_twenty_thousand_events_fit_the_window(
    db: Database,
) -> None:
    sid = ensure_session(db, None)
    conversation = active_conversation(db, sid)
    now = utcnow()
    with db.write() as s:
        s.execute(insert(MessageRow), [
            {"session_id": sid, "conversation_id": conversation,
             "role": "user" if i % 2 == 0 else "assistant",
             "content": f"Message number {i} about competitor analysis and link graphs.",
             "status": "ok", "created_at": now}
            for i in range(5000)
        ])
        s.execute(insert(EventRow), [
            {"session_id": sid, "kind": "step_completed", "page": "Tasks",
             "summary": f"Completed step {i}", "created_at": now}
            for i in range(20000)
        ])
    remember(db, scope_for(sid), "name", "Ann")
    provider = get_provider("embedded")
    expert = load_expert()
    context = build_context(db, sid, provider, expert)
    window = provider.context_window()
    assert context.used_tokens + REPLY_TOKENS <= window
    assert context.messages[0]["role"] == "system"
    assert context.messages[0]["content"].startswith(expert.system_prompt.strip())
    assert "- name: Ann" in context.messages[0]["content"]
    assert "Completed step 19999" in context.messages[0]["content"]  # the newest event
    assert "Completed step 0" not in context.messages[0]["content"]
    assert context.messages[-1]["content"].startswith("Message number 4999 ")
    kept = len(context.messages) - 1
    assert context.dropped_messages == 5000 - kept > 4000
    assert f"{5000 - kept:,} older messages left out" in context.describe()
    assert context.exact  # SmolLM2's own tokenizer counted it
    tokens = provider.count_tokens("\n".join(m["content"] for m in context.messages))[0]
    assert tokens <= context.used_tokens
