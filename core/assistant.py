"""One chat turn, from the user's words to a stored answer.

The story of a message: the user's text is stored first (so a failing model loses
nothing); the context is built from the expert's system prompt, a digest of recent
activity and as much recent conversation as the model's window holds; the provider
streams the answer; the answer — or a readable error, or the part that arrived before
the user stopped it — is stored with the model that produced it.
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
from llm.providers import get_provider
from llm.providers.base import ChatRequest, Provider, Reply

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


def _usage_meta(reply: Reply) -> dict[str, object]:
    return {
        "prompt_tokens": reply.usage.prompt_tokens,
        "completion_tokens": reply.usage.completion_tokens,
        "usage_source": reply.usage.source,
        "finish_reason": reply.finish_reason,
        "latency_s": round(reply.latency_s, 3),
        "ttft_s": round(reply.ttft_s, 3) if reply.ttft_s is not None else None,
    }


class ChatTurn:
    """Stores the user's message at once; ``stream()`` yields the answer and stores it."""

    def __init__(
        self,
        db: Database,
        session_id: str,
        text: str,
        *,
        provider: Provider | None = None,
        expert: Expert | None = None,
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
        self.provider = provider or get_provider("embedded")
        self.expert = expert or load_expert()
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
            tier=self.provider.tier,
            model=self.provider.default_model(),
            meta={"error": error},
        )

    def stream(self) -> Iterator[str]:
        reply_stream = None
        finished = False
        try:
            context = build_context(self.db, self.session_id, self.provider, self.expert)
            self.result.context = context
            reply_stream = self.provider.stream(
                ChatRequest(
                    messages=context.messages,
                    max_tokens=REPLY_TOKENS,
                    temperature=self.expert.temperature,
                )
            )
            yield from reply_stream
            reply = reply_stream.reply
            assert reply is not None
            text = reply.text.strip() or "(The model returned an empty answer.)"
            meta = _usage_meta(reply) | {"context": context.describe()}
            self.result.reply = add_message(
                self.db,
                self.session_id,
                "assistant",
                text,
                tier=reply.tier,
                model=reply.model,
                meta=meta,
            )
            finished = True
        except LLMError as exc:
            finished = True
            self._store_failure(reply_stream.text if reply_stream else "", str(exc), "error")
        except GeneratorExit:
            finished = True
            partial = reply_stream.text if reply_stream else ""
            self._store_failure(partial, "The answer was stopped before it finished.", "partial")
            raise
        except Exception as exc:
            finished = True
            log.exception("chat turn failed")
            self._store_failure(
                reply_stream.text if reply_stream else "",
                f"Something went wrong while answering ({exc.__class__.__name__}: {exc}). "
                "Your message is saved; try again.",
                "error",
            )
        finally:
            if reply_stream is not None:
                reply_stream.close()
            if not finished:  # pragma: no cover - defensive: never leave a turn unanswered
                self._store_failure("", "The answer was interrupted.", "partial")
