"""Twenty sessions at once: chat turns and interaction events, on SQLite (WAL) and, in CI,
PostgreSQL — no "database is locked", no lost rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from assistant.turn import ChatTurn
from core.events import record_event
from core.experts import Expert
from core.sessions import ensure_session
from llm.providers.ollama import OllamaProvider
from llm.router import Router, RouterSettings
from standins.ollama_server import FakeOllama
from store.db import Database
from store.models import EventRow, LLMCallRow, MessageRow

SESSIONS, TURNS, EVENTS = 20, 3, 100
TESTER = Expert(slug="tester", name="Tester", description="", system_prompt="Be brief.",
                tier="local", temperature=0.1, purpose="analyze")


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(default_reply="Short answer.") as fake:
        yield fake


def test_twenty_sessions_at_once_lose_nothing(db: Database, ollama: FakeOllama) -> None:
    router = Router(db, providers={"local": OllamaProvider(host=ollama.host, timeout=30)},
                    settings=RouterSettings())
    start = threading.Barrier(SESSIONS)
    failures: list[str] = []

    def one_session(n: int) -> None:
        try:
            sid = ensure_session(db, None)
            start.wait(timeout=30)
            for t in range(TURNS):
                turn = ChatTurn(db, sid, f"Question {t} from session {n}", router=router,
                                expert=TESTER)
                answer = "".join(turn.stream())
                if turn.result.error or not answer:
                    failures.append(f"session {n} turn {t}: {turn.result.error}")
                for e in range(EVENTS // TURNS + 1):
                    record_event(db, sid, "step_completed", f"Step {e} of turn {t}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported below
            failures.append(f"session {n}: {exc.__class__.__name__}: {exc}")

    threads = [threading.Thread(target=one_session, args=(n,)) for n in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []
    with db.read() as s:
        messages = s.scalar(select(func.count()).select_from(MessageRow))
        events = s.scalar(select(func.count()).select_from(EventRow))
        calls = s.scalar(select(func.count()).select_from(LLMCallRow))
    assert messages == SESSIONS * TURNS * 2
    assert events == SESSIONS * TURNS * (EVENTS // TURNS + 1)
    assert calls == SESSIONS * TURNS
