"""The local tier: a model served by Ollama, through the official ``ollama`` client.

The host comes from ``OLLAMA_HOST`` (normalised the way the client does it, so
``0.0.0.0:11434`` or ``myhost`` work), the default model from ``AMBIENT_OLLAMA_MODEL``
(else ``gemma2:2b``). Clients get explicit timeouts and no retries: the router is the
only retry loop. Every client exception becomes an ``llm.errors`` type whose message
says what happened and what to do; errors raised while a stream is being read are
mapped too, and the text that arrived before them stays in ``ReplyStream.text``.

Why ``num_ctx`` is always sent: Ollama runs a model with a small context window by
default (2048 or 4096 tokens, whatever the model supports) and silently drops the
start of a prompt that does not fit, system prompt included. So every request carries
``options.num_ctx``: the model's own context length (from ``/api/show``) capped at
8192 tokens, or at the ``num_ctx`` given, to keep the KV cache in memory.
``context_window()`` reports that same number, so whoever fits the conversation and
the server agree; and since the value never changes for a model, Ollama does not reload
the model between requests (it does when ``num_ctx`` changes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import ollama
from ollama._client import _parse_host  # the client's own OLLAMA_HOST normalisation

from llm import cleanup
from llm.env import env_text
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
from llm.providers.base import (
    ChatRequest,
    Done,
    Health,
    Provider,
    ReplyStream,
    Usage,
    env_seconds,
    estimate_tokens,
    output_cap,
)

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "gemma2:2b"
DEFAULT_NUM_CTX = 8192
DEFAULT_TIMEOUT = 120.0  # seconds without a byte from Ollama (AMBIENT_OLLAMA_TIMEOUT)
HEALTH_TIMEOUT = 2.0

# What the client can raise: HTTP errors, the builtin ConnectionError (non-streaming
# calls), httpx errors (streaming calls), ValueError (a line that is not JSON or not
# shaped like an Ollama reply).
CLIENT_ERRORS = (
    ollama.ResponseError,
    ollama.RequestError,
    httpx.HTTPError,
    ConnectionError,
    ValueError,
)
_CONTEXT_PHRASES = ("context length", "context window", "context size", "prompt is too long")


def canonical_model(name: str) -> str:
    """``gemma2`` and ``gemma2:latest`` are the same model to Ollama."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _context_length(model_info: Mapping[str, Any]) -> int | None:
    """``<architecture>.context_length`` from /api/show's model_info."""
    key = f"{model_info.get('general.architecture')}.context_length"
    value = model_info.get(key)
    if value is None:
        value = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    return value if isinstance(value, int) and value > 0 else None


class OllamaProvider(Provider):
    tier = "local"
    name = "ollama"

    def __init__(
        self,
        host: str | None = None,
        model: str | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float = 3.0,
        num_ctx: int | None = None,
    ) -> None:
        self.host = _parse_host(host or env_text("OLLAMA_HOST", DEFAULT_HOST))
        self.model = model or env_text("AMBIENT_OLLAMA_MODEL", DEFAULT_MODEL)
        timeout = timeout or env_seconds("AMBIENT_OLLAMA_TIMEOUT", DEFAULT_TIMEOUT)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.num_ctx = num_ctx
        self._client = self._make_client(timeout)
        self._health_client = ollama.Client(host=self.host, timeout=httpx.Timeout(HEALTH_TIMEOUT))
        self._clients = {timeout: self._client}  # one per read timeout a request asks for
        self._clients_lock = threading.Lock()
        self._context_lengths: dict[str, int | None] = {}

    def _make_client(self, timeout: float) -> ollama.Client:
        return ollama.Client(
            host=self.host, timeout=httpx.Timeout(timeout, connect=self.connect_timeout)
        )

    def _client_for(self, timeout: float) -> ollama.Client:
        with self._clients_lock:
            if timeout not in self._clients:
                self._clients[timeout] = self._make_client(timeout)
            return self._clients[timeout]

    # -- errors ----------------------------------------------------------------------
    def _error(
        self, exc: BaseException, model: str, timeout: float, *, midway: bool = False
    ) -> LLMError:
        """The ``llm.errors`` exception for a client exception."""
        kw = {"tier": self.tier, "provider": self.name}
        host = self.host
        if isinstance(exc, httpx.ConnectTimeout):
            return TimedOut(
                f"Ollama at {host} did not accept a connection within "
                f"{self.connect_timeout:g} s; check that it is running and reachable.",
                **kw,
            )
        if isinstance(exc, httpx.TimeoutException):
            if midway:
                return TimedOut(
                    f"Ollama did not answer within {timeout:g} s in the middle of the answer; "
                    "try again, or allow a longer timeout.",
                    **kw,
                )
            return TimedOut(
                f"Ollama at {host} did not answer within {timeout:g} s (it may be loading a "
                "model or busy); try again, or allow a longer timeout.",
                **kw,
            )
        if isinstance(exc, ConnectionError | httpx.ConnectError):
            return Unreachable(
                f"Ollama is not running at {host} — start it with `ollama serve`.", **kw
            )
        if isinstance(exc, httpx.TransportError):  # RemoteProtocolError, ReadError, ...
            if midway:
                return Unreachable(
                    "The connection to Ollama broke in the middle of the answer; check that "
                    "it is still running and try again.",
                    **kw,
                )
            return Unreachable(
                f"The connection to Ollama at {host} broke before it answered ({exc}); check "
                "that it is still running and try again.",
                **kw,
            )
        if isinstance(exc, ollama.ResponseError):
            return self._response_error(exc, model, midway=midway)
        return BadOutput(
            f"Ollama at {host} sent a reply that could not be read ({exc}); check that "
            "OLLAMA_HOST points at an Ollama server.",
            **kw,
        )

    def _response_error(self, exc: ollama.ResponseError, model: str, *, midway: bool) -> LLMError:
        kw = {"tier": self.tier, "provider": self.name}
        host, status = self.host, exc.status_code
        text = str(exc.error).strip().rstrip(".")
        lowered = text.lower()
        if ("model" in lowered and "not found" in lowered) or (
            status == 404 and "page not found" not in lowered
        ):
            return ModelMissing(
                f"The model {model} is not installed in Ollama at {host} — run "
                f"`ollama pull {model}`.",
                **kw,
            )
        if any(phrase in lowered for phrase in _CONTEXT_PHRASES):
            return ContextTooLong(
                f"The conversation is too long for {model} in Ollama ({text}); start a new "
                "conversation or shorten it.",
                **kw,
            )
        if status == -1:  # an {"error": ...} line inside a 200 stream
            if midway:
                return Unreachable(
                    f"Ollama stopped in the middle of the answer: {text}; try again.", **kw
                )
            return Unreachable(
                f"Ollama could not run {model}: {text}; try again, or look at the Ollama "
                "server log.",
                **kw,
            )
        if status in (401, 403):
            return AuthFailed(
                f"Ollama at {host} refused the request ({status}: {text}); check "
                "OLLAMA_API_KEY or the proxy in front of it.",
                **kw,
            )
        if status == 429:
            return RateLimited(
                f"Ollama at {host} is busy ({text}); wait a moment and try again.", **kw
            )
        if status >= 500:
            return Unreachable(
                f"Ollama at {host} failed to answer with {model} ({text}); try again, or "
                "look at the Ollama server log.",
                **kw,
            )
        # Any other 4xx: the server is up but refuses this particular request (a schema
        # it cannot use, an option it does not know, a model that cannot chat). Asking
        # again will not help and the tier itself is fine, so it is not Unreachable.
        return BadOutput(
            f"Ollama at {host} rejected the request for {model} ({status}: {text}); "
            "another model or tier may handle it.",
            **kw,
        )

    # -- models ----------------------------------------------------------------------
    def default_model(self) -> str:
        return self.model

    def models(self) -> list[str]:
        """Names of the installed models; raises ``llm.errors`` if Ollama cannot answer."""
        try:
            listing = self._health_client.list()
        except CLIENT_ERRORS as exc:
            raise self._error(exc, self.model, HEALTH_TIMEOUT) from exc
        return [m.model for m in listing.models if m.model]

    def health(self) -> Health:
        try:
            names = self.models()
        except LLMError as exc:
            return Health(False, str(exc))
        count = len(names)
        detail = f"Ollama at {self.host}: {count} model{'' if count == 1 else 's'} installed"
        if canonical_model(self.model) not in {canonical_model(n) for n in names}:
            detail += f"; {self.model} is not installed — run `ollama pull {self.model}`"
        return Health(True, detail + ".", names)

    def model_context_length(self, model: str, client: ollama.Client | None = None) -> int | None:
        """The model's own context length from /api/show (cached), None if not stated.

        Raises client exceptions, except an HTTP error other than 404 (then None).
        """
        key = canonical_model(model)
        if key in self._context_lengths:
            return self._context_lengths[key]
        try:
            shown = (client or self._health_client).show(model)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise
            return None
        length = _context_length(shown.modelinfo or {})
        self._context_lengths[key] = length
        return length

    def _window(self, length: int | None) -> int:
        return min(length or DEFAULT_NUM_CTX, self.num_ctx or DEFAULT_NUM_CTX)

    def context_window(self, model: str | None = None) -> int:
        """The ``num_ctx`` requests use: the model's length capped at ``num_ctx`` or 8192."""
        try:
            length = self.model_context_length(model or self.model)
        except CLIENT_ERRORS:
            length = None
        return self._window(length)

    # -- generation ------------------------------------------------------------------
    def stream(self, request: ChatRequest) -> ReplyStream:
        model = request.model or self.model
        prompt = "\n".join(str(m.get("content") or "") for m in request.messages)
        estimate = estimate_tokens(prompt)
        return ReplyStream(
            self._generate(request, model, estimate),
            tier=self.tier,
            provider=self.name,
            model=model,
            prompt_estimate=estimate,
            max_chars=output_cap(request.max_tokens),
        )

    def _generate(
        self, request: ChatRequest, model: str, prompt_estimate: int
    ) -> Iterator[str | Done]:
        timeout = request.timeout or self.timeout
        client = self._client_for(timeout)
        parts: list[str] = []
        logprobs: list[float] = []
        final: ollama.ChatResponse | None = None
        chunks: Iterator[ollama.ChatResponse] | None = None
        try:
            options = {
                "num_ctx": self._window(self.model_context_length(model, client)),
                "num_predict": request.max_tokens,
                "temperature": request.temperature,
            }
            chunks = cleanup.held(client.chat(  # closed by us only, never by the GC
                model=model,
                messages=request.messages,
                stream=True,
                format=request.schema,
                options=options,
                logprobs=True if request.logprobs else None,
            ))
            for chunk in chunks:
                if chunk.message.content:
                    parts.append(chunk.message.content)
                    yield chunk.message.content
                if chunk.logprobs:
                    logprobs.extend(float(t.logprob) for t in chunk.logprobs)
                if chunk.done:
                    final = chunk
        except CLIENT_ERRORS as exc:
            raise self._error(exc, model, timeout, midway=bool(parts)) from exc
        finally:
            if chunks is not None:
                cleanup.close(chunks)  # closes the HTTP response, so Ollama stops generating
        if final is None:
            return  # ReplyStream estimates the usage
        prompt_tokens, completion_tokens = final.prompt_eval_count, final.eval_count
        if prompt_tokens is None or completion_tokens is None:
            usage = Usage(
                prompt_estimate if prompt_tokens is None else prompt_tokens,
                estimate_tokens("".join(parts)) if completion_tokens is None else completion_tokens,
                "estimated",
            )
        else:
            usage = Usage(prompt_tokens, completion_tokens, "reported")
        finish = "length" if final.done_reason == "length" else "stop"
        yield Done(final.model or model, usage, finish, tuple(logprobs) if logprobs else None)
