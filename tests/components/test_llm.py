"""``ask_for_text`` (Introduction's streamed texts) closes its model call when the run
showing it is cut short, so the call is booked and its connection closed at once, not
left to the garbage collector (which once hung the next run: tests/llm/test_cleanup.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator

import pytest
from sqlalchemy import select
from streamlit.runtime.scriptrunner import RerunData, RerunException

import components.llm
from llm import cleanup
from llm.prices import load_prices
from llm.providers.ollama import OllamaProvider
from llm.router import LLMRequest, Router, RouterSettings
from standins.ollama_server import FakeOllama, Reply
from store.db import Database
from store.models import LLMCallRow


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_run_cut_short_mid_answer_stops_and_books_the_call_at_once(
    db: Database, monkeypatch: pytest.MonkeyPatch, no_automatic_gc: None
) -> None:
    with FakeOllama() as fake:
        fake.enqueue(Reply.slow("Hello there, I am your assistant. " * 8, chunk_delay=0.05))
        routing = Router(db, providers={"local": OllamaProvider(host=fake.host, timeout=5)},
                         settings=RouterSettings(), prices=load_prices())
        monkeypatch.setattr(components.llm, "router", lambda: routing)

        def cut_short(pieces: Iterable[str], waiting: str) -> str:
            next(iter(pieces))  # the answer has started to show
            raise RerunException(RerunData())  # as Streamlit does at its next yield point

        monkeypatch.setattr(components.llm, "stream_with_elapsed", cut_short)
        request = LLMRequest(messages=[{"role": "user", "content": "Say hello"}],
                             tier="local", max_tokens=64)
        with pytest.raises(RerunException):
            components.llm.ask_for_text(request, "Writing…", "fallback")
        with db.read() as session:  # no collection has run: the with block booked it
            calls = session.scalars(select(LLMCallRow)).all()
        assert [(c.tier, c.status, c.error_text) for c in calls] == [
            ("local", "error", "The answer was stopped before it finished.")]
        assert cleanup.pending() == 0
