"""A scripted in-process provider: answers written in advance, for tests and benchmarks.

Like simonw/llm's ``MockModel``, it is a real provider to everything above it (it
subclasses ``llm.providers.base.Provider`` and returns a ``ReplyStream``) but answers
from a queue instead of a model::

    provider = ScriptedProvider(tier="local")
    provider.enqueue(["A plain answer.", ["Streamed ", "in ", "pieces."]])
    router = Router(db, providers={"local": provider}, settings=RouterSettings())

- Each request takes the next scripted reply: a string (one piece), a list of streamed
  pieces, an ``llm.errors`` exception (the request fails with it, as a real provider's
  would), or a ``ScriptedReply`` for the finish reason or a usage figure of its own. An
  exception among a list's pieces is raised after the pieces before it have streamed
  (a reply that breaks mid-way).
- When the queue is empty every request gets ``default_reply``, so a benchmark can call
  it for ever.
- Usage is reported the way a provider reports it (``Usage(..., "reported")``): prompt
  tokens estimated from the messages, completion tokens from the text, about four
  characters a token, so the router prices and books it like any other answer.
- ``requests`` holds the ``ChatRequest`` objects it received (the newest ``keep`` of them),
  to assert what the caller sent. ``available`` and ``health_detail`` set what ``health()``
  says; tier, name, model and context window are set when it is built.

The router caches health checks (``RouterSettings.health_ttl_s``): flip ``available``
before the router first asks, or build the router with ``health_ttl_s=0``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from llm.errors import LLMError
from llm.providers.base import (
    ChatRequest,
    Done,
    Health,
    Provider,
    ReplyStream,
    Usage,
    estimate_tokens,
    output_cap,
)

DEFAULT_REPLY = "Fix the redirect chains first: they cost crawl budget on every visit."
MODEL = "scripted-1"


@dataclass(frozen=True)
class ScriptedReply:
    """One scripted answer in full: its streamed pieces (an ``LLMError`` among them is
    raised at that point), the usage to report (None: counted from the text, as usual)
    and how it ended (``"length"`` for an answer cut off at ``max_tokens``)."""

    pieces: tuple[str | LLMError, ...]
    usage: Usage | None = None
    finish_reason: str = "stop"


Script = str | Sequence[str | LLMError] | LLMError | ScriptedReply


def _as_reply(script: Script) -> ScriptedReply:
    if isinstance(script, ScriptedReply):
        return script
    if isinstance(script, str | LLMError):
        return ScriptedReply((script,))
    pieces = tuple(script)
    for piece in pieces:
        if not isinstance(piece, str | LLMError):
            raise TypeError(
                f"A scripted piece must be text or an llm.errors exception, not {piece!r:.60}."
            )
    return ScriptedReply(pieces)


class ScriptedProvider(Provider):
    """A provider that answers from a queue of scripted replies (see the module's docstring)."""

    def __init__(
        self,
        replies: Iterable[Script] = (),
        *,
        tier: str = "embedded",
        name: str = "scripted",
        model: str = MODEL,
        context_window: int = 4096,
        default_reply: str = DEFAULT_REPLY,
        available: bool = True,
        health_detail: str = "",
        keep: int = 10_000,
    ) -> None:
        self.tier = tier
        self.name = name
        self.model = model
        self.window = context_window
        self.default_reply = default_reply
        self.available = available
        self.health_detail = health_detail
        self._queue: deque[ScriptedReply] = deque()
        self._requests: deque[ChatRequest] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.enqueue(replies)

    # -- scripting -----------------------------------------------------------------------
    def enqueue(self, replies: Iterable[Script] | Script) -> None:
        """Add replies to the queue, in order: ``enqueue(["one", ["two ", "pieces"]])``.
        A single string, exception or ScriptedReply is one reply."""
        if isinstance(replies, str | LLMError | ScriptedReply):
            replies = [replies]
        scripted = [_as_reply(r) for r in replies]
        with self._lock:
            self._queue.extend(scripted)

    @property
    def pending(self) -> int:
        """How many scripted replies are still waiting for a request."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[ChatRequest]:
        """The requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> ChatRequest:
        with self._lock:
            if not self._requests:
                raise LookupError(f"The scripted {self.tier} provider has had no request.")
            return self._requests[-1]

    # -- the Provider interface ----------------------------------------------------------
    def default_model(self) -> str:
        return self.model

    def context_window(self, model: str | None = None) -> int:
        return self.window

    def health(self) -> Health:
        if self.available:
            detail = self.health_detail or f"The scripted {self.tier} stand-in answers."
            return Health(True, detail, [self.model])
        detail = self.health_detail or (
            f"The scripted {self.tier} stand-in is set to be unavailable."
        )
        return Health(False, detail)

    def stream(self, request: ChatRequest) -> ReplyStream:
        with self._lock:
            self._requests.append(request)
            scripted = self._queue.popleft() if self._queue else None
        if scripted is None:
            scripted = ScriptedReply((self.default_reply,))
        model = request.model or self.model
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in request.messages)
        return ReplyStream(
            self._answer(scripted, model, prompt),
            tier=self.tier,
            provider=self.name,
            model=model,
            prompt_estimate=prompt,
            max_chars=output_cap(request.max_tokens),
        )

    def _answer(
        self, scripted: ScriptedReply, model: str, prompt_tokens: int
    ) -> Iterator[str | Done]:
        text: list[str] = []
        for piece in scripted.pieces:
            if isinstance(piece, LLMError):
                piece.tier = piece.tier or self.tier
                piece.provider = piece.provider or self.name
                raise piece
            text.append(piece)
            yield piece
        usage = scripted.usage or Usage(
            prompt_tokens, estimate_tokens("".join(text)), "reported"
        )
        yield Done(model, usage, scripted.finish_reason)
