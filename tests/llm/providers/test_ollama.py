"""The local tier: OllamaProvider with the real ``ollama`` client against FakeOllama."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from llm.errors import (
    BadOutput,
    ContextTooLong,
    LLMError,
    ModelMissing,
    TimedOut,
    Unreachable,
)
from llm.providers.base import ChatRequest
from llm.providers.ollama import OllamaProvider
from standins.ollama_server import (
    NOT_FOUND_PULL_HINT,
    FakeOllama,
    ModelSpec,
    Reply,
    closed_port_host,
    count_prompt_tokens,
)

HELLO = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma2:2b", "llama3.2:1b"]) as server:
        yield server


@pytest.fixture
def ollama(fake: FakeOllama) -> OllamaProvider:
    return OllamaProvider(host=fake.host, model="gemma2:2b", timeout=5)


def ask(**kw: object) -> ChatRequest:
    return ChatRequest(messages=HELLO, **kw)  # type: ignore[arg-type]


def failure(stream_or_call: object) -> LLMError:
    """Run a stream (or a callable) to the end and return the llm error it raised."""
    with pytest.raises(LLMError) as caught:
        if callable(stream_or_call):
            stream_or_call()
        else:
            stream_or_call.collect()  # type: ignore[attr-defined]
    error = caught.value
    assert error.tier == "local" and error.provider == "ollama"
    return error


# -- streaming and usage ----------------------------------------------------------------


def test_it_streams_text_and_reports_ollamas_token_counts(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue("Hello there, friend!")
    stream = ollama.stream(ask())
    pieces = list(stream)
    reply = stream.reply
    assert pieces == ["Hello", " there,", " friend!"]
    assert reply is not None and reply.text == "Hello there, friend!"
    assert (reply.tier, reply.provider, reply.model) == ("local", "ollama", "gemma2:2b")
    assert reply.usage.source == "reported"
    assert reply.usage.prompt_tokens == count_prompt_tokens(m["content"] for m in HELLO)
    assert reply.usage.completion_tokens == 3
    assert reply.finish_reason == "stop"
    body = fake.last_request("/api/chat").body
    assert body["model"] == "gemma2:2b" and body["stream"] is True
    assert body["messages"] == HELLO


def test_a_model_in_the_request_overrides_the_default(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    reply = ollama.complete(ask(model="llama3.2:1b"))
    assert reply.model == "llama3.2:1b" and reply.text == "Echo: Say hello."
    assert fake.last_request("/api/chat").body["model"] == "llama3.2:1b"


def test_structured_output_sends_the_schema_as_format(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}},
        "required": ["colour"],
    }
    fake.enqueue('{"colour": "blue"}')
    reply = ollama.complete(ask(schema=schema))
    assert json.loads(reply.text) == {"colour": "blue"}
    assert fake.last_request("/api/chat").format == schema


def test_a_request_without_schema_sends_no_format(fake: FakeOllama, ollama: OllamaProvider) -> None:
    ollama.complete(ask())
    assert "format" not in fake.last_request("/api/chat").body


@pytest.mark.parametrize(
    ("model", "num_ctx", "sent"),
    [
        ("gemma2:2b", None, 8192),  # the model's own 8192
        ("llama3.2:1b", None, 8192),  # 131072 capped at the default 8192
        ("llama3.2:1b", 2048, 2048),  # capped at the configured num_ctx
        ("llama3.2:1b", 32768, 32768),  # a larger num_ctx is allowed when the model has it
        ("gemma2:2b", 32768, 8192),  # but never more than the model's own length
    ],
)
def test_num_ctx_num_predict_and_temperature_are_always_sent(
    fake: FakeOllama, model: str, num_ctx: int | None, sent: int
) -> None:
    provider = OllamaProvider(host=fake.host, model=model, timeout=5, num_ctx=num_ctx)
    provider.complete(ask(max_tokens=77, temperature=0.2))
    options = fake.last_request("/api/chat").options
    assert options == {"num_ctx": sent, "num_predict": 77, "temperature": 0.2}
    assert provider.context_window(model) == sent


def test_num_predict_truncation_is_reported_as_length(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue("one two three four five")
    reply = ollama.complete(ask(max_tokens=2))
    assert reply.text == "one two"
    assert reply.finish_reason == "length"
    assert reply.usage.completion_tokens == 2 and reply.usage.source == "reported"


def test_closing_a_stream_early_closes_the_connection(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue(Reply.slow("a b c d e f g h i j", chunk_delay=0.1))
    stream = ollama.stream(ask())
    assert next(iter(stream)) == "a"
    stream.close()
    deadline = time.monotonic() + 3
    while fake.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.open_connections == 0


# -- context window ----------------------------------------------------------------------


def test_context_window_comes_from_api_show_and_is_cached(fake: FakeOllama) -> None:
    fake.set_models([ModelSpec(name="tiny:1b", architecture="qwen2", context_length=2048)])
    provider = OllamaProvider(host=fake.host, model="tiny:1b")
    assert provider.context_window() == 2048
    assert provider.context_window("tiny:1b") == 2048
    shows = fake.requests_to("/api/show")
    assert len(shows) == 1 and shows[0].body["model"] == "tiny:1b"
    provider.complete(ask())
    assert fake.last_request("/api/chat").options["num_ctx"] == 2048
    assert len(fake.requests_to("/api/show")) == 1


def test_context_window_falls_back_to_8192_when_unknown(fake: FakeOllama) -> None:
    assert OllamaProvider(host=fake.host).context_window("not-installed:7b") == 8192
    assert OllamaProvider(host=closed_port_host()).context_window() == 8192
    assert OllamaProvider(host=closed_port_host(), num_ctx=1024).context_window() == 1024


def test_token_counts_are_estimates(ollama: OllamaProvider) -> None:
    assert ollama.count_tokens("twelve chars") == (3, False)


# -- health and configuration ------------------------------------------------------------


def test_health_lists_the_installed_models(fake: FakeOllama, ollama: OllamaProvider) -> None:
    health = ollama.health()
    assert health.available
    assert health.models == ["gemma2:2b", "llama3.2:1b"]
    assert health.detail == f"Ollama at {fake.host}: 2 models installed."
    assert ollama.models() == ["gemma2:2b", "llama3.2:1b"]


def test_health_reports_a_missing_default_model(fake: FakeOllama) -> None:
    fake.set_models(["llama3.2:1b"])
    health = OllamaProvider(host=fake.host, model="gemma2:2b").health()
    assert health.available and health.models == ["llama3.2:1b"]
    assert "1 model installed" in health.detail
    assert "gemma2:2b is not installed — run `ollama pull gemma2:2b`" in health.detail


def test_health_matches_a_default_model_without_tag(fake: FakeOllama) -> None:
    fake.set_models(["mistral:latest"])
    assert "not installed" not in OllamaProvider(host=fake.host, model="mistral").health().detail


def test_host_and_model_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("AMBIENT_OLLAMA_MODEL", raising=False)
    provider = OllamaProvider()
    assert (provider.host, provider.default_model()) == ("http://127.0.0.1:11434", "gemma2:2b")
    monkeypatch.setenv("AMBIENT_OLLAMA_MODEL", "llama3.2:3b")
    for value, expected in [
        ("0.0.0.0:11434", "http://0.0.0.0:11434"),
        ("myhost", "http://myhost:11434"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
    ]:
        monkeypatch.setenv("OLLAMA_HOST", value)
        provider = OllamaProvider()
        assert provider.host == expected
        assert provider.default_model() == "llama3.2:3b"
    assert OllamaProvider("other:1234", "phi3").host == "http://other:1234"


# -- errors ------------------------------------------------------------------------------


def test_ollama_not_running_makes_health_unavailable() -> None:
    host = closed_port_host()
    health = OllamaProvider(host=host).health()
    assert not health.available and health.models == []
    assert health.detail == f"Ollama is not running at {host} — start it with `ollama serve`."
    error = failure(OllamaProvider(host=host).models)
    assert isinstance(error, Unreachable)


def test_ollama_not_running_makes_a_stream_unreachable() -> None:
    host = closed_port_host()
    error = failure(OllamaProvider(host=host).stream(ask()))
    assert isinstance(error, Unreachable)
    assert str(error) == f"Ollama is not running at {host} — start it with `ollama serve`."


def test_ollama_gone_after_first_use_is_unreachable_at_stream_start(fake: FakeOllama) -> None:
    provider = OllamaProvider(host=fake.host)
    provider.complete(ask())  # the context length is now cached: no /api/show next time
    fake.stop()
    error = failure(provider.stream(ask()))
    assert isinstance(error, Unreachable) and "`ollama serve`" in str(error)


def test_a_missing_model_names_the_model_and_ollama_pull(fake: FakeOllama) -> None:
    provider = OllamaProvider(host=fake.host, model="qwen2.5:0.5b")
    error = failure(provider.stream(ask()))
    assert isinstance(error, ModelMissing)
    assert str(error) == (
        f"The model qwen2.5:0.5b is not installed in Ollama at {fake.host} — run "
        "`ollama pull qwen2.5:0.5b`."
    )


def test_a_404_from_chat_itself_is_a_missing_model(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    ollama.context_window()  # /api/show succeeds and is cached
    fake.enqueue(Reply.http_error(404, NOT_FOUND_PULL_HINT.format(model="gemma2:2b")))
    error = failure(ollama.stream(ask()))
    assert isinstance(error, ModelMissing) and "`ollama pull gemma2:2b`" in str(error)


def test_an_error_line_mid_stream_keeps_the_partial_text(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue(Reply.error_mid_stream("one two three four", after=2, error="runner died"))
    stream = ollama.stream(ask())
    error = failure(stream)
    assert isinstance(error, Unreachable)
    assert str(error) == "Ollama stopped in the middle of the answer: runner died; try again."
    assert stream.text == "one two"
    assert stream.reply is None


def test_an_error_line_before_any_text_says_the_model_could_not_run(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue(Reply.error_mid_stream("one two", after=0, error="out of memory"))
    error = failure(ollama.stream(ask()))
    assert isinstance(error, Unreachable)
    assert "could not run gemma2:2b: out of memory" in str(error)


def test_a_cut_stream_is_unreachable_and_keeps_the_partial_text(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue(Reply.cut_mid_stream("one two three four", after=3))
    stream = ollama.stream(ask())
    error = failure(stream)
    assert isinstance(error, Unreachable)
    assert "broke in the middle of the answer" in str(error)
    assert stream.text == "one two three"


@pytest.mark.parametrize(
    "slow",
    [Reply.slow("late", first_byte_delay=5), Reply.slow("one two three", chunk_delay=5)],
    ids=["first-byte", "between-chunks"],
)
def test_a_slow_server_times_out_within_the_configured_timeout(
    fake: FakeOllama, slow: Reply
) -> None:
    provider = OllamaProvider(host=fake.host, timeout=0.5)
    provider.context_window()  # keep /api/show out of the timing
    fake.enqueue(slow)
    started = time.monotonic()
    error = failure(provider.stream(ask()))
    assert time.monotonic() - started < 2
    assert isinstance(error, TimedOut) and "within 0.5 s" in str(error)


def test_a_request_timeout_overrides_the_providers(
    fake: FakeOllama, ollama: OllamaProvider
) -> None:
    fake.enqueue(Reply.slow("late", first_byte_delay=5))
    started = time.monotonic()
    error = failure(ollama.stream(ask(timeout=0.3)))
    assert time.monotonic() - started < 2
    assert isinstance(error, TimedOut) and "within 0.3 s" in str(error)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (500, "llama runner process has terminated: signal: killed", Unreachable),
        (400, "invalid JSON schema in format", BadOutput),
        (400, "input length exceeds maximum context length", ContextTooLong),
    ],
)
def test_http_errors_are_mapped(
    fake: FakeOllama,
    ollama: OllamaProvider,
    status: int,
    message: str,
    expected: type[LLMError],
) -> None:
    fake.enqueue(Reply.http_error(status, message))
    error = failure(ollama.stream(ask()))
    assert type(error) is expected
    assert message in str(error)
