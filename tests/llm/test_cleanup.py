"""A model answer given up halfway (its Streamlit run cut short) never hangs a thread.

Seen in the browser: "Say hello" cut short, and the page's next run hung for good. The
abandoned answer (a router generator in a reference cycle with its ``RoutedStream``) was
finalised by Python's cycle collector while that run's thread sat inside httpx's
connection-pool lock, starting the next request on the same Ollama client; closing the old
response takes that lock too. These tests hold that lock, collect, and time out instead of
hanging if the cleanup runs inline again."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from llm import cleanup, reports
from llm.prices import load_prices
from llm.providers.cloud import CloudProvider
from llm.providers.ollama import OllamaProvider
from llm.router import LLMRequest, Router, RouterSettings
from standins.ollama_server import FakeOllama, Reply
from standins.openai_server import FakeOpenAI
from store.db import Database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """Collections only where the test calls ``gc.collect()``."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _ask(tier: str) -> LLMRequest:
    return LLMRequest(messages=[{"role": "user", "content": "Say hello"}], tier=tier,
                      max_tokens=64)


def _statuses(db: Database, request_id: str) -> list[tuple[str, str, str | None]]:
    return [(r.tier, r.status, r.error_text)
            for r in reports.calls_for_request(db, request_id)]


def _collect_holding(lock: threading.Lock) -> bool:
    """In another thread: take ``lock`` (as httpx does around a request), run a garbage
    collection, let go. False if that thread is still stuck after 10 s."""
    finished = threading.Event()

    def work() -> None:
        with lock:
            gc.collect()
        finished.set()

    threading.Thread(target=work, daemon=True).start()
    return finished.wait(10)


def _abandon_after_one_piece(router: Router, tier: str) -> str:
    stream = router.stream(_ask(tier))
    first = next(piece for piece in stream if isinstance(piece, str))
    assert first  # the answer is streaming: its response is open
    request_id = stream.request_id
    del stream  # given up halfway: only the reference cycle keeps it
    return request_id


def test_release_runs_at_once_outside_a_collection() -> None:
    ran: list[str] = []
    cleanup.release(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name]


def test_release_inside_a_collection_runs_on_the_helper_thread(no_automatic_gc: None) -> None:
    ran: list[tuple[str, bool]] = []

    class Abandoned:
        def __del__(self) -> None:  # a finaliser, run by the collector
            cleanup.release(lambda: ran.append((threading.current_thread().name,
                                                cleanup.collecting())))

    loop = Abandoned()
    loop.me = loop  # type: ignore[attr-defined]
    del loop
    gc.collect()
    assert cleanup.drain()
    assert ran == [("ambient-stream-cleanup", False)]
    assert not cleanup.collecting()


def test_an_abandoned_ollama_answer_collected_inside_the_pool_lock_does_not_hang(
    db: Database, no_automatic_gc: None
) -> None:
    with FakeOllama() as fake:
        fake.enqueue(Reply.slow("Hello there, I am your assistant. " * 8, chunk_delay=0.05))
        provider = OllamaProvider(host=fake.host, timeout=5)
        router = Router(db, providers={"local": provider}, settings=RouterSettings(),
                        prices=load_prices())
        request_id = _abandon_after_one_piece(router, "local")
        pool = provider._client_for(5)._client._transport._pool  # the client's one pool
        assert _collect_holding(pool._optional_thread_lock._lock), (
            "the collector's cleanup of the abandoned answer hung on httpx's pool lock")
        assert cleanup.drain()
        assert cleanup.pending() == 0  # the library's stream was closed, not leaked
        assert ("local", "error", "The answer was stopped before it finished.") in (
            _statuses(db, request_id))


def test_an_abandoned_cloud_answer_collected_inside_the_pool_lock_does_not_hang(
    db: Database, no_automatic_gc: None
) -> None:
    with FakeOpenAI(default_reply="Hello there, I am your assistant. " * 40) as fake:
        provider = CloudProvider(api_key="sk-test-key", base_url=fake.base_url, timeout=5)
        router = Router(db, providers={"cloud": provider}, settings=RouterSettings(),
                        prices=load_prices())
        request_id = _abandon_after_one_piece(router, "cloud")
        pool = provider._get_client()._client._transport._pool
        assert _collect_holding(pool._optional_thread_lock._lock)
        assert cleanup.drain()
        assert cleanup.pending() == 0
        assert [s for _, s, _ in _statuses(db, request_id)] == ["error"]


def test_a_stream_used_as_a_context_closes_when_its_run_is_cut_short(
    db: Database, no_automatic_gc: None
) -> None:
    with FakeOllama() as fake:
        fake.enqueue(Reply.slow("Hello there, I am your assistant. " * 8, chunk_delay=0.05))
        router = Router(db, providers={"local": OllamaProvider(host=fake.host, timeout=5)},
                        settings=RouterSettings(), prices=load_prices())
        with pytest.raises(KeyboardInterrupt), router.stream(_ask("local")) as stream:
            next(iter(stream))
            raise KeyboardInterrupt  # stands for Streamlit's RerunException
        # Booked at once, with no collection: the with block closed it.
        assert [s for _, s, _ in _statuses(db, stream.request_id)] == ["error"]
        assert cleanup.pending() == 0
