"""The cloud tier with the real ``openai`` client.

Against the real OpenAI-compatible server of llama-cpp-python serving SmolLM2 (started
once for this module, no key), and against the protocol-faithful fake in
``standins/openai_server.py`` for what the real server cannot produce (401, 429 with
Retry-After, 500, hangs, cut streams, an endpoint that takes json_schema).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest

from llm.errors import (
    AuthFailed,
    BadOutput,
    ContextTooLong,
    LLMError,
    ModelMissing,
    RateLimited,
    TimedOut,
    Unreachable,
)
from llm.providers.base import ChatRequest
from llm.providers.cloud import NOT_CONFIGURED, CloudProvider, _retry_after
from standins.openai_server import (
    ErrorReply,
    FakeOpenAI,
    Hang,
    StreamCut,
    context_length_exceeded,
    model_not_found,
    prompt_token_count,
    rate_limited,
    server_error,
)
from tests.llm.providers.llama_server import MODEL_ALIAS, LlamaServer

ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AMBIENT_CLOUD_MODEL", "AMBIENT_CLOUD_CONTEXT")
KEY = "sk-proj-Sup3rSecretKeyValue0123456789abcdefXYZ"
QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Name three colours."},
]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
PERSON = [{"role": "user", "content": "Invent a person. Reply in JSON with name and age."}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- real server


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    with LlamaServer() as server:
        yield server


@pytest.fixture(scope="module")
def served(llama: LlamaServer) -> Iterator[CloudProvider]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV:
            mp.delenv(name, raising=False)
        yield CloudProvider(base_url=llama.base_url, model=MODEL_ALIAS, timeout=120)


def raw_client(llama: LlamaServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=llama.base_url, api_key="not-needed", max_retries=0)


def test_the_helper_serves_smollm2_under_its_alias(llama: LlamaServer) -> None:
    assert llama.models() == [MODEL_ALIAS]
    assert llama.process is not None and llama.process.poll() is None
    command = llama.command()
    assert command[command.index("--n_threads") + 1] == "1"
    assert command[command.index("--n_ctx") + 1] == "2048"


def test_health_lists_the_served_model(served: CloudProvider) -> None:
    health = served.health()
    assert health.available, health.detail
    assert health.models == [MODEL_ALIAS]
    assert served.configured and served.models() == [MODEL_ALIAS]


def test_complete_reports_the_servers_usage(served: CloudProvider, llama: LlamaServer) -> None:
    request = ChatRequest(messages=QUESTION, max_tokens=20, temperature=0)
    reply = served.complete(request)
    direct = raw_client(llama).chat.completions.create(
        model=MODEL_ALIAS, messages=QUESTION, max_tokens=20, temperature=0
    )
    assert reply.text.strip() and reply.text == direct.choices[0].message.content
    assert (reply.tier, reply.provider, reply.model) == ("cloud", "openai", MODEL_ALIAS)
    assert reply.usage.source == "reported"
    assert direct.usage is not None
    assert reply.usage.prompt_tokens == direct.usage.prompt_tokens
    assert reply.usage.completion_tokens == direct.usage.completion_tokens
    assert reply.finish_reason == direct.choices[0].finish_reason


def test_streaming_yields_pieces_and_marks_missing_usage_as_estimated(
    served: CloudProvider,
) -> None:
    request = ChatRequest(messages=QUESTION, max_tokens=20, temperature=0)
    stream = served.stream(request)
    pieces = list(stream)
    reply = stream.reply
    assert reply is not None and len(pieces) > 3
    whole = served.complete(request)
    assert reply.text == "".join(pieces) == whole.text
    assert reply.model == MODEL_ALIAS and reply.finish_reason == whole.finish_reason
    # llama.cpp's server ignores stream_options.include_usage: the usage is an estimate.
    assert reply.usage.source == "estimated"
    assert reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 0
    assert reply.ttft_s is not None and reply.ttft_s <= reply.latency_s


def test_structured_output_falls_back_to_llama_cpps_form_and_remembers_it(
    llama: LlamaServer,
) -> None:
    provider = CloudProvider(base_url=llama.base_url, model=MODEL_ALIAS, timeout=120)
    assert provider.structured_form is None
    reply = provider.complete(ChatRequest(messages=PERSON, max_tokens=60, schema=SCHEMA))
    jsonschema.validate(json.loads(reply.text), SCHEMA)
    assert provider.structured_form == "json_object"

    sent: list[str] = []
    client = provider._get_client()
    create = client.chat.completions.create

    def spy(**kwargs: Any) -> Any:
        sent.append(kwargs["response_format"]["type"])
        return create(**kwargs)

    client.chat.completions.create = spy  # type: ignore[method-assign]
    stream = provider.stream(ChatRequest(messages=PERSON, max_tokens=60, schema=SCHEMA))
    jsonschema.validate(json.loads("".join(stream)), SCHEMA)
    assert sent == ["json_object"]


def test_forcing_json_schema_on_llama_cpp_is_a_mapped_error(llama: LlamaServer) -> None:
    provider = CloudProvider(base_url=llama.base_url, model=MODEL_ALIAS, structured="json_schema")
    with pytest.raises(LLMError) as caught:
        provider.complete(ChatRequest(messages=PERSON, max_tokens=20, schema=SCHEMA))
    assert caught.value.tier == "cloud" and "HTTP 500" in str(caught.value)
    assert provider.structured_form == "json_schema"


def test_a_too_long_prompt_on_the_real_server_is_context_too_long(served: CloudProvider) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ContextTooLong, match="start a new conversation"):
        served.complete(ChatRequest(messages=huge, max_tokens=10))


# --------------------------------------------------------------------------- fake server


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def cloud(fake: FakeOpenAI, **kwargs: Any) -> CloudProvider:
    options: dict[str, Any] = {"api_key": KEY, "base_url": fake.base_url, "timeout": 5.0}
    options.update(kwargs)
    return CloudProvider(**options)


def ask(provider: CloudProvider, **kwargs: Any) -> LLMError:
    """Run a streamed request that must fail; return the mapped error."""
    with pytest.raises(LLMError) as caught:
        provider.complete(ChatRequest(messages=QUESTION, **kwargs))
    stream = provider.stream(ChatRequest(messages=QUESTION, **kwargs))
    with pytest.raises(type(caught.value)):
        list(stream)
    return caught.value


def test_stream_sends_what_the_spec_says_and_reports_usage(fake: FakeOpenAI) -> None:
    fake.enqueue("Red, green and blue.")
    stream = cloud(fake).stream(ChatRequest(messages=QUESTION, max_tokens=50, temperature=0.2))
    pieces = list(stream)
    assert pieces == ["Red, ", "green ", "and ", "blue."]
    body = fake.last_request.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 50 and body["temperature"] == 0.2
    assert body["model"] == "gpt-4o-mini" and body["messages"] == QUESTION
    assert "response_format" not in body
    reply = stream.reply
    assert reply is not None and reply.usage.source == "reported"
    assert reply.usage.prompt_tokens == prompt_token_count(body)
    assert reply.usage.completion_tokens == 4
    assert reply.finish_reason == "stop" and reply.model == "gpt-4o-mini"


def test_a_truncated_answer_has_finish_reason_length(fake: FakeOpenAI) -> None:
    fake.enqueue("one two three four five six")
    reply = cloud(fake).stream(ChatRequest(messages=QUESTION, max_tokens=3)).collect()
    assert reply.text == "one two three " and reply.finish_reason == "length"
    assert reply.usage.completion_tokens == 3


def test_the_json_schema_form_goes_to_a_server_that_takes_it(fake: FakeOpenAI) -> None:
    fake.enqueue('{"name": "Ada", "age": 36}', '{"name": "Bob", "age": 7}')
    provider = cloud(fake)
    reply = provider.complete(ChatRequest(messages=PERSON, schema=SCHEMA))
    jsonschema.validate(json.loads(reply.text), SCHEMA)
    assert len(fake.chat_requests()) == 1
    assert fake.last_request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False},
    }
    assert provider.structured_form == "json_schema"
    provider.stream(ChatRequest(messages=PERSON, schema=SCHEMA)).collect()
    assert fake.last_request.body["response_format"]["type"] == "json_schema"


def llama_cpp_rejection() -> ErrorReply:
    """What llama-cpp-python's server answers to a json_schema response_format."""
    return ErrorReply(
        500,
        {
            "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
            "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
            "'input': 'json_schema'}",
            "type": "internal_server_error",
            "param": None,
            "code": None,
        },
    )


def test_auto_mode_retries_once_with_json_object_and_remembers(fake: FakeOpenAI) -> None:
    fake.enqueue(llama_cpp_rejection(), '{"name": "Ada", "age": 36}', '{"name": "B", "age": 1}')
    provider = cloud(fake)
    reply = provider.stream(ChatRequest(messages=PERSON, schema=SCHEMA)).collect()
    assert json.loads(reply.text) == {"name": "Ada", "age": 36}
    forms = [r.body["response_format"] for r in fake.chat_requests()]
    assert [f["type"] for f in forms] == ["json_schema", "json_object"]
    assert forms[1] == {"type": "json_object", "schema": SCHEMA}
    assert provider.structured_form == "json_object"
    provider.complete(ChatRequest(messages=PERSON, schema=SCHEMA))
    forms = [r.body["response_format"]["type"] for r in fake.chat_requests()]
    assert forms == ["json_schema", "json_object", "json_object"]


def test_a_forced_form_is_never_negotiated(fake: FakeOpenAI) -> None:
    fake.enqueue(llama_cpp_rejection())
    provider = cloud(fake, structured="json_schema")
    with pytest.raises(Unreachable, match="HTTP 500"):
        provider.complete(ChatRequest(messages=PERSON, schema=SCHEMA))
    assert len(fake.chat_requests()) == 1
    fake.enqueue('{"name": "Ada", "age": 36}')
    cloud(fake, structured="json_object").complete(ChatRequest(messages=PERSON, schema=SCHEMA))
    assert fake.last_request.body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    with pytest.raises(ValueError):
        cloud(fake, structured="xml")


def test_an_invalid_schema_is_not_a_reason_to_change_form(fake: FakeOpenAI) -> None:
    fake.enqueue(
        ErrorReply(
            400,
            {
                "message": "Invalid schema for response_format 'answer': In context=(), "
                "'required' is required to be supplied.",
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            },
        )
    )
    provider = cloud(fake)
    with pytest.raises(BadOutput, match="HTTP 400.*Invalid schema"):
        provider.complete(ChatRequest(messages=PERSON, schema=SCHEMA))
    assert len(fake.chat_requests()) == 1 and provider.structured_form is None


def test_401_is_auth_failed_and_never_shows_the_key() -> None:
    with FakeOpenAI(api_key="sk-the-right-key-0000000000") as fake:
        provider = cloud(fake)
        error = ask(provider)
        assert isinstance(error, AuthFailed)
        assert (error.tier, error.provider) == ("cloud", "openai")
        assert "OPENAI_API_KEY" in str(error) and "401" in str(error)
        health = provider.health()
    assert not health.available and "refused the API key" in health.detail
    for text in (str(error), repr(error), health.detail):
        assert KEY not in text and KEY[-4:] not in text and KEY[:8] not in text
    # The client's exception (its request carries the Authorization header) is not chained.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_server_messages_are_scrubbed_of_the_key(fake: FakeOpenAI) -> None:
    echo = {"type": "invalid_request_error", "param": None, "code": None}
    fake.enqueue(
        ErrorReply(400, {**echo, "message": f"Header 'Authorization: Bearer {KEY}' is odd."}),
        ErrorReply(422, {**echo, "message": f"Unknown key {KEY}."}),
        ErrorReply(500, {**echo, "message": "Incorrect API key provided: sk-proj-Sup***XYZ."}),
    )
    provider = cloud(fake)
    errors = []
    for _ in range(3):
        with pytest.raises(LLMError) as caught:
            provider.complete(ChatRequest(messages=QUESTION))
        errors.append(caught.value)
    assert [type(e) for e in errors] == [BadOutput, BadOutput, Unreachable]
    for error in errors:
        assert KEY not in str(error) and "Sup" not in str(error) and "***" in str(error)
    assert "HTTP 422" in str(errors[1]) and "Unknown key ***" in str(errors[1])


def test_429_is_rate_limited_with_retry_after(fake: FakeOpenAI) -> None:
    fake.set_fault(rate_limited(retry_after=7))
    error = ask(cloud(fake))
    assert isinstance(error, RateLimited) and error.retry_after == 7
    assert "retry in 7 s" in str(error)
    assert len(fake.chat_requests()) == 2  # max_retries=0: the router is the only retry loop


def test_retry_after_ms_wins_and_http_dates_are_understood(fake: FakeOpenAI) -> None:
    fake.enqueue(rate_limited(retry_after=7, retry_after_ms=1500))
    with pytest.raises(RateLimited) as caught:
        cloud(fake).complete(ChatRequest(messages=QUESTION))
    assert caught.value.retry_after == 1.5
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.enqueue(ErrorReply(429, {"message": "slow down", "code": None}, (("Retry-After", date),)))
    with pytest.raises(RateLimited) as caught:
        cloud(fake).complete(ChatRequest(messages=QUESTION))
    assert caught.value.retry_after == pytest.approx(30, abs=2)
    fake.enqueue(rate_limited(retry_after=None))
    with pytest.raises(RateLimited, match="wait a moment") as caught:
        cloud(fake).complete(ChatRequest(messages=QUESTION))
    assert caught.value.retry_after is None

    class Response:
        headers = {"retry-after": "not a date"}

    assert _retry_after(Response()) is None


def test_500_is_unreachable_naming_the_status(fake: FakeOpenAI) -> None:
    fake.set_fault(server_error())
    error = ask(cloud(fake))
    assert isinstance(error, Unreachable)
    assert "HTTP 500" in str(error) and "try again later" in str(error)


def test_a_hang_times_out_quickly(fake: FakeOpenAI) -> None:
    fake.set_fault(Hang())
    started = time.monotonic()
    error = ask(cloud(fake, timeout=0.5))
    assert isinstance(error, TimedOut) and "0.5 s" in str(error)
    assert time.monotonic() - started < 4
    started = time.monotonic()
    with pytest.raises(TimedOut):
        cloud(fake).complete(ChatRequest(messages=QUESTION, timeout=0.3))  # per request
    assert time.monotonic() - started < 2


def test_context_length_exceeded_is_context_too_long(fake: FakeOpenAI) -> None:
    fake.set_fault(context_length_exceeded())
    error = ask(cloud(fake))
    assert isinstance(error, ContextTooLong) and "maximum context length" in str(error)


def test_model_not_found_is_model_missing_naming_the_model(fake: FakeOpenAI) -> None:
    fake.reject_unknown_models = True
    error = ask(cloud(fake, model="gpt-nonexistent"))
    assert isinstance(error, ModelMissing) and "'gpt-nonexistent'" in str(error)
    fake.enqueue(model_not_found("gpt-4o"))
    with pytest.raises(ModelMissing, match="'gpt-4o'"):
        cloud(fake).complete(ChatRequest(messages=QUESTION, model="gpt-4o"))


def test_a_wrong_base_url_is_not_a_missing_model(fake: FakeOpenAI) -> None:
    provider = cloud(fake, base_url=fake.base_url.removesuffix("/v1"))
    with pytest.raises(Unreachable, match="HTTP 404.*OPENAI_BASE_URL"):
        provider.complete(ChatRequest(messages=QUESTION))


def test_a_cut_stream_keeps_the_partial_text(fake: FakeOpenAI) -> None:
    fake.enqueue(StreamCut(content="one two three four five", after_chunks=2))
    stream = cloud(fake).stream(ChatRequest(messages=QUESTION))
    pieces: list[str] = []
    with pytest.raises(Unreachable, match="broke mid-answer.*partial answer is kept"):
        for piece in stream:
            pieces.append(piece)
    assert pieces == ["one ", "two "] and stream.text == "one two "


def test_a_stalled_stream_times_out_and_keeps_the_partial_text(fake: FakeOpenAI) -> None:
    fake.enqueue(StreamCut(content="one two three", after_chunks=1, stall_seconds=None))
    stream = cloud(fake, timeout=0.5).stream(ChatRequest(messages=QUESTION))
    with pytest.raises(TimedOut, match="partial answer is kept"):
        list(stream)
    assert stream.text == "one "


def test_an_endpoint_that_is_down_is_unreachable_naming_it() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url
    provider = CloudProvider(base_url=url, connect_timeout=1)
    with pytest.raises(Unreachable, match=url.replace(".", r"\.")):
        provider.complete(ChatRequest(messages=QUESTION))
    health = provider.health()
    assert not health.available and url in health.detail


def test_a_local_endpoint_needs_no_key(fake: FakeOpenAI) -> None:
    provider = CloudProvider(base_url=fake.base_url)
    assert provider.configured
    assert provider.complete(ChatRequest(messages=QUESTION)).text
    assert fake.last_request.headers["authorization"] == "Bearer not-needed"
    health = provider.health()
    assert health.available and health.models == ["gpt-4o", "gpt-4o-mini"]


def test_settings_come_from_the_environment(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("AMBIENT_CLOUD_MODEL", "gpt-4o")
    provider = CloudProvider()
    assert provider.default_model() == "gpt-4o"
    provider.complete(ChatRequest(messages=QUESTION))
    assert fake.last_request.headers["authorization"] == f"Bearer {KEY}"
    assert fake.last_request.body["model"] == "gpt-4o"
    assert provider.context_window() == 128_000


def test_not_configured_says_how_to_configure() -> None:
    provider = CloudProvider()
    assert not provider.configured
    assert provider.default_model() == "gpt-4o-mini"
    health = provider.health()
    assert not health.available and health.detail == NOT_CONFIGURED
    with pytest.raises(Unreachable, match="OPENAI_API_KEY"):
        provider.stream(ChatRequest(messages=QUESTION))


def test_the_key_never_appears_in_repr() -> None:
    provider = CloudProvider(api_key=KEY, base_url="https://user:pw@example.test/v1")
    for text in (repr(provider), str(provider)):
        assert KEY not in text and KEY[:8] not in text and "pw" not in text
        assert "api_key=set" in text and "example.test" in text
    assert "api_key=not set" in repr(CloudProvider(base_url="http://127.0.0.1:1/v1"))


def test_closing_a_stream_early_stops_reading(fake: FakeOpenAI) -> None:
    fake.enqueue("one two three four five six seven eight")
    stream = cloud(fake).stream(ChatRequest(messages=QUESTION))
    iterator = iter(stream)
    assert next(iterator) == "one "
    stream.close()
    assert stream.text == "one " and stream.reply is None
    fake.enqueue("again")
    assert cloud(fake).complete(ChatRequest(messages=QUESTION)).text == "again"
