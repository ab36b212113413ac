"""Migration 0010: work made before sign-in existed belongs to the local user, and the
facts each browser session remembered become the local user's memory."""

from __future__ import annotations

from sqlalchemy import text

from store.db import make_engine, migrate

SID_A, SID_B = "a" * 32, "b" * 32


def test_upgrading_gives_every_earlier_row_to_the_local_user(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate(engine, "0009")
    with engine.begin() as c:
        for sid in (SID_A, SID_B):
            c.execute(text("INSERT INTO sessions (id, created_at, last_seen_at) "
                           "VALUES (:id, '2026-01-01', '2026-01-01')"), {"id": sid})
        c.execute(text("INSERT INTO conversations (session_id, title, created_at) "
                       "VALUES (:s, 'Earlier', '2026-01-01')"), {"s": SID_A})
        c.execute(text("INSERT INTO messages (session_id, conversation_id, role, content, "
                       "status, created_at) VALUES (:s, 1, 'user', 'hello', 'ok', '2026-01-01')"),
                  {"s": SID_A})
        c.execute(text("INSERT INTO tasks (session_id, title, notes, priority, status, position,"
                       " created_at, updated_at) VALUES (:s, 'Call Acme', '', 2, 'open', 1, "
                       "'2026-01-01', '2026-01-01')"), {"s": SID_B})
        c.execute(text("INSERT INTO llm_calls (created_at, request_id, attempt, session_id, "
                       "purpose, tier, provider, model, prompt_tokens, completion_tokens, "
                       "usage_source, cost_nusd, counterfactual_nusd, reserved_nusd, status, "
                       "route_reason) VALUES ('2026-01-01', 'r1', 1, :s, 'chat', 'cloud', "
                       "'openai', 'gpt-4o-mini', 1, 1, 'reported', 5, 5, 0, 'ok', '')"),
                  {"s": SID_A})
        # Two sessions remembered a name; the newer one is what the user said last.
        for sid, value, when in ((SID_A, "Ann", "2026-01-01"), (SID_B, "Annie", "2026-01-02")):
            c.execute(text("INSERT INTO memory (scope, key, value, updated_at) "
                           "VALUES (:scope, 'name', :value, :when)"),
                      {"scope": f"session:{sid}", "value": value, "when": when})
        c.execute(text("INSERT INTO memory (scope, key, value, updated_at) "
                       "VALUES ('session:' || :s, 'colour', 'green', '2026-01-01')"),
                  {"s": SID_A})
    migrate(engine)
    with engine.connect() as c:
        for table in ("sessions", "conversations", "messages", "tasks", "llm_calls"):
            owners = c.execute(text(f'SELECT DISTINCT "user" FROM {table}')).scalars().all()
            assert owners == ["local"], table
        memory = dict(c.execute(text("SELECT key, value FROM memory "
                                     "WHERE scope = 'user:local'")).all())
        leftover = c.execute(text("SELECT count(*) FROM memory "
                                  "WHERE scope LIKE 'session:%'")).scalar()
        admin = c.execute(text("SELECT admin FROM users WHERE name = 'local'")).scalar()
    assert memory == {"name": "Annie", "colour": "green"}
    assert leftover == 0
    assert admin
    engine.dispose()
