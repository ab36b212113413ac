"""The built context stays inside the window however long the history is."""

from __future__ import annotations

from assistant.turn import REPLY_TOKENS, build_context
from core.experts import load_expert
from core.memory import remember, scope_for
from llm.providers import get_provider
from standins.ledger_seed import seed_history
from store.db import Database


def test_five_thousand_messages_and_twenty_thousand_events_fit_the_window(
    db: Database,
) -> None:
    sid = seed_history(db, messages=5_000, events=20_000)
    remember(db, scope_for(db, sid), "name", "Ann")
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
