"""A benchmark stand-in provider that answers at once, so routing overhead can be isolated.

It is not a model: every request gets the same short text and a usage figure it reports as
the provider's own (prompt tokens estimated from the prompt, completion tokens fixed), the
way a real provider reports usage. Timing the same request on it directly and through the
router leaves only the router's own work: privacy scan, planning, health check (cached),
validation, pricing and the ledger write.
"""

from __future__ import annotations

from collections.abc import Iterator

from llm.providers.base import (
    ChatRequest,
    Done,
    Health,
    Provider,
    ReplyStream,
    Usage,
    estimate_tokens,
)

ANSWER = "Fix the redirect chains first: they cost crawl budget on every visit."
MODEL = "instant-1"


class InstantProvider(Provider):
    """Benchmark stand-in on the embedded tier: a fixed answer with reported usage, no model."""

    tier = "embedded"
    name = "instant"

    def default_model(self) -> str:
        return MODEL

    def health(self) -> Health:
        return Health(True, "Instant benchmark stand-in.", [MODEL])

    def stream(self, request: ChatRequest) -> ReplyStream:
        prompt = sum(estimate_tokens(m.get("content", "")) for m in request.messages)
        return ReplyStream(self._answer(prompt), tier=self.tier, provider=self.name, model=MODEL,
                           prompt_estimate=prompt)

    def _answer(self, prompt_tokens: int) -> Iterator[str | Done]:
        yield ANSWER
        yield Done(MODEL, Usage(prompt_tokens, estimate_tokens(ANSWER), "reported"))
