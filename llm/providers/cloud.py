"""The cloud tier: OpenAI, or any OpenAI-compatible endpoint, through the official client.

``base_url`` makes any compatible server a cloud tier: vLLM, LM Studio, OpenRouter, a
LiteLLM proxy, llama.cpp's server. A local endpoint may need no key; then a placeholder
key is sent (the client insists on one).

The client is built with ``max_retries=0`` and explicit timeouts: the router is the only
retry loop. The API key never leaves the client: ``repr`` hides it, and every error
message built from a server's answer is scrubbed of it (and of anything shaped like a
key). Mapped errors are raised ``from None``, so the client's exception (whose request
carries the Authorization header) is not chained into logs.

Requests
    ``stream`` is lazy: the HTTP request starts on the first ``next()``, so latency and
    time to first token include the request itself, and every error, before or during the
    answer, is raised while iterating (the partial text stays in ``ReplyStream.text``).
    Streams ask for ``stream_options={"include_usage": True}``; when the endpoint sends
    no usage chunk (llama.cpp's server does not), usage is estimated and marked so.
    ``complete`` makes a non-streaming request, whose ``usage`` every compatible server
    reports.

Structured output (``ChatRequest.schema``)
    OpenAI's form is ``response_format={"type": "json_schema", "json_schema": {"name":
    "answer", "schema": ..., "strict": False}}``. llama-cpp-python's server accepts only
    ``type`` "text" or "json_object" and takes the schema inside it:
    ``{"type": "json_object", "schema": ...}`` (its validation error comes back as an
    HTTP 500, not a 400/422). With ``structured="auto"`` the provider sends the
    json_schema form first; when the endpoint rejects the request with a 400, 422 or 5xx
    whose error is about ``response_format``, it retries once with the json_object form.
    Whichever form works is remembered in ``structured_form`` and sent directly from then
    on. ``structured="json_schema"`` or ``"json_object"`` forces one form.

Errors (all with ``tier="cloud"``, ``provider="openai"``)
    401/403 → AuthFailed; 429 → RateLimited with ``retry_after`` from ``retry-after-ms``
    or ``Retry-After`` (seconds or an HTTP date); timeouts → TimedOut; connection
    failures and dropped streams → Unreachable; ``context_length_exceeded`` →
    ContextTooLong; ``model_not_found`` or a 404 about the model → ModelMissing; other
    404s (a wrong base URL) and 5xx → Unreachable; other 4xx, unreadable answers and
    refusals → BadOutput.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Iterator
from typing import Any, Literal

import openai

from llm import cleanup
from llm.env import env_int, env_text
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
    Reply,
    ReplyStream,
    Usage,
    env_seconds,
    estimate_tokens,
    output_cap,
)

DEFAULT_MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "not-needed"
HEALTH_TIMEOUT = 3.0
DEFAULT_TIMEOUT = 60.0  # seconds without a byte from the endpoint (AMBIENT_CLOUD_TIMEOUT)
SCHEMA_NAME = "answer"

StructuredForm = Literal["json_schema", "json_object"]
_FORMS: tuple[StructuredForm, ...] = ("json_schema", "json_object")

NOT_CONFIGURED = (
    "No OpenAI key or endpoint is configured: set OPENAI_API_KEY "
    "(or OPENAI_BASE_URL for a compatible server)."
)

# Context windows of well-known OpenAI models, longest prefix first. Anything else (a
# compatible server's own model) gets ``AMBIENT_CLOUD_CONTEXT`` or the base default.
_CONTEXT_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-3.5-turbo", 16_385),
    ("gpt-5", 400_000),
    ("o4-mini", 200_000),
    ("o3", 200_000),
    ("o1", 200_000),
)

_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-*.]{3,}|Bearer\s+\S+)")


class CloudProvider(Provider):
    tier = "cloud"
    name = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float = 5.0,
        structured: str = "auto",
    ) -> None:
        if structured not in ("auto", *_FORMS):
            raise ValueError(
                f"structured must be 'auto', 'json_schema' or 'json_object', not {structured!r}"
            )
        self._api_key = api_key or env_text("OPENAI_API_KEY")
        self._base_url = base_url or env_text("OPENAI_BASE_URL")
        self._model = model or env_text("AMBIENT_CLOUD_MODEL", DEFAULT_MODEL)
        self._timeout = timeout or env_seconds("AMBIENT_CLOUD_TIMEOUT", DEFAULT_TIMEOUT)
        self._connect_timeout = connect_timeout
        self.structured = structured
        # The structured-output form known to work here (None: not tried yet, in auto mode).
        self.structured_form: StructuredForm | None = (
            None if structured == "auto" else structured  # type: ignore[assignment]
        )
        self._client: openai.OpenAI | None = None

    def __repr__(self) -> str:
        key = "set" if self._api_key else "not set"
        return (
            f"CloudProvider(endpoint={self.endpoint!r}, model={self._model!r}, api_key={key}, "
            f"structured={self.structured!r})"
        )

    # -- configuration -----------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return bool(self._api_key or self._base_url)

    @property
    def endpoint(self) -> str:
        """The base URL for messages: without any user:password part."""
        url = self._base_url or "https://api.openai.com/v1"
        return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", url)

    def _timeout_for(self, seconds: float | None) -> openai.Timeout:
        read = self._timeout if seconds is None else seconds
        return openai.Timeout(read, connect=min(self._connect_timeout, read))

    def _get_client(self) -> openai.OpenAI:
        if not self.configured:
            raise Unreachable(NOT_CONFIGURED, tier=self.tier, provider=self.name)
        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self._api_key or PLACEHOLDER_KEY,
                base_url=self._base_url,
                max_retries=0,
                timeout=self._timeout_for(None),
            )
        return self._client

    # -- Provider ------------------------------------------------------------------------
    def default_model(self) -> str:
        return self._model

    def context_window(self, model: str | None = None) -> int:
        configured = env_int("AMBIENT_CLOUD_CONTEXT", minimum=1)
        if configured:
            return configured
        name = (model or self._model).lower().rsplit("/", 1)[-1]
        for prefix, window in _CONTEXT_WINDOWS:
            if name.startswith(prefix):
                return window
        return super().context_window(model)

    def models(self, timeout: float = HEALTH_TIMEOUT) -> list[str]:
        """The model ids the endpoint lists; raises ``llm.errors`` exceptions."""
        client = self._get_client().with_options(timeout=self._timeout_for(timeout))
        try:
            return sorted(m.id for m in client.models.list())
        except openai.OpenAIError as exc:
            raise self._map(exc, model=None, timeout=timeout) from None

    def health(self) -> Health:
        if not self.configured:
            return Health(False, NOT_CONFIGURED)
        try:
            ids = self.models()
        except LLMError as exc:
            return Health(False, str(exc))
        if self._model in ids:
            detail = f"{self.endpoint} answers; {len(ids)} models, default {self._model}."
        else:
            detail = (
                f"{self.endpoint} answers with {len(ids)} models, but does not list the "
                f"default model {self._model}."
            )
        return Health(True, detail, ids)

    def stream(self, request: ChatRequest) -> ReplyStream:
        self._get_client()  # not configured: fail now, before anything is attempted
        model = request.model or self._model
        return ReplyStream(
            self._generate(request, model),
            tier=self.tier,
            provider=self.name,
            model=model,
            prompt_estimate=self._prompt_estimate(request),
            max_chars=output_cap(request.max_tokens),
        )

    def complete(self, request: ChatRequest) -> Reply:
        """One non-streaming request: the reply carries the usage the endpoint reports."""
        self._get_client()
        model = request.model or self._model
        return ReplyStream(
            self._whole(request, model),
            tier=self.tier,
            provider=self.name,
            model=model,
            prompt_estimate=self._prompt_estimate(request),
            max_chars=output_cap(request.max_tokens),
        ).collect()

    # -- requests ------------------------------------------------------------------------
    @staticmethod
    def _prompt_estimate(request: ChatRequest) -> int:
        # About four tokens of per-message overhead in OpenAI's chat format.
        return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in request.messages)

    def _create(self, request: ChatRequest, model: str, *, stream: bool) -> Any:
        """``chat.completions.create``, negotiating the structured-output form if needed."""
        client = self._get_client()
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "timeout": self._timeout_for(request.timeout),
        }
        if stream:
            kwargs["stream"] = True
            kwargs["stream_options"] = {"include_usage": True}
        if request.logprobs:
            kwargs["logprobs"] = True
        if request.schema is None:
            return client.chat.completions.create(**kwargs)

        form: StructuredForm = self.structured_form or "json_schema"
        try:
            result = client.chat.completions.create(
                **kwargs, response_format=_response_format(form, request.schema)
            )
        except openai.APIStatusError as exc:
            if self.structured != "auto" or self.structured_form or not _about_format(exc):
                raise
            first = exc
        else:
            self.structured_form = form
            return result
        # The endpoint does not take the json_schema form: try llama.cpp's, once.
        try:
            result = client.chat.completions.create(
                **kwargs, response_format=_response_format("json_object", request.schema)
            )
        except openai.APIStatusError as exc:
            if _about_format(exc):
                raise first from None
            raise
        self.structured_form = "json_object"
        return result

    def _generate(self, request: ChatRequest, model: str) -> Iterator[str | Done]:
        timeout = self._timeout if request.timeout is None else request.timeout
        error: LLMError | None = None
        response: Any = None
        pieces: list[str] = []
        logprobs: list[float] = []
        refusal: list[str] = []
        usage: Any = None
        answered_by = model
        finish = "stop"
        try:
            response = cleanup.held(self._create(request, model, stream=True))
            for chunk in response:
                answered_by = getattr(chunk, "model", None) or answered_by
                if getattr(chunk, "usage", None) is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None and delta.content:
                        pieces.append(delta.content)
                        yield delta.content
                    content_logprobs = getattr(getattr(choice, "logprobs", None), "content", None)
                    if content_logprobs:
                        logprobs.extend(float(t.logprob) for t in content_logprobs)
                    if delta is not None and getattr(delta, "refusal", None):
                        refusal.append(delta.refusal)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except openai.OpenAIError as exc:
            error = self._map(exc, model=model, timeout=timeout, partial=bool(pieces))
        except ValueError as exc:  # a chunk that is not JSON
            error = BadOutput(
                f"The cloud endpoint sent a stream that could not be read "
                f"({type(exc).__name__}); retry or use another tier.",
                tier=self.tier,
                provider=self.name,
            )
        finally:
            if response is not None:
                cleanup.close(response)  # never inside a GC pass (llm.cleanup)
        if error is not None:
            raise error
        text = "".join(pieces)
        if not text and refusal:
            raise BadOutput(
                f"The cloud model refused to answer: {self._scrub(''.join(refusal))}",
                tier=self.tier,
                provider=self.name,
            )
        yield Done(answered_by, self._usage(usage, request, text), finish,
                   tuple(logprobs) if logprobs else None)

    def _whole(self, request: ChatRequest, model: str) -> Iterator[str | Done]:
        timeout = self._timeout if request.timeout is None else request.timeout
        error: LLMError | None = None
        try:
            completion = self._create(request, model, stream=False)
        except openai.OpenAIError as exc:
            error = self._map(exc, model=model, timeout=timeout)
        if error is not None:
            raise error
        if not completion.choices:
            raise BadOutput(
                "The cloud endpoint answered with no choices; retry or use another tier.",
                tier=self.tier,
                provider=self.name,
            )
        choice = completion.choices[0]
        text = choice.message.content or ""
        if not text and getattr(choice.message, "refusal", None):
            raise BadOutput(
                f"The cloud model refused to answer: {self._scrub(choice.message.refusal)}",
                tier=self.tier,
                provider=self.name,
            )
        if text:
            yield text
        yield Done(
            completion.model or model,
            self._usage(completion.usage, request, text),
            choice.finish_reason or "stop",
        )

    def _usage(self, usage: Any, request: ChatRequest, text: str) -> Usage:
        if usage is not None and usage.prompt_tokens is not None:
            return Usage(usage.prompt_tokens, usage.completion_tokens or 0, "reported")
        return Usage(self._prompt_estimate(request), estimate_tokens(text), "estimated")

    # -- errors --------------------------------------------------------------------------
    def _scrub(self, text: str, limit: int = 300) -> str:
        """One line of a server's message, without the key or anything shaped like one."""
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        text = _KEY_SHAPES.sub("***", text)
        line = " ".join(text.strip().splitlines()[:1]).strip()
        return line if len(line) <= limit else line[: limit - 1] + "…"

    def _map(
        self,
        exc: openai.OpenAIError,
        *,
        model: str | None,
        timeout: float,
        partial: bool = False,
    ) -> LLMError:
        """Turn an ``openai`` exception into an ``llm.errors`` one with an actionable sentence."""
        kw = {"tier": self.tier, "provider": self.name}
        kept = " (the partial answer is kept)" if partial else ""
        if isinstance(exc, openai.APITimeoutError):
            return TimedOut(
                f"The cloud endpoint {self.endpoint} did not answer within {timeout:g} s{kept}; "
                "try again, or raise the timeout.",
                **kw,
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            why = f" ({self._scrub(str(cause), 120)})" if cause and str(cause) else ""
            if partial:
                return Unreachable(
                    f"The connection to the cloud endpoint {self.endpoint} broke mid-answer"
                    f"{why}{kept}; retry, or use another tier.",
                    **kw,
                )
            return Unreachable(
                f"Could not connect to the cloud endpoint {self.endpoint}{why}; check "
                "OPENAI_BASE_URL and the network, or use another tier.",
                **kw,
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return BadOutput(
                f"The cloud endpoint sent an answer that could not be read{kept}; retry, or "
                "use another tier.",
                **kw,
            )
        if not isinstance(exc, openai.APIStatusError):
            if isinstance(exc, openai.APIError):  # an error event in the middle of a stream
                return Unreachable(
                    f"The cloud endpoint failed mid-answer: {self._scrub(exc.message)}{kept}; "
                    "retry, or use another tier.",
                    **kw,
                )
            return Unreachable(
                f"The cloud client failed: {self._scrub(str(exc))}; check the cloud settings.",
                **kw,
            )

        status = exc.status_code
        code = str(exc.code or "")
        message = self._scrub(_server_message(exc))
        detail = f": {message}" if message else ""
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            what = "refused the API key" if status == 401 else "does not allow this API key"
            return AuthFailed(
                f"The cloud endpoint {what} (HTTP {status}) — check OPENAI_API_KEY (or the "
                "key in Streamlit secrets) and that it is active and allowed to use "
                f"{model or 'this model'}.",
                **kw,
            )
        if isinstance(exc, openai.RateLimitError):
            retry_after = _retry_after(exc.response)
            if code == "insufficient_quota":
                return RateLimited(
                    f"The OpenAI account has used up its quota (HTTP 429){detail}; add credit "
                    "or use another tier.",
                    retry_after=None,
                    **kw,
                )
            when = (
                f"retry in {retry_after:g} s"
                if retry_after is not None
                else "wait a moment and retry"
            )
            return RateLimited(
                f"The cloud endpoint is rate-limiting requests (HTTP 429); {when}, or use "
                "another tier.",
                retry_after=retry_after,
                **kw,
            )
        if code == "context_length_exceeded" or "maximum context length" in message.lower():
            return ContextTooLong(
                f"The conversation is too long for {model or 'the model'}{detail}; start a new "
                "conversation or shorten it.",
                **kw,
            )
        if code == "model_not_found" or (
            status == 404 and model is not None and (model in message or "model" in message)
        ):
            return ModelMissing(
                f"The cloud endpoint has no model {model!r} (or this key cannot use it); pick "
                "another model or set AMBIENT_CLOUD_MODEL.",
                **kw,
            )
        if status == 404:
            return Unreachable(
                f"The cloud endpoint {self.endpoint} answered HTTP 404{detail}; check "
                "OPENAI_BASE_URL (it usually ends in /v1).",
                **kw,
            )
        if status >= 500:
            return Unreachable(
                f"The cloud endpoint failed (HTTP {status}){detail}; try again later or use "
                "another tier.",
                **kw,
            )
        return BadOutput(
            f"The cloud endpoint rejected the request (HTTP {status}){detail}; check the "
            "request settings (model, max tokens, schema).",
            **kw,
        )


def _response_format(form: StructuredForm, schema: dict[str, Any]) -> dict[str, Any]:
    if form == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": False},
        }
    return {"type": "json_object", "schema": schema}


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, dict) and isinstance(body.get("detail"), str | list):
        return str(body["detail"])  # FastAPI-style validation errors (422)
    if isinstance(body, str):
        return body
    return ""


def _about_format(exc: openai.APIStatusError) -> bool:
    """Whether the endpoint rejected the request because of its ``response_format``."""
    status = exc.status_code
    if status not in (400, 422) and status < 500:
        return False
    text = f"{exc.body!r} {exc.message}".lower()
    if "invalid schema" in text:
        # OpenAI's "Invalid schema for response_format ...": the form is right, the schema
        # is not, and the other form would not help.
        return False
    return "response_format" in text or str(exc.param or "").startswith("response_format")


def _retry_after(response: Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
