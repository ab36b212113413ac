"""The fake OpenAI server, exercised with the real official ``openai`` client."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from standins.openai_server import (
    FakeOpenAI,
    Hang,
    StreamCut,
    context_length_exceeded,
    model_not_found,
    rate_limited,
    server_error,
    unauthorized,
)

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the world"},
]
PROMPT_TOKENS = 3 + 5  # words in MESSAGES


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def make_client(fake: FakeOpenAI, **kwargs: Any) -> openai.OpenAI:
    options: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0, "timeout": 5.0}
    options.update(kwargs)
    return openai.OpenAI(base_url=fake.base_url, **options)


def raw_post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --------------------------------------------------------------------------- success


def test_base_url_and_lifecycle():
    fake = FakeOpenAI()
    assert not fake.running
    with fake:
        assert fake.running
        assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"
        assert fake.port > 0
        url = fake.base_url
    assert not fake.running
    client = openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_non_stream_chat_with_usage(fake):
    fake.enqueue("Hello there, world!")
    completion = make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o-mini"
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello there, world!"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == PROMPT_TOKENS + 3
    assert completion._request_id  # the x-request-id header reached the client


def test_queue_is_fifo_then_default_reply_is_deterministic():
    with FakeOpenAI(default_reply="fallback") as fake:
        fake.enqueue("first", "second")
        client = make_client(fake)

        def ask() -> str | None:
            reply = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            return reply.choices[0].message.content

        assert [ask(), ask(), ask(), ask()] == ["first", "second", "fallback", "fallback"]
        assert fake.pending == 0


def test_default_reply_can_depend_on_the_request():
    with FakeOpenAI(default_reply=lambda body: body["messages"][-1]["content"].upper()) as fake:
        reply = make_client(fake).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.choices[0].message.content == "SAY HELLO TO THE WORLD"


def test_streaming_with_include_usage(fake):
    fake.enqueue("one two three")
    stream = make_client(fake).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert all(finish is None for finish in finishes[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == PROMPT_TOKENS
    assert last.usage.completion_tokens == 3  # one token per content chunk
    assert last.usage.total_tokens == PROMPT_TOKENS + 3
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert fake.last_request.body["stream_options"] == {"include_usage": True}


def test_streaming_without_include_usage_sends_no_usage_chunk(fake):
    fake.enqueue("alpha beta")
    chunks = list(
        make_client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
    )
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "alpha beta"


def test_stream_is_sent_as_server_sent_events(fake):
    fake.enqueue("hi there")
    response = make_client(fake).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.http_response.read().decode()
    events = [block for block in text.split("\n\n") if block]
    assert all(event.startswith("data: ") for event in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][len("data: ") :])["choices"][0]["delta"]["role"] == "assistant"


def test_json_schema_response_format_is_recorded_and_scripted_json_returned(fake):
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "entities",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"names": {"type": "array", "items": {"type": "string"}}},
                "required": ["names"],
                "additionalProperties": False,
            },
        },
    }
    scripted = json.dumps({"names": ["Ada", "Grace"]})
    fake.enqueue(scripted)
    completion = make_client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, response_format=response_format
    )
    assert completion.choices[0].message.content == scripted
    assert json.loads(completion.choices[0].message.content) == {"names": ["Ada", "Grace"]}
    assert fake.last_request.body["response_format"] == response_format


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_truncates_with_finish_reason_length(fake, limit_field):
    fake.enqueue("one two three four")
    completion = make_client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, **{limit_field: 2}
    )
    assert completion.choices[0].message.content == "one two "
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


def test_token_limit_truncates_a_stream(fake):
    fake.enqueue("one two three four")
    chunks = list(
        make_client(fake).chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "one two three "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3


def test_models_list_and_retrieve():
    with FakeOpenAI() as fake:
        client = make_client(fake)
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "gpt-4o"]
        assert client.models.retrieve("gpt-4o").id == "gpt-4o"
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve("nope")
        assert info.value.code == "model_not_found"
    with FakeOpenAI(models=["local-model"]) as fake:
        assert [m.id for m in make_client(fake).models.list()] == ["local-model"]


def test_unknown_path_is_a_404(fake):
    status, body = raw_post(fake.base_url + "/nope", {}, {"Authorization": "Bearer sk-test"})
    assert status == 404
    assert body["error"]["message"] == "Invalid URL (POST /v1/nope)"


# --------------------------------------------------------------------------- faults


def test_401_is_an_authentication_error(fake):
    fake.enqueue(unauthorized("sk-abcdefghijklmnop"))
    with pytest.raises(openai.AuthenticationError) as info:
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    error = info.value
    assert error.status_code == 401
    assert error.code == "invalid_api_key"
    assert error.type == "invalid_request_error"
    assert error.message.startswith("Error code: 401")
    assert error.body["message"].startswith("Incorrect API key provided: sk-")
    assert "abcdefghijklmnop" not in error.body["message"]  # the key is masked


def test_429_is_a_rate_limit_error_with_retry_after(fake):
    fake.enqueue(rate_limited(retry_after=7))
    with pytest.raises(openai.RateLimitError) as info:
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    error = info.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "7"
    assert "retry-after-ms" not in error.response.headers
    assert error.code == "rate_limit_exceeded"
    assert error.type == "requests"
    assert error.body["message"].startswith("Rate limit reached")


def test_429_can_carry_retry_after_ms(fake):
    fake.enqueue(rate_limited(retry_after=None, retry_after_ms=250))
    with pytest.raises(openai.RateLimitError) as info:
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.response.headers["retry-after-ms"] == "250"
    assert "retry-after" not in info.value.response.headers


def test_client_retries_a_429_after_the_retry_after_delay(fake):
    # The client's own backoff before a first retry is at most 0.5 s, so a wait of
    # at least 1 s shows it honoured the Retry-After header.
    fake.enqueue(rate_limited(retry_after=1), "made it")
    client = make_client(fake, max_retries=1)
    started = time.monotonic()
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert completion.choices[0].message.content == "made it"
    assert len(fake.chat_requests()) == 2
    assert elapsed >= 0.95


def test_500_is_an_internal_server_error(fake):
    fake.enqueue(server_error())
    with pytest.raises(openai.InternalServerError) as info:
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 500
    assert info.value.type == "server_error"
    assert info.value.body["message"].startswith("The server had an error")


def test_context_length_is_a_bad_request(fake):
    fake.enqueue(context_length_exceeded(8192, 9000))
    with pytest.raises(openai.BadRequestError) as info:
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == 400
    assert info.value.code == "context_length_exceeded"
    assert info.value.param == "messages"
    assert "maximum context length is 8192 tokens" in info.value.body["message"]


def test_context_window_is_enforced_from_prompt_tokens():
    with FakeOpenAI(context_window=PROMPT_TOKENS) as fake:
        client = make_client(fake)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        longer = [*MESSAGES, {"role": "user", "content": "one more"}]
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="gpt-4o-mini", messages=longer)
    assert info.value.code == "context_length_exceeded"


def test_model_not_found_is_a_404(fake):
    fake.enqueue(model_not_found("gpt-9"))
    with pytest.raises(openai.NotFoundError) as info:
        make_client(fake).chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert "gpt-9" in info.value.body["message"]


def test_unknown_models_can_be_rejected():
    with FakeOpenAI(reject_unknown_models=True) as fake:
        client = make_client(fake)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-9", messages=MESSAGES)
        assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices


def test_a_hang_is_a_client_timeout(fake):
    fake.enqueue(Hang())
    client = make_client(fake, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert 0.4 <= time.monotonic() - started < 3


def test_a_finite_hang_then_reply_is_a_slow_server(fake):
    fake.enqueue(Hang(seconds=0.3, then="eventually"))
    started = time.monotonic()
    completion = make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "eventually"
    assert time.monotonic() - started >= 0.3


def test_stopping_the_server_ends_a_hang():
    fake = FakeOpenAI().start()
    fake.enqueue(Hang())
    client = make_client(fake, timeout=30)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        except BaseException as error:  # noqa: BLE001 - recorded for the assertion
            errors.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not fake.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.requests, "the request never reached the server"
    started = time.monotonic()
    fake.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


def test_stopping_the_server_closes_idle_keep_alive_connections():
    fake = FakeOpenAI().start()
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
        assert connection.sock is not None  # HTTP/1.1: the connection stays open
        fake.stop()
        connection.sock.settimeout(2)
        assert connection.sock.recv(1) == b""  # closed by the server, not left hanging
    finally:
        connection.close()
        fake.stop()


def test_a_stream_cut_midway_raises_after_the_first_chunks(fake):
    fake.enqueue(StreamCut("one two three four", after_chunks=2))
    stream = make_client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises((openai.APIConnectionError, openai.APIError)) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "one two "
    assert not isinstance(info.value, openai.APIStatusError)


def test_a_cut_non_stream_response_is_a_connection_error(fake):
    fake.enqueue(StreamCut("one two three four"))
    with pytest.raises(openai.APIConnectionError):
        make_client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_a_stalled_stream_is_a_client_timeout(fake):
    fake.enqueue(StreamCut("one two three", after_chunks=1, stall_seconds=None))
    stream = make_client(fake, timeout=0.5).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    received = []
    started = time.monotonic()
    with pytest.raises((openai.APITimeoutError, openai.APIConnectionError)):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "one "
    assert time.monotonic() - started < 3


def test_a_sticky_fault_applies_until_cleared(fake):
    fake.enqueue("queued")
    fake.set_fault(server_error())
    client = make_client(fake)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    fake.clear_fault()
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "queued"


# --------------------------------------------------------------------------- auth


def test_api_key_is_checked():
    with FakeOpenAI(api_key="sk-right-key-123456") as fake:
        good = make_client(fake, api_key="sk-right-key-123456")
        assert good.chat.completions.create(model="gpt-4o", messages=MESSAGES).choices
        assert [m.id for m in good.models.list()]

        with pytest.raises(openai.AuthenticationError) as info:
            make_client(fake, api_key="sk-wrong-key-654321").chat.completions.create(
                model="gpt-4o", messages=MESSAGES
            )
        assert info.value.code == "invalid_api_key"
        assert "sk-wrong-key-654321" not in info.value.body["message"]

        with pytest.raises(openai.AuthenticationError):
            make_client(fake, api_key="sk-wrong").models.list()

        status, body = raw_post(fake.base_url + "/chat/completions", {"model": "gpt-4o"}, {})
        assert status == 401
        assert body["error"]["type"] == "invalid_request_error"
        assert "API key" in body["error"]["message"]


# --------------------------------------------------------------------------- capturing


def test_requests_are_captured(fake):
    client = make_client(fake)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.models.list()
    list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [{"type": "text", "text": "part text"}]}],
            stream=True,
        )
    )

    requests = fake.requests
    assert [(r.method, r.path) for r in requests] == [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
    ]
    first = requests[0]
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.headers["content-type"] == "application/json"
    assert first.body == {"model": "gpt-4o-mini", "messages": MESSAGES}
    assert requests[1].body is None
    assert requests[2].body["stream"] is True
    assert len(fake.chat_requests()) == 2
    assert fake.all_text() == "You are terse.\nSay hello to the world\npart text"


def test_rejected_requests_are_captured_too():
    secret = "Patient Jane Roe, DOB 1970-01-01"
    with FakeOpenAI(api_key="sk-right") as fake:
        fake.enqueue(server_error())
        for key in ("sk-wrong", "sk-right"):
            with pytest.raises(openai.APIStatusError):
                make_client(fake, api_key=key).chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": secret}]
                )
        assert len(fake.requests) == 2
        assert fake.all_text().count(secret) == 2
        assert secret in fake.all_raw_text()
        assert "Jane Roe" not in FakeOpenAI().all_text()


def test_concurrent_requests_are_all_captured(fake):
    client = make_client(fake)
    threads = [
        threading.Thread(
            target=client.chat.completions.create,
            kwargs={"model": "gpt-4o", "messages": [{"role": "user", "content": f"msg {i}"}]},
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(fake.all_text().split("\n")) == sorted(f"msg {i}" for i in range(8))
