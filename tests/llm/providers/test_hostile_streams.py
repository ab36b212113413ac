"""Servers that misbehave on the wire: endless output that ignores max_tokens, bytes that
are not UTF-8, escapes no database can store. Every reply stays bounded and storable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from llm.errors import BadOutput
from llm.health import TierHealth
from llm.providers.base import (
    ChatRequest,
    Provider,
    ReplyStream,
    clean_text,
    env_seconds,
    output_cap,
)
from llm.providers.cloud import CloudProvider
from llm.providers.ollama import OllamaProvider
from standins.ollama_server import FakeOllama, Reply
from standins.openai_server import FakeOpenAI, Flood, RawContent

KEY = "sk-hostile-streams-0123456789"
ASK = ChatRequest(messages=[{"role": "user", "content": "Describe the sea."}], max_tokens=50)


@pytest.fixture
def cloud() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def cloud_provider(fake: FakeOpenAI) -> CloudProvider:
    return CloudProvider(api_key=KEY, base_url=fake.base_url, timeout=10)


def settled(count: Callable[[], int]) -> int:
    """The value of ``count()`` once it stops changing (the server noticed the hang-up)."""
    last = count()
    for _ in range(50):
        time.sleep(0.1)
        now = count()
        if now == last:
            return now
        last = now
    raise AssertionError("the server never stopped sending")


def assert_cut_off(provider: Provider, limit: int) -> None:
    reply = provider.stream(ASK).collect()
    assert len(reply.text) == limit
    assert reply.finish_reason == "length"
    assert reply.usage.source == "estimated" and reply.usage.completion_tokens > 0


def test_a_cloud_server_that_ignores_max_tokens_is_cut_off_and_hung_up_on(
    cloud: FakeOpenAI,
) -> None:
    flood = Flood()  # never stops by itself
    cloud.enqueue(flood)
    assert_cut_off(cloud_provider(cloud), output_cap(ASK.max_tokens))
    sent = settled(lambda: cloud.flooded)
    # The client stopped reading: what the server managed to push is socket buffers'
    # worth, not the unbounded stream it meant to send.
    assert sent < 50_000


def test_an_ollama_server_that_ignores_num_predict_is_cut_off_and_hung_up_on() -> None:
    with FakeOllama() as fake:
        fake.enqueue(Reply.flooding("waves and more waves"))
        assert_cut_off(OllamaProvider(host=fake.host), output_cap(ASK.max_tokens))
        assert settled(lambda: fake.flooded) < 50_000


def test_a_bounded_honest_reply_is_not_touched(cloud: FakeOpenAI) -> None:
    cloud.enqueue("word " * 40)
    reply = cloud_provider(cloud).stream(ASK).collect()
    assert reply.text == "word " * 40 and reply.finish_reason == "stop"
    assert reply.usage.source == "reported"


def test_bytes_that_are_not_utf8_are_a_readable_error_not_a_crash(cloud: FakeOpenAI) -> None:
    cloud.enqueue(RawContent(b"\xff\xfe\xc3"))
    with pytest.raises(BadOutput, match="could not be read.*another tier"):
        cloud_provider(cloud).stream(ASK).collect()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"\\ud800", "Caf \ufffd  is open."),  # a lone surrogate: UTF-8 cannot encode it
        (b"\\udfff\\ud83d", "Caf \ufffd\ufffd  is open."),
        (b"\\u0000\\u0007\\u001b[31m", "Caf [31m  is open."),  # NUL, bell, escape
        (b"\\ud83d\\ude00", "Caf \U0001f600  is open."),  # a proper pair is kept
        (b"tab\\there\\nnew line", "Caf tab\there\nnew line  is open."),
    ],
)
def test_escapes_nothing_can_store_are_replaced_or_dropped(
    cloud: FakeOpenAI, raw: bytes, shown: str
) -> None:
    cloud.enqueue(RawContent(raw))
    reply = cloud_provider(cloud).stream(ASK).collect()
    assert reply.text == shown
    reply.text.encode("utf-8")  # storable: no lone surrogate left


def test_clean_text_leaves_ordinary_text_alone() -> None:
    text = "Ünïcödé, emoji \U0001f30a, tabs\tand\r\nnewlines — unchanged."
    assert clean_text(text) is text
    assert clean_text("a\x00b\x7fc\ud800") == "abc\ufffd"


def test_the_cap_applies_to_whatever_produces_pieces() -> None:
    pieces = iter(["x" * 100] * 1000)
    stream = ReplyStream(pieces, tier="t", provider="p", model="m", max_chars=250)
    assert "".join(stream) == "x" * 250
    assert stream.reply is not None and stream.reply.finish_reason == "length"


def test_a_rate_limited_tier_rests_for_as_long_as_it_asked() -> None:
    now = [1000.0]
    health = TierHealth(cooldown_after=3, cooldown_s=60, clock=lambda: now[0])
    assert health.record_failure("cloud", "429", retry_after=7)  # rests at once
    assert "rate limit" in health.resting_reason("cloud") and "7 s more" in health.resting_reason(
        "cloud"
    )
    now[0] += 7.5
    assert health.cooling_for("cloud") == 0 and health.resting_reason("cloud") == ""
    assert not health.record_failure("cloud", "500")  # one plain failure does not


@pytest.mark.parametrize(("raw", "expected"), [("", 60.0), ("2.5", 2.5), ("-1", 60.0),
                                               ("soon", 60.0), ("0", 60.0)])
def test_timeouts_come_from_the_environment_when_they_make_sense(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: float
) -> None:
    monkeypatch.setenv("AMBIENT_CLOUD_TIMEOUT", raw)
    assert env_seconds("AMBIENT_CLOUD_TIMEOUT", 60.0) == expected
    assert CloudProvider(api_key=KEY)._timeout == expected
