"""Tests of the fake Ollama server, driven through the official ``ollama`` client."""

from __future__ import annotations

import json
import threading
import time

import httpx
import ollama
import pytest

from standins.ollama_server import (
    FakeOllama,
    ModelSpec,
    Reply,
    closed_port_host,
    count_prompt_tokens,
    split_into_chunks,
)

QUESTION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]
# 1 BOS + (3 words + 4 template) + (6 words + 4 template)
QUESTION_PROMPT_TOKENS = 18


@pytest.fixture
def fake():
    with FakeOllama() as server:
        yield server


@pytest.fixture
def client(fake):
    with ollama.Client(host=fake.host, timeout=5) as c:
        yield c


# ------------------------------------------------------------------ plain endpoints


def test_list_models(fake, client):
    listed = client.list()

    assert [m.model for m in listed.models] == ["gemma2:2b", "llama3.2:1b"]
    gemma = listed.models[0]
    assert gemma.size == 1_629_518_495
    assert len(gemma.digest) == 64
    assert gemma.modified_at is not None
    assert gemma.details.format == "gguf"
    assert gemma.details.family == "gemma2"
    assert gemma.details.parameter_size == "2.6B"
    assert gemma.details.quantization_level == "Q4_0"
    # Real Ollama also sends "name" (the client's model does not keep it).
    raw = httpx.get(fake.url("/api/tags")).json()
    assert raw["models"][1]["name"] == raw["models"][1]["model"] == "llama3.2:1b"
    assert fake.last_request().method == "GET"
    assert fake.last_request().path == "/api/tags"


def test_models_are_configurable():
    spec = ModelSpec(name="tiny:1m", family="tiny", architecture="tiny", context_length=512)
    with FakeOllama(models=["qwen2.5:0.5b", spec]) as fake, ollama.Client(host=fake.host) as c:
        names = [m.model for m in c.list().models]
        assert names == ["qwen2.5:0.5b", "tiny:1m"]
        assert c.show("tiny:1m").modelinfo["tiny.context_length"] == 512
        assert c.show("qwen2.5:0.5b").details.parameter_size == "0.5B"
        fake.set_models([])
        assert c.list().models == []


def test_show_model(client):
    shown = client.show("gemma2:2b")

    assert shown.modelinfo["gemma2.context_length"] == 8192
    assert shown.modelinfo["general.architecture"] == "gemma2"
    assert shown.details.family == "gemma2"
    assert "<start_of_turn>" in shown.template
    assert "stop" in shown.parameters
    assert shown.capabilities == ["completion"]
    assert shown.modified_at is not None
    assert client.show("llama3.2:1b").modelinfo["llama.context_length"] == 131072


def test_show_unknown_model_is_404(client):
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("mistral:7b")
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'mistral:7b' not found"


def test_root_and_version(fake):
    root = httpx.get(fake.host)
    assert root.status_code == 200
    assert root.text == "Ollama is running"
    assert httpx.head(fake.host).status_code == 200
    assert httpx.get(fake.url("/api/version")).json() == {"version": "0.6.8"}


def test_unknown_path_and_wrong_method(fake):
    missing = httpx.get(fake.url("/api/nothing"))
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert httpx.get(fake.url("/api/chat")).status_code == 405


# ------------------------------------------------------------------ chat and generate


def test_chat_non_streaming_with_usage_counters(fake, client):
    fake.enqueue("Paris is the capital.")

    reply = client.chat(model="gemma2:2b", messages=QUESTION, stream=False)

    assert reply.model == "gemma2:2b"
    assert reply.message.role == "assistant"
    assert reply.message.content == "Paris is the capital."
    assert reply.done is True
    assert reply.done_reason == "stop"
    assert reply.prompt_eval_count == QUESTION_PROMPT_TOKENS
    assert reply.eval_count == 4
    assert reply.load_duration > 0
    assert reply.prompt_eval_duration > 0
    assert reply.eval_duration > 0
    assert reply.total_duration == (
        reply.load_duration + reply.prompt_eval_duration + reply.eval_duration
    )
    recorded = fake.last_request("/api/chat")
    assert recorded.method == "POST"
    assert recorded.body["messages"] == QUESTION
    assert recorded.body["stream"] is False
    assert recorded.headers["user-agent"].startswith("ollama-python/")
    assert fake.pending == 0


def test_chat_streaming_collects_chunks_and_final_line(fake, client):
    fake.enqueue("Paris is the capital of France.")

    parts = list(client.chat(model="gemma2:2b", messages=QUESTION, stream=True))

    *chunks, final = parts
    assert [p.message.content for p in chunks] == [
        "Paris",
        " is",
        " the",
        " capital",
        " of",
        " France.",
    ]
    assert all(p.done is False and p.message.role == "assistant" for p in chunks)
    assert all(p.eval_count is None for p in chunks)
    assert final.done is True
    assert final.done_reason == "stop"
    assert final.message.content == ""
    assert final.prompt_eval_count == QUESTION_PROMPT_TOKENS
    assert final.eval_count == len(chunks) == 6
    assert final.total_duration and final.eval_duration and final.prompt_eval_duration


def test_stream_is_chunked_ndjson_and_default_when_stream_is_missing(fake):
    body = {"model": "gemma2:2b", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", fake.url("/api/chat"), json=body) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in response.iter_lines()]
    assert [line["done"] for line in lines] == [False, False, True]
    assert "".join(line["message"]["content"] for line in lines) == "Echo: hi"


def test_default_reply_is_a_deterministic_echo(client):
    messages = [{"role": "user", "content": "ping pong"}]
    first = client.chat(model="llama3.2:1b", messages=messages)
    second = client.chat(model="llama3.2:1b", messages=messages)
    assert first.message.content == second.message.content == "Echo: ping pong"


def test_generate_streaming_and_not(fake, client):
    fake.enqueue("Blue light scatters more.", "Because of Rayleigh scattering.")

    parts = list(client.generate(model="llama3.2:1b", prompt="Why is the sky blue?", stream=True))
    whole = client.generate(model="llama3.2:1b", prompt="Why is the sky blue?", system="Be brief.")

    assert "".join(p.response for p in parts) == "Blue light scatters more."
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert parts[-1].eval_count == 4
    assert parts[-1].prompt_eval_count == count_prompt_tokens(["Why is the sky blue?"]) == 10
    assert parts[-1].context
    assert whole.response == "Because of Rayleigh scattering."
    assert whole.prompt_eval_count == 10 + 2 + 4  # the system message counts too
    assert [r.body["prompt"] for r in fake.requests_to("/api/generate")] == [
        "Why is the sky blue?"
    ] * 2


def test_format_json_schema_is_recorded_and_scripted_json_returned(fake, client):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    fake.enqueue('{"city": "Paris"}', "{not valid json")

    good = client.chat(model="gemma2:2b", messages=QUESTION, format=schema)
    bad = client.chat(model="gemma2:2b", messages=QUESTION, format="json")

    assert json.loads(good.message.content) == {"city": "Paris"}
    assert bad.message.content == "{not valid json"
    formats = [r.format for r in fake.requests_to("/api/chat")]
    assert formats == [schema, "json"]


def test_format_without_script_defaults_to_json(client):
    reply = client.chat(
        model="gemma2:2b", messages=[{"role": "user", "content": "x"}], format="json"
    )
    assert json.loads(reply.message.content) == {"echo": "x"}


def test_num_predict_truncates_and_reports_length(fake, client):
    fake.enqueue("one two three four five", "one two three four five")

    whole = client.chat(model="gemma2:2b", messages=QUESTION, options={"num_predict": 3})
    parts = list(
        client.chat(model="gemma2:2b", messages=QUESTION, stream=True, options={"num_predict": 2})
    )

    assert whole.message.content == "one two three"
    assert (whole.done_reason, whole.eval_count) == ("length", 3)
    assert "".join(p.message.content for p in parts) == "one two"
    assert (parts[-1].done_reason, parts[-1].eval_count) == ("length", 2)
    assert fake.last_request("/api/chat").options == {"num_predict": 2}


def test_num_ctx_caps_the_prompt_and_is_recorded(fake, client):
    reply = client.chat(model="gemma2:2b", messages=QUESTION, options={"num_ctx": 10})
    assert reply.prompt_eval_count == 10
    assert fake.last_request("/api/chat").options["num_ctx"] == 10
    assert [m.context_length for m in client.ps().models] == [10]


def test_chat_without_messages_only_loads_the_model(fake, client):
    fake.enqueue("kept for later")
    loaded = client.chat(model="gemma2:2b", messages=[])
    assert (loaded.done, loaded.done_reason) == (True, "load")
    assert fake.pending == 1
    unloaded = client.chat(model="gemma2:2b", messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"


def test_enqueue_accepts_dicts_and_rejects_unknown_fields(fake, client):
    fake.enqueue({"text": "from a dict", "done_reason": "length"})
    reply = client.chat(model="gemma2:2b", messages=QUESTION)
    assert (reply.message.content, reply.done_reason) == ("from a dict", "length")
    with pytest.raises(TypeError):
        fake.enqueue({"txet": "typo"})
    with pytest.raises(TypeError):
        fake.enqueue(42)


# ------------------------------------------------------------------ errors and faults


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_raises_404(client, stream):
    with pytest.raises(ollama.ResponseError) as caught:
        result = client.chat(model="nonexistent:7b", messages=QUESTION, stream=stream)
        if stream:
            next(iter(result))
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "nonexistent:7b" not found, try pulling it first'


def test_unknown_model_on_generate_uses_ollamas_short_wording(client):
    with pytest.raises(ollama.ResponseError) as caught:
        client.generate(model="nonexistent", prompt="hi")
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nonexistent' not found"


def test_model_names_default_to_latest_tag():
    with FakeOllama(models=["phi3"]) as fake, ollama.Client(host=fake.host) as c:
        assert c.list().models[0].model == "phi3:latest"
        assert c.chat(model="phi3", messages=QUESTION).done
        assert c.chat(model="PHI3:latest", messages=QUESTION).done


def test_error_line_mid_stream_raises_after_some_chunks(fake, client):
    fake.enqueue(Reply.error_mid_stream("alpha beta gamma delta", after=2, error="CUDA error"))

    received = []
    with pytest.raises(ollama.ResponseError) as caught:
        for part in client.chat(model="gemma2:2b", messages=QUESTION, stream=True):
            received.append(part.message.content)

    assert received == ["alpha", " beta"]
    assert caught.value.error == "CUDA error"


def test_error_line_in_raw_stream_ends_the_stream_cleanly(fake):
    fake.enqueue(Reply.error_mid_stream("alpha beta", after=1, error="boom"))
    body = {"model": "gemma2:2b", "messages": QUESTION}
    with httpx.stream("POST", fake.url("/api/chat"), json=body) as response:
        lines = [json.loads(line) for line in response.iter_lines()]
    assert response.status_code == 200
    assert lines[-1] == {"error": "boom"}
    assert len(lines) == 2


def test_error_mid_generation_without_streaming_is_a_500(fake, client):
    fake.enqueue(Reply.error_mid_stream("alpha beta", after=1, error="out of memory"))
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="gemma2:2b", messages=QUESTION)
    assert (caught.value.status_code, caught.value.error) == (500, "out of memory")


def test_stream_cut_mid_way_raises(fake, client):
    fake.enqueue(Reply.cut_mid_stream("alpha beta gamma delta", after=2))

    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        for part in client.chat(model="gemma2:2b", messages=QUESTION, stream=True):
            received.append(part.message.content)

    assert received == ["alpha", " beta"]


def test_cut_without_streaming_raises(fake, client):
    fake.enqueue(Reply.cut_mid_stream("alpha beta", after=1))
    with pytest.raises(httpx.RemoteProtocolError):
        client.chat(model="gemma2:2b", messages=QUESTION)


@pytest.mark.parametrize("stream", [False, True])
def test_http_500_fault(fake, client, stream):
    fake.enqueue(Reply.http_error(500, "llama runner process has terminated"))
    with pytest.raises(ollama.ResponseError) as caught:
        result = client.chat(model="gemma2:2b", messages=QUESTION, stream=stream)
        if stream:
            list(result)
    assert caught.value.status_code == 500
    assert caught.value.error == "llama runner process has terminated"


def test_slow_first_byte_triggers_client_timeout(fake):
    fake.enqueue(Reply.slow("too late", first_byte_delay=30))
    started = time.monotonic()
    with (
        ollama.Client(host=fake.host, timeout=0.3) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.chat(model="gemma2:2b", messages=QUESTION)
    assert time.monotonic() - started < 5


def test_slow_chunks_time_out_during_iteration(fake):
    with ollama.Client(host=fake.host, timeout=0.5) as impatient:
        # Each read waits less than the timeout: the whole stream arrives.
        fake.enqueue(Reply.slow("a b c", chunk_delay=0.05))
        parts = list(impatient.chat(model="gemma2:2b", messages=QUESTION, stream=True))
        assert "".join(p.message.content for p in parts) == "a b c"

        # Headers arrive at once, then the body stalls: the timeout hits while iterating.
        fake.enqueue(Reply.slow("a b c", chunk_delay=30))
        stream = impatient.chat(model="gemma2:2b", messages=QUESTION, stream=True)
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            next(iter(stream))
        assert time.monotonic() - started < 5


def test_instance_fault_applies_to_every_request_and_scripted_fields_win():
    with (
        FakeOllama(fault=Reply.http_error(503, "server busy")) as fake,
        ollama.Client(host=fake.host, timeout=5) as c,
    ):
        for _ in range(2):
            with pytest.raises(ollama.ResponseError) as caught:
                c.chat(model="gemma2:2b", messages=QUESTION)
            assert (caught.value.status_code, caught.value.error) == (503, "server busy")
        fake.enqueue(Reply.http_error(429, "slow down"), "fine")
        with pytest.raises(ollama.ResponseError) as caught:
            c.chat(model="gemma2:2b", messages=QUESTION)
        assert caught.value.status_code == 429
        with pytest.raises(ollama.ResponseError):
            c.chat(model="gemma2:2b", messages=QUESTION)  # "fine" sets no status: fault applies
        fake.fault = None
        assert c.chat(model="gemma2:2b", messages=QUESTION).message.content.startswith("Echo")


def test_connection_refused_on_closed_port():
    with ollama.Client(host=closed_port_host(), timeout=2) as c:
        with pytest.raises(ConnectionError):
            c.list()
        with pytest.raises(ConnectionError):
            c.chat(model="gemma2:2b", messages=QUESTION)
        # A streamed call is not wrapped by ollama-python: httpx's own error surfaces.
        with pytest.raises(httpx.ConnectError):
            next(iter(c.chat(model="gemma2:2b", messages=QUESTION, stream=True)))


def test_malformed_and_missing_json_bodies_are_400(fake):
    bad = httpx.post(fake.url("/api/chat"), content=b"{oops")
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/json; charset=utf-8"
    assert bad.json()["error"].startswith("invalid character 'o'")
    empty = httpx.post(fake.url("/api/generate"))
    assert (empty.status_code, empty.json()) == (400, {"error": "missing request body"})
    wrong = httpx.post(fake.url("/api/show"), json=["gemma2:2b"])
    assert wrong.status_code == 400
    assert "cannot unmarshal array" in wrong.json()["error"]
    recorded = fake.requests_to("/api/chat")[-1]
    assert (recorded.body, recorded.raw) == (None, b"{oops")


# ------------------------------------------------------------------ lifecycle and helpers


def test_start_stop_without_context_manager():
    fake = FakeOllama().start()
    try:
        host = fake.host
        assert httpx.get(host).text == "Ollama is running"
    finally:
        fake.stop()
    assert not fake.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(host, timeout=2)
    fake.stop()  # idempotent


def test_stop_does_not_wait_for_a_sleeping_handler():
    fake = FakeOllama().start()
    fake.enqueue(Reply.slow("never", first_byte_delay=60))
    errors = []

    def call():
        try:
            with ollama.Client(host=fake.host, timeout=30) as c:
                c.chat(model="gemma2:2b", messages=QUESTION)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
            errors.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    deadline = time.monotonic() + 5
    while not fake.requests_to("/api/chat") and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    caller.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not caller.is_alive()
    assert errors and isinstance(errors[0], httpx.HTTPError)
    # The handler itself woke up and finished instead of sleeping on in its thread.
    while fake.open_connections and time.monotonic() < started + 3:
        time.sleep(0.01)
    assert fake.open_connections == 0


def test_requests_are_recorded_from_concurrent_clients(fake):
    def call(i):
        with ollama.Client(host=fake.host, timeout=5) as c:
            c.chat(model="gemma2:2b", messages=[{"role": "user", "content": f"n{i}"}])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    contents = sorted(r.body["messages"][0]["content"] for r in fake.requests_to("/api/chat"))
    assert contents == sorted(f"n{i}" for i in range(12))
    fake.clear_requests()
    assert fake.requests == []


@pytest.mark.parametrize(
    "text", ["", "one", "  lead", "trail  ", "a  b\n\nc", '{"k": [1, 2]}', "日本 語"]
)
def test_split_into_chunks_rejoins_exactly(text):
    chunks = split_into_chunks(text)
    assert "".join(chunks) == text
    assert all(c.strip() for c in chunks[:-1])
    assert len(chunks) == len(text.split()) or (not text.split() and len(chunks) <= 1)


def test_closed_port_host_has_nothing_listening():
    host = closed_port_host()
    assert host.startswith("http://127.0.0.1:")
    with pytest.raises(httpx.ConnectError):
        httpx.get(host, timeout=2)
