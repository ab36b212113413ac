"""The one small interface every model provider implements.

A provider turns a ``ChatRequest`` into a ``ReplyStream``: iterate it for text as it
arrives; once it is exhausted, ``stream.reply`` holds the whole text, the model that
answered, token usage (reported by the provider, or estimated and marked so), the
finish reason and timings. Providers raise only ``llm.errors`` exceptions.

Whatever a server sends, a ``ReplyStream`` keeps it bounded and storable: text beyond
``max_chars`` (a server that ignores ``max_tokens``) is cut off, the connection closed and
the reply marked ``finish_reason="length"``; characters no database or page should hold
(NUL and other control characters, lone UTF-16 surrogates left by a bad ``\\ud800``
escape) are removed or replaced by U+FFFD.
"""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from llm.env import env_float
from store.text import storable

log = logging.getLogger(__name__)

UsageSource = Literal["reported", "estimated"]

# A token is about four characters of English; even runs of spaces or long words rarely
# pass 24. More text than this per asked-for token means the server ignored max_tokens.
MAX_CHARS_PER_TOKEN = 24
_CONTROLS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    model: str | None = None
    max_tokens: int = 512
    temperature: float = 0.7
    schema: dict[str, Any] | None = None
    timeout: float | None = None
    # Ask for each generated token's log-probability, where the tier reports them (the
    # router's answer check reads their quantiles).
    logprobs: bool = False


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    source: UsageSource = "reported"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Done:
    """What a provider's generator yields last: usage and how the answer ended."""

    model: str
    usage: Usage
    finish_reason: str = "stop"
    logprobs: tuple[float, ...] | None = None  # per generated token, when reported


@dataclass(frozen=True)
class Reply:
    text: str
    tier: str
    provider: str
    model: str
    usage: Usage
    finish_reason: str
    latency_s: float
    ttft_s: float | None
    logprobs: tuple[float, ...] | None = None  # per generated token, when reported


@dataclass
class Health:
    available: bool
    detail: str
    models: list[str] = field(default_factory=list)


def output_cap(max_tokens: int) -> int:
    """The most characters a reply asked for ``max_tokens`` tokens may bring."""
    return max(max_tokens, 1) * MAX_CHARS_PER_TOKEN + 256


def clean_text(text: str) -> str:
    """``text`` as it may be stored and shown: ``store.text.storable`` (no NUL, U+FFFD for
    a lone surrogate), and without other control characters (tab and newlines stay)."""
    return storable(_CONTROLS.sub("", text))


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment, else ``default`` (with a warning).

    Lenient on purpose: a mistyped timeout should not take a tier down."""
    try:
        return env_float(name, default, positive=True)
    except ValueError as exc:
        log.warning("%s Using %g seconds.", exc, default)
        return default


def estimate_tokens(text: str) -> int:
    """About four characters a token for English; used only where no tokenizer is at hand."""
    return max(1, (len(text) + 3) // 4) if text else 0


class ReplyStream:
    """Iterate for text pieces; ``reply`` is set once the provider has finished.

    ``text`` holds what arrived so far, so a caller that hits an error mid-stream can
    still keep the partial answer. ``close()`` stops generation early. Past ``max_chars``
    the reply is cut off and generation stopped (see the module's docstring).
    """

    def __init__(
        self,
        pieces: Iterator[str | Done],
        *,
        tier: str,
        provider: str,
        model: str,
        prompt_estimate: int = 0,
        max_chars: int | None = None,
    ) -> None:
        self._pieces = pieces
        self.max_chars = max_chars
        self.tier = tier
        self.provider = provider
        self.model = model
        self._prompt_estimate = prompt_estimate
        self._parts: list[str] = []
        self._started = time.perf_counter()
        self._ttft: float | None = None
        self.reply: Reply | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def __iter__(self) -> Iterator[str]:
        done: Done | None = None
        size = 0
        overflow = False
        for piece in self._pieces:
            if isinstance(piece, Done):
                done = piece
                continue
            piece = clean_text(piece)
            if not piece:
                continue
            if self.max_chars is not None and size + len(piece) > self.max_chars:
                piece = piece[: self.max_chars - size]
                overflow = True
            if piece:
                if self._ttft is None:
                    self._ttft = time.perf_counter() - self._started
                self._parts.append(piece)
                size += len(piece)
                yield piece
            if overflow:
                log.warning(
                    "The %s tier sent more than %d characters; the reply was cut off.",
                    self.tier, self.max_chars,
                )
                self.close()  # stop reading: the server would go on for ever
                break
        text = self.text
        if overflow:
            done = Done(
                self.model,
                Usage(self._prompt_estimate, estimate_tokens(text), "estimated"),
                "length",
            )
        elif done is None:
            done = Done(
                self.model,
                Usage(self._prompt_estimate, estimate_tokens(text), "estimated"),
            )
        self.model = done.model
        self.reply = Reply(
            text=text,
            tier=self.tier,
            provider=self.provider,
            model=done.model,
            usage=done.usage,
            finish_reason=done.finish_reason,
            latency_s=time.perf_counter() - self._started,
            ttft_s=self._ttft,
            logprobs=None if overflow else done.logprobs,
        )

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def collect(self) -> Reply:
        """Consume the whole stream and return the reply."""
        for _ in self:
            pass
        assert self.reply is not None
        return self.reply


class Provider(ABC):
    """A model tier. Subclasses set ``tier`` and ``name`` and implement the methods."""

    tier: str = ""
    name: str = ""

    @abstractmethod
    def stream(self, request: ChatRequest) -> ReplyStream: ...

    @abstractmethod
    def health(self) -> Health: ...

    @abstractmethod
    def default_model(self) -> str: ...

    def context_window(self, model: str | None = None) -> int:
        return 4096

    def count_tokens(self, text: str, model: str | None = None) -> tuple[int, bool]:
        """Token count of ``text`` and whether it is exact (the model's own tokenizer)."""
        return estimate_tokens(text), False

    def complete(self, request: ChatRequest) -> Reply:
        return self.stream(request).collect()
