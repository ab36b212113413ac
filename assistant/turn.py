"""One chat turn, from the user's words to a stored answer.

The story of a message: the user's text is stored first (so a failing model loses
nothing). Questions Ambient answers from its own data — what it can do, what the user
just did, what it remembers, where a job stands, arithmetic (``assistant.facts``) — are
answered from that data by rule, with no model call, on every tier: the reply is stored
with the tier "facts" and says where it came from. Plain statements ("my name is Ann")
become actions by rule; otherwise, if it may ask for something to be done, the action
planner (which sees only the user's own words) proposes validated actions; safe ones run
at once, destructive ones wait for the user's click. The context is built from the
expert's system prompt, remembered facts, a digest of recent activity and progress
messages, and the conversation; it goes to the router unfitted (a ``ContextSpec``), in
one call: the router picks the tier, fits the context to the window of each tier it
tries (so the answering model gets as much of the conversation as its window holds) and
streams the answer. The answer — or a readable error, or the part that arrived before
the user stopped it — is stored with the tier, model, cost, savings, route reason and
how full the window was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from assistant import actions, facts, planner
from assistant.intents import rule_proposals
from core.conversation import (
    Message,
    active_conversation,
    add_message,
    count_messages,
    history,
)
from core.events import digest, recent_events
from core.experts import Expert, load_expert
from core.memory import facts as remembered
from core.memory import facts_digest, scope_for
from llm import cleanup
from llm.context import ContextSpec, FittedContext, Turn
from llm.errors import LLMError
from llm.providers.base import Provider
from llm.router import LLMRequest, Notice, Origin, RoutedStream, Router, RouteResult
from store.db import Database, StorageUnwritable
from store.text import storable

log = logging.getLogger(__name__)

MAX_USER_CHARS = 8_000
REPLY_TOKENS = 384
HISTORY_LIMIT = 200
EVENTS_IN_DIGEST = 12
NARRATION_IN_CONTEXT = 5


class ChatInputError(ValueError):
    """The user's message cannot be sent as it is; the text says why."""


class ChatStorageError(RuntimeError):
    """The user's message could not be stored (the database stayed busy or is down)."""


@dataclass
class TurnResult:
    reply: Message | None = None
    error: str | None = None
    context: FittedContext | None = None
    route: RouteResult | None = None
    outcomes: list[actions.Outcome] = field(default_factory=list)
    pending: list[actions.Pending] = field(default_factory=list)
    rejections: list[actions.Rejection] = field(default_factory=list)

    @property
    def effects(self) -> list[dict[str, Any]]:
        return [o.effect for o in self.outcomes if o.ok and o.effect]


def context_spec(
    db: Database,
    session_id: str,
    expert: Expert,
    conversation_id: int | None = None,
    extra: str = "",
    up_to: int | None = None,
) -> ContextSpec:
    """Expert prompt + facts + activity digest + progress + conversation, not yet fitted
    (the router fits it to the window of each tier it tries). ``up_to``: the conversation
    as it was at that message (a re-asked question, without the answer it got)."""
    conversation_id = conversation_id or active_conversation(db, session_id)
    messages = history(db, session_id, limit=HISTORY_LIMIT, conversation_id=conversation_id)
    if up_to is not None:
        messages = [m for m in messages if m.id <= up_to]
    turns = [
        Turn(m.role, m.content)
        for m in messages
        if m.role in ("user", "assistant") and m.content and m.status != "error"
    ]
    narration = [m.content for m in messages if m.role == "narration"][-NARRATION_IN_CONTEXT:]
    total_turns = count_messages(db, session_id, conversation_id) - (
        len(messages) - len(turns)
    )
    sections = [
        extra,
        facts_digest(remembered(db, scope_for(db, session_id))),
        digest(recent_events(db, session_id, EVENTS_IN_DIGEST)),
        "Recent progress messages in the chat:\n" + "\n".join(f"- {n}" for n in narration)
        if narration
        else "",
    ]
    return ContextSpec(
        expert.system_prompt,
        tuple(sections),
        tuple(turns),
        reserve_for_reply=REPLY_TOKENS,
        total_messages=max(total_turns, len(turns)),
    )


def build_context(
    db: Database,
    session_id: str,
    provider: Provider,
    expert: Expert,
    conversation_id: int | None = None,
    extra: str = "",
) -> FittedContext:
    """``context_spec`` fitted to ``provider``'s window (what the router does per attempt)."""
    spec = context_spec(db, session_id, expert, conversation_id, extra)
    return spec.fit(provider.count_tokens, provider.context_window())


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
        "fallback": result.fallback_reason,
        "note": result.note,
        "attempts": len(result.attempts),
        "latency_s": round(result.latency_s, 3),
        "ttft_s": round(result.ttft_s, 3) if result.ttft_s is not None else None,
        "difficulty": None if result.difficulty is None else round(result.difficulty, 3),
        "confidence": None if result.confidence is None else round(result.confidence, 3),
        "caution": result.caution,
        "stronger_tier": result.stronger_tier,
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
        pages: tuple[str, ...] = (),
    ) -> None:
        text = storable(text).strip()  # as it will be saved (no NUL, no lone surrogate)
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
        self.pages = pages
        self.tier: str | None = None
        try:
            self.conversation_id = active_conversation(db, session_id)
            self.user_message = add_message(
                db, session_id, "user", text, conversation_id=self.conversation_id
            )
        except StorageUnwritable as exc:
            raise ChatStorageError(
                f"Your message was not sent: {exc} It is shown below to copy."
            ) from exc
        except SQLAlchemyError as exc:
            raise ChatStorageError(
                "The database is busy or unreachable, so your message was not sent (nothing "
                "was half-saved). It is shown below: copy it and send it again in a moment."
            ) from exc
        self.result = TurnResult()
        self.reasking: Message | None = None  # the doubtful reply "Ask a stronger model" re-asks
        self.pin: str | None = None

    @classmethod
    def reask(
        cls, db: Database, session_id: str, reply: Message, tier: str, *, router: Router,
        expert: Expert | None = None, page: str | None = None, pages: tuple[str, ...] = (),
    ) -> ChatTurn:
        """"Ask a stronger model": the question ``reply`` answered, asked again on ``tier``
        (the router still keeps private data local). The question is not stored twice; the
        new answer is linked to the request it re-asks and booked as the user's
        escalation."""
        conversation_id = active_conversation(db, session_id)
        earlier = [m for m in history(db, session_id, limit=HISTORY_LIMIT,
                                      conversation_id=conversation_id)
                   if m.role == "user" and m.id < reply.id]
        if not earlier:
            raise ChatInputError("The question of that answer is no longer in the chat.")
        turn = cls.__new__(cls)
        turn.db, turn.session_id, turn.router = db, session_id, router
        turn.expert = expert or load_expert()
        turn.page, turn.pages, turn.tier = page, pages, None
        turn.conversation_id = conversation_id
        turn.user_message = earlier[-1]
        turn.result = TurnResult()
        turn.reasking, turn.pin = reply, tier
        return turn

    def _store_failure(
        self, routed: RoutedStream | None, partial: str, error: str, status: str
    ) -> None:
        if routed is not None:  # the tier and context of the attempt that failed last
            self.tier = routed.tier
            self.result.context = routed.context
        self.result.error = error
        self.result.reply = add_message(
            self.db, self.session_id, "assistant", partial, status=status, tier=self.tier,
            meta={"error": error, **self._action_meta()},
            conversation_id=self.conversation_id,
        )

    def _origin(self) -> Origin:
        return Origin(session_id=self.session_id, page=self.page)

    def _request(self, context: ContextSpec) -> LLMRequest:
        parent = self.reasking.meta.get("request_id") if self.reasking else None
        return LLMRequest(
            context=context,
            purpose=self.expert.purpose,
            expert=self.expert.name,
            expert_tier=self.expert.tier,
            origin=self._origin(),
            max_tokens=REPLY_TOKENS,
            temperature=self.expert.temperature,
            tier=self.pin,
            parent_request_id=parent,
            escalation="user" if self.reasking else None,
        )

    # -- actions -------------------------------------------------------------------
    def _act(self, *, plan: bool = True) -> str:
        """Plan and run actions for this user turn; returns a note for the model's context.
        ``plan=False``: only the statements read by rule (no planner call)."""
        text = self.user_message.content
        proposals = rule_proposals(text)
        if plan and not proposals and planner.may_ask_for_action(text):
            plan_result = planner.plan_actions(
                self.router, text, origin=self._origin(), pages=self.pages
            )
            proposals = list(plan_result.proposals)
            self.result.rejections = list(plan_result.rejections)
        context = actions.ActionContext(
            self.db, self.session_id, self.page, user_turn=True, pages=self.pages
        )
        for proposal in proposals:
            done = actions.execute(context, proposal)
            if isinstance(done, actions.Pending):
                self.result.pending.append(done)
            else:
                self.result.outcomes.append(done)
        lines = [f"- done: {o.message}" if o.ok else f"- failed: {o.message}"
                 for o in self.result.outcomes]
        lines += [f"- waiting for the user's confirmation: {p.summary}"
                  for p in self.result.pending]
        if not lines:
            return ""
        return "Actions taken on this turn (tell the user briefly):\n" + "\n".join(lines)

    def _action_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.result.outcomes:
            meta["actions"] = [
                {"ok": o.ok, "message": o.message, "effect": o.effect}
                for o in self.result.outcomes
            ]
        if self.result.pending:
            meta["pending_actions"] = [
                {"name": p.proposal.name, "args": p.proposal.args, "summary": p.summary}
                for p in self.result.pending
            ]
        if self.result.rejections:
            meta["rejected_actions"] = [r.reason for r in self.result.rejections]
        return meta

    # -- the answer ----------------------------------------------------------------
    def _answer_from_data(self, recognised: facts.Recognised) -> Iterator[str]:
        """The questions answered from Ambient's data: stored, then yielded in one piece."""
        self._act(plan=False)  # "My name is Ann. What is my name?": the statement first
        answer = facts.answer(self.db, self.session_id, recognised.questions, self.pages)
        self.tier = facts.TIER
        meta = {
            "answered_from": answer.answered_from,
            "route_reason": (
                f"Answered by rule from Ambient's data ({answer.answered_from}); no model "
                "was called, so nothing was booked in the cost ledger."
            ),
        } | self._action_meta()
        self.result.reply = add_message(
            self.db, self.session_id, "assistant", answer.text, tier=facts.TIER, meta=meta,
            conversation_id=self.conversation_id,
        )
        yield answer.text

    def _facts_note(self, recognised: facts.Recognised | None) -> str:
        """For a message that also asks something else: the facts, for the model to use."""
        if recognised is None:
            return ""
        answer = facts.answer(self.db, self.session_id, recognised.questions, self.pages)
        return ("Facts from Ambient's own data for part of the user's message (use them "
                f"exactly; do not change the figures):\n{answer.text}")

    def stream(self) -> Iterator[str]:
        """Yield the answer as it arrives (escalation notices in italics between attempts)."""
        routed = None
        try:
            if self.reasking is None:
                recognised = facts.recognise(self.user_message.content)
                if recognised is not None and recognised.complete:
                    yield from self._answer_from_data(recognised)
                    return
                note = "\n\n".join(n for n in (self._act(), self._facts_note(recognised)) if n)
                spec = context_spec(self.db, self.session_id, self.expert,
                                    self.conversation_id, note)
            else:  # the same question again, as it stood, on the stronger tier
                spec = context_spec(self.db, self.session_id, self.expert,
                                    self.conversation_id, up_to=self.user_message.id)
            routed = self.router.stream(self._request(spec))  # it fits spec per tier tried
            for piece in routed:
                if isinstance(piece, Notice):
                    yield f"\n\n*{piece.text}*\n\n"
                else:
                    yield piece
            result = routed.result
            assert result is not None
            text = result.text.strip() or "(The model returned an empty answer.)"
            context = self.result.context = result.context
            meta = _reply_meta(result) | self._action_meta()
            if context is not None:
                meta |= {"context": context.describe(), "context_fill": round(context.fill, 3)}
            self.result.route = result
            self.result.reply = add_message(
                self.db, self.session_id, "assistant", text,
                tier=result.tier, model=result.model, meta=meta,
                conversation_id=self.conversation_id,
            )
        except LLMError as exc:
            self._store_failure(routed, routed.text if routed else "", str(exc), "error")
        except GeneratorExit:  # stopped, or given up and collected (llm.cleanup)
            if self.result.reply is None:  # an answer from data is stored before it is shown
                partial = routed.text if routed else ""
                cleanup.release(lambda: self._store_failure(
                    routed, partial, "The answer was stopped before it finished.", "partial"))
            raise
        except Exception as exc:
            log.exception("chat turn failed")
            self._store_failure(
                routed,
                routed.text if routed else "",
                f"Something went wrong while answering ({exc.__class__.__name__}: {exc}). "
                "Your message is saved; try again.",
                "error",
            )
        finally:
            if routed is not None:
                cleanup.release(routed.close)
