"""One chat turn, from the user's words to a stored answer.

The story of a message: the user's text is stored first (so a failing model loses
nothing); the context is built from the expert's system prompt, a digest of recent
activity and as much recent conversation as the answering model's window holds; the
router picks the tier (privacy, pin, budget, availability, difficulty, cascade) and
streams the answer; the answer — or a readable error, or the part that arrived before
the user stopped it — is stored with the tier, model, cost, savings and route reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from core.conversation import Message, add_message, history
from core.db import Database
from core.events import digest, recent_events
from core.experts import Expert, load_expert
from llm.context import FittedContext, Turn, fit_context
from llm.errors import LLMError
from llm.providers.base import Provider
from llm.router import LLMRequest, Notice, Origin, Router, RouteResult

log = logging.getLogger(__name__)

MAX_USER_CHARS = 8_000
REPLY_TOKENS = 384
HISTORY_LIMIT = 200
EVENTS_IN_DIGEST = 12


class ChatInputError(ValueError):
    """The user's message cannot be sent as it is; the text says why."""


@dataclass
class TurnResult:
    reply: Message | None = None
    error: str | None = None
    context: FittedContext | None = None
    route: RouteResult | None = None


def build_context(
    db: Database, session_id: str, provider: Provider, expert: Expert
) -> FittedContext:
    events = recent_events(db, session_id, EVENTS_IN_DIGEST)
    turns = [
        Turn(m.role, m.content)
        for m in history(db, session_id, limit=HISTORY_LIMIT)
        if m.role in ("user", "assistant") and m.content and m.status != "error"
    ]
    return fit_context(
        expert.system_prompt,
        [digest(events)],
        turns,
        count=provider.count_tokens,
        window=provider.context_window(),
        reserve_for_reply=REPLY_TOKENS,
    )


def _reply_meta(result: RouteResult) -> dict[str, object]:
    return {
        "request_id": result.request_id,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "usage_source": result.usage.source,
        "cost_usd": str(result.cost_usd),
        "counterfactual_usd": str(result.counterfactual_usd),
        "savings_usd": str(result.savings_usd),
        "route_reason": result.route_reason,
        "note": result.note,
        "attempts": len(result.attempts),
        "latency_s": round(result.latency_s, 3),
        "ttft_s": round(result.ttft_s, 3) if result.ttft_s is not None else None,
    }


class ChatTurn:
    """Stores the user's message at once; ``stream()`` yields the answer and stores it."""

    def __init__(
        self,
        db: Database,
        session_id: str,
        text: str,
        *,
        router: Router,
        expert: Expert | None = None,
        page: str | None = None,
    ) -> None:
        text = text.strip()
        if not text:
            raise ChatInputError("The message is empty; type a question first.")
        if len(text) > MAX_USER_CHARS:
            raise ChatInputError(
                f"The message is {len(text):,} characters; the limit is {MAX_USER_CHARS:,}. "
                "Shorten it or split it into several messages."
            )
        self.db = db
        self.session_id = session_id
        self.router = router
        self.expert = expert or load_expert()
        self.page = page
        self.tier: str | None = None
        self.user_message = add_message(db, session_id, "user", text)
        self.result = TurnResult()

    def _store_failure(self, partial: str, error: str, status: str) -> None:
        self.result.error = error
        self.result.reply = add_message(
            self.db,
            self.session_id,
            "assistant",
            partial,
            status=status,
            tier=self.tier,
            model=None,
            meta={"error": error},
        )

    def _request(self, messages: list[dict[str, str]]) -> LLMRequest:
        return LLMRequest(
            messages=messages,
            purpose=self.expert.purpose,
            expert=self.expert.name,
            expert_tier=self.expert.tier,
            origin=Origin(session_id=self.session_id, page=self.page),
            max_tokens=REPLY_TOKENS,
            temperature=self.expert.temperature,
        )

    def stream(self) -> Iterator[str]:
        """Yield the answer as it arrives (escalation notices in italics between attempts)."""
        routed = None
        try:
            probe = self._request([{"role": "user", "content": self.user_message.content}])
            self.tier = self.router.first_tier(probe)
            provider = self.router.provider(self.tier)
            context = build_context(self.db, self.session_id, provider, self.expert)
            self.result.context = context
            routed = self.router.stream(self._request(context.messages))
            for piece in routed:
                if isinstance(piece, Notice):
                    yield f"\n\n*{piece.text}*\n\n"
                else:
                    yield piece
            result = routed.result
            assert result is not None
            text = result.text.strip() or "(The model returned an empty answer.)"
            meta = _reply_meta(result) | {"context": context.describe()}
            self.result.route = result
            self.result.reply = add_message(
                self.db, self.session_id, "assistant", text,
                tier=result.tier, model=result.model, meta=meta,
            )
        except LLMError as exc:
            self._store_failure(routed.text if routed else "", str(exc), "error")
        except GeneratorExit:
            partial = routed.text if routed else ""
            self._store_failure(partial, "The answer was stopped before it finished.", "partial")
            raise
        except Exception as exc:
            log.exception("chat turn failed")
            self._store_failure(
                routed.text if routed else "",
                f"Something went wrong while answering ({exc.__class__.__name__}: {exc}). "
                "Your message is saved; try again.",
                "error",
            )
        finally:
            if routed is not None:
                routed.close()
