"""The router: every LLM call in Ambient goes through here.

It plans once per call (one ``_plan``, one privacy scan) and then tries the planned tiers
in turn. It decides, in this order, and writes down why at each step:

1. privacy — the request's full text is scanned once: with a ``ContextSpec`` that is the
   whole unfitted conversation (every section and every loaded message, including those
   a small window will leave out). A prompt with personal data or secrets stays on local
   tiers, or, in "redact then escalate" mode, reaches the cloud only with placeholders:
   the redaction is made once per call, with one ``privacy.Redaction``, so a value keeps
   its placeholder in every attempt and is restored in the answer;
2. pin — the user's tier or model choice, if any;
3. budget — a cloud call must fit in what is left of the daily and session caps;
   its worst case is reserved first and settled after;
4. availability — a tier that is down, missing its model or cooling down is skipped;
5. difficulty — purpose, prompt size and the expert's tier are floors for where to start.
   The size of a ``ContextSpec`` request is what fitting can never leave out (the system
   prompt and the newest message), since older messages and background sections are
   dropped to fit; a tier whose window cannot hold that much is started above. Above the
   floors, ``llm.quality.difficulty`` scores the question, and the thresholds for the
   user's quality target (``AMBIENT_QUALITY_TARGET``, Settings; moved by the user's
   thumbs, ``llm/calibration.py``) decide whether it starts a tier higher ("looks like
   multi-step arithmetic: difficulty 0.81 above 0.62 → cloud");
6. cascade — an answer that fails validation (empty, cut off, refused, invalid JSON
   after one repair attempt, a repeat of its instructions or placeholder text:
   ``llm.validation``) goes one tier up. A weak tier's answer to a checked purpose
   (extract, analyze, summarize) whose ``llm.quality.confidence`` is below the target's
   threshold goes one tier up too, both attempts booked; a streamed chat answer cannot be
   taken back, so a low-confidence one carries a ``caution`` and the tier that could
   answer better (``stronger_tier``) for an "Ask a stronger model" button. The check
   runs only on questions of the kind it was measured on (``answer_check_applies``:
   arithmetic); elsewhere it would escalate at random.

Per attempt, a request with a ``ContextSpec`` is fitted to the tier actually tried (its
provider's ``count_tokens`` and ``context_window(model)``; the redacted spec for a
redacted cloud attempt). When a fallback's smaller window leaves out more than the
attempt before, a "context" decision says so ("Refitted the context for the embedded
tier's 4,096-token window: 12 older messages left out."). ``RouteResult.context`` is the
fitted context of the attempt that answered.

Every attempt, including failures and refusals, is booked in the ledger.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from llm import cleanup, ledger, privacy, quality
from llm.calibration import FeedbackShifts
from llm.context import ContextSpec, FittedContext, system_text
from llm.env import env_bool, env_choice, env_float, env_usd
from llm.errors import LLMError
from llm.health import TierHealth
from llm.ledger import Budget, BudgetRefusal, CallRecord
from llm.prices import PriceTable, format_usd, load_prices, usd
from llm.providers import TIER_ORDER, get_provider, registered_tiers
from llm.providers.base import ChatRequest, Provider, Reply, Usage, estimate_tokens
from llm.validation import Instructions, check
from store.db import Database

log = logging.getLogger(__name__)

PURPOSES = ("chat", "extract", "analyze", "summarize", "narrate")
PURPOSE_START = {
    "chat": "embedded",
    "narrate": "embedded",
    "summarize": "embedded",
    "extract": "local",
    "analyze": "local",
}
PRIVACY_MODES = ("keep_local", "redact")
# Purposes whose answer is checked before anyone sees it (not streamed to the user): a
# low-confidence answer is escalated. Chat is streamed: it gets a caution instead.
CHECKED_PURPOSES = ("extract", "analyze", "summarize")
CAUTIONED_PURPOSES = ("chat",)
QUESTION_CHARS = 8_000  # what the estimators read of a long prompt (its end)
DEFAULT_QUALITY_TARGET = 0.95
REPAIR_PROMPT = (
    "Your previous answer could not be used: {reason}. Reply again with only a JSON value "
    "that matches the schema, and nothing else."
)


def _quality_target(value: float, name: str) -> float:
    if not 0.5 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0.5 and 1 (a share of the strongest "
                         f"tier's quality, like 0.95), not {value}.")
    return value


@dataclass
class RouterSettings:
    privacy_mode: str = "keep_local"
    allow_cloud: bool = True
    budget: Budget = field(default_factory=Budget)
    health_ttl_s: float = 15.0
    cooldown_after: int = 3
    cooldown_s: float = 60.0
    models: dict[str, str] = field(default_factory=dict)  # the chosen model per tier
    # "95 % of the strongest allowed tier's quality": chooses the estimators' thresholds.
    quality_target: float = DEFAULT_QUALITY_TARGET
    feedback_since: datetime | None = None  # thumbs given before this are ignored (a reset)

    @classmethod
    def from_env(cls) -> RouterSettings:
        mode = env_choice("AMBIENT_PRIVACY_MODE", "keep_local", PRIVACY_MODES)
        return cls(
            privacy_mode=mode,
            allow_cloud=env_bool("AMBIENT_ALLOW_CLOUD", True),
            quality_target=_quality_target(
                env_float("AMBIENT_QUALITY_TARGET", DEFAULT_QUALITY_TARGET),
                "AMBIENT_QUALITY_TARGET"),
            budget=Budget(
                daily_usd=env_usd("AMBIENT_DAILY_BUDGET_USD", "1.00"),
                session_usd=env_usd("AMBIENT_SESSION_BUDGET_USD", "0.25"),
                user_daily_usd=env_usd("AMBIENT_USER_DAILY_BUDGET_USD", None),
            ),
        )


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the ledger and the Costs page."""

    session_id: str | None = None
    user: str | None = None
    page: str | None = None
    workflow: str | None = None


@dataclass(frozen=True)
class LLMRequest:
    """One call. Give ``messages`` as they are to be sent, or a ``context`` (a
    ``ContextSpec``) for the router to fit to the window of each tier it tries; with a
    ``context``, ``messages`` is derived from it (the full, unfitted conversation, which
    the privacy scan reads) and must not be given."""

    messages: list[dict[str, str]] = field(default_factory=list)
    purpose: str = "chat"
    expert: str | None = None
    expert_tier: str | None = None
    schema: dict[str, Any] | None = None
    tier: str | None = None  # pin a tier
    model: str | None = None  # pin a model
    origin: Origin = field(default_factory=Origin)
    max_tokens: int = 512
    temperature: float = 0.7
    context: ContextSpec | None = None
    # "Ask a stronger model": the request this one re-asks, and why it went up.
    parent_request_id: str | None = None
    escalation: str | None = None
    # Text an answer must not repeat. None: the system prompt. A step whose instructions
    # are in the user message names them (data quoted as JSON strings is left out).
    instructions: tuple[str, ...] | None = None

    def instruction_text(self) -> tuple[str, ...]:
        """What the answer check treats as this request's instructions."""
        if self.instructions is not None:
            return self.instructions
        if self.context is not None:
            return (self.context.system_prompt,)
        return tuple(m.get("content", "") for m in self.messages if m.get("role") == "system")

    def __post_init__(self) -> None:
        if self.context is None:
            return
        full = self.context.messages()
        if self.messages and self.messages != full:
            raise ValueError("Give an LLMRequest its messages or a context, not both.")
        object.__setattr__(self, "messages", full)


@dataclass(frozen=True)
class Decision:
    # privacy, pin, budget (a refusal), reserve, availability, difficulty, context, cascade
    step: str
    reason: str
    tier: str | None = None


@dataclass(frozen=True)
class Notice:
    """Something the user should see while a reply streams (e.g. an escalation)."""

    text: str


@dataclass
class Attempt:
    tier: str
    model: str
    status: str
    reason: str
    cost_usd: Decimal = Decimal(0)
    usage: Usage | None = None


@dataclass
class RouteResult:
    request_id: str
    text: str
    tier: str
    provider: str
    model: str
    usage: Usage
    cost_usd: Decimal
    counterfactual_usd: Decimal
    decisions: list[Decision]
    attempts: list[Attempt]
    data: Any = None
    validated: bool = True
    note: str = ""
    latency_s: float = 0.0
    ttft_s: float | None = None
    context: FittedContext | None = None  # as sent to the answering tier (with a spec)
    difficulty: float | None = None  # the question's estimated difficulty (unpinned calls)
    confidence: float | None = None  # the checked confidence of a weak tier's answer
    caution: str = ""  # a low-confidence streamed answer: what to doubt, what would help
    stronger_tier: str | None = None  # the tier "Ask a stronger model" would use

    @property
    def savings_usd(self) -> Decimal:
        return self.counterfactual_usd - self.cost_usd

    @property
    def route_reason(self) -> str:
        return " ".join(d.reason for d in self.decisions)

    @property
    def fallback_reason(self) -> str:
        """Why another tier answered than the one tried first ("" when nothing failed)."""
        reasons = [
            d.reason for d in self.decisions
            if d.step in ("budget", "availability", "cascade") and d.tier != self.tier
        ]
        if not reasons:
            return ""
        return f"Answered by the {self.tier} tier. " + " ".join(reasons)


class RouteError(LLMError):
    """No tier could give a usable answer; ``decisions`` and ``attempts`` say why."""

    kind = "no_route"

    def __init__(self, message: str, decisions: list[Decision], attempts: list[Attempt]):
        super().__init__(message)
        self.decisions = decisions
        self.attempts = attempts


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """A deliberately high estimate for budget reservations: a token per 3 bytes."""
    return sum(len(m.get("content", "").encode("utf-8")) // 3 + 8 for m in messages) + 8


@dataclass
class _Privacy:
    """What the privacy step found, and what a cloud attempt may be sent instead."""

    cloud_ok: bool
    redaction: privacy.Redaction | None = None
    redacted: list[dict[str, str]] | None = None  # a request given as messages
    redacted_spec: ContextSpec | None = None  # a request given as a context


@dataclass
class _Plan:
    candidates: list[str]
    privacy: _Privacy
    models: dict[str, str] = field(default_factory=dict)
    difficulty: float | None = None
    raised_by_difficulty: bool = False


@dataclass(frozen=True)
class _Judgement:
    score: float | None = None
    escalate_to: str | None = None
    caution: str = ""
    stronger: str | None = None
    reason: str = ""


def _next_tier(tier: str) -> str | None:
    at = _rank(tier)
    return TIER_ORDER[at + 1] if 0 <= at < len(TIER_ORDER) - 1 else None


def _question(request: LLMRequest) -> str:
    """What the estimators read: the newest user message (its end, if very long)."""
    for message in reversed(request.messages):
        if message.get("role", "user") == "user" and message.get("content"):
            return str(message["content"])[-QUESTION_CHARS:]
    return ""


def _step(weak: str, strong: str) -> str:
    """The calibrated step a move from ``weak`` to ``strong`` is judged by: the estimators
    know two (embedded→local, local→cloud); embedded→cloud, when no local tier is set up,
    is judged as local→cloud (the strong side decides how much better an answer gets)."""
    return "embedded→local" if strong == "local" else "local→cloud"


_ARITHMETIC = re.compile(
    r"\d[\d,.]*\s*(?:[-+*/×÷^%]|times|plus|minus|divided by)\s*\(?\d"
    r"|\b(?:sum|total|average|percent|how many|how much)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|\bdef |\bclass |\bfunction\b|\bSELECT\b|\{\s*\n", re.IGNORECASE)
_REASONING = re.compile(r"\b(?:prove|derive|why|explain|compare|analy[sz]e|evaluate)\b",
                        re.IGNORECASE)
_WORD_PROBLEM = re.compile(
    r"\b(?:how (?:many|much|far|long|fast)|when (?:does|do|will)|what (?:is|was) the "
    r"(?:difference|total|rate|speed|cost))\b", re.IGNORECASE)
_LOOKS_LIKE = ((_ARITHMETIC, "arithmetic"), (_CODE, "code"), (_REASONING, "reasoning"))


def answer_check_applies(question: str) -> bool:
    """Whether ``llm.quality.confidence`` can judge an answer to ``question``.

    It was learned from public per-prompt outcomes, and the only public *answers* are to
    arithmetic word problems (GSM8K): on other answers it ranks no better than chance
    (bench/RESULTS.md, routing). So the answer check runs where it was measured to work;
    elsewhere the difficulty step, validation and the user's thumbs decide."""
    return bool(_ARITHMETIC.search(question)) or (
        len(re.findall(r"\d+(?:[.,]\d+)?", question)) >= 2
        and bool(_WORD_PROBLEM.search(question)))


def describe_question(text: str) -> str:
    """A few words on what kind of question the difficulty estimate was made on."""
    kinds = [name for pattern, name in _LOOKS_LIKE if pattern.search(text)]
    if "arithmetic" not in kinds and answer_check_applies(text):
        kinds.insert(0, "arithmetic")
    steps = len(re.findall(r"[.?!;]\s+\S", text)) + 1
    if "arithmetic" in kinds:
        return "looks like multi-step arithmetic" if steps > 2 else "looks like arithmetic"
    if kinds:
        return f"looks like {kinds[0]}"
    if steps > 3 or len(text) > 1_500:
        return "a long question with several parts"
    return "a short question"


class _RestoringBuffer:
    """Restores redaction placeholders in streamed text without splitting one in half."""

    def __init__(self, redaction: privacy.Redaction | None) -> None:
        self.redaction = redaction
        self.pending = ""

    def feed(self, piece: str) -> str:
        if self.redaction is None:
            return piece
        self.pending += piece
        cut = self.pending.rfind("[")
        if cut != -1 and "]" not in self.pending[cut:] and len(self.pending) - cut < 40:
            ready, self.pending = self.pending[:cut], self.pending[cut:]
        else:
            ready, self.pending = self.pending, ""
        return self.redaction.restore(ready)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return self.redaction.restore(rest) if self.redaction else rest


class RoutedStream:
    """Iterate for text pieces (``str``) and ``Notice``s; ``result`` is set at the end.

    If no tier can answer, iteration raises ``RouteError`` (a readable message), and
    ``decisions``/``attempts`` still tell what was tried. ``tier`` and ``context`` are the
    current (at the end, the last) attempt's tier and fitted context.
    """

    def __init__(self, router: Router, request: LLMRequest) -> None:
        self._router = router
        self.request = request
        self.request_id = ledger.new_request_id()
        self.decisions: list[Decision] = []
        self.attempts: list[Attempt] = []
        self.result: RouteResult | None = None
        self.difficulty: float | None = None
        self.raised_by_difficulty = False
        self.text = ""  # text of the current attempt so far (kept if the caller stops)
        self.tier: str | None = None
        self.context: FittedContext | None = None
        self._events = router._run(self)

    def __iter__(self) -> Iterator[str | Notice]:
        return self._events

    @property
    def route_reason(self) -> str:
        """Every decision so far, in words."""
        return " ".join(d.reason for d in self.decisions)

    def close(self) -> None:
        """Stop the answer where it is (the call is booked as stopped). Every caller that
        may stop iterating early closes the stream, ``with router.stream(...) as s:`` or in
        a ``finally``: a stream left to the garbage collector is closed at some later,
        arbitrary moment (``llm.cleanup``)."""
        self._events.close()

    def __enter__(self) -> RoutedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self) -> RouteResult:
        with self:
            for _ in self:
                pass
        assert self.result is not None
        return self.result


class Router:
    def __init__(
        self,
        db: Database,
        providers: Mapping[str, Provider] | None = None,
        settings: RouterSettings | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.db = db
        self._providers = dict(providers) if providers is not None else None
        self.settings = settings or RouterSettings.from_env()
        self.prices = prices or load_prices()
        self.health = TierHealth(
            self.settings.health_ttl_s, self.settings.cooldown_after, self.settings.cooldown_s
        )
        self._feedback = FeedbackShifts(db)

    # -- public ----------------------------------------------------------------------
    def provider(self, tier: str) -> Provider:
        if self._providers is not None:
            return self._providers[tier]
        return get_provider(tier)

    def tiers(self) -> list[str]:
        names = self._providers.keys() if self._providers is not None else registered_tiers()
        return [t for t in TIER_ORDER if t in names]

    def stream(self, request: LLMRequest) -> RoutedStream:
        if request.purpose not in PURPOSES:
            raise ValueError(f"Unknown purpose {request.purpose!r}; use one of {PURPOSES}.")
        return RoutedStream(self, request)

    def complete(self, request: LLMRequest) -> RouteResult:
        return self.stream(request).collect()

    def _available(self, tier: str) -> tuple[bool, str]:
        resting = self.health.resting_reason(tier)
        if resting:
            return False, resting
        health = self.health.check(tier, self.provider(tier))
        return health.available, health.detail

    # -- planning --------------------------------------------------------------------
    def _tier_of_model(self, model: str) -> str | None:
        for tier in self.tiers():
            provider = self.provider(tier)
            if model in (provider.default_model(), self.settings.models.get(tier)):
                return tier
        if model in self.prices.models and "cloud" in self.tiers():
            return "cloud"
        return "local" if "local" in self.tiers() else None

    def _privacy(self, request: LLMRequest, decisions: list[Decision]) -> _Privacy:
        """Scan the request's full text once; redact it once if the mode says so."""
        found = [privacy.scan(m.get("content", "")) for m in request.messages]
        findings = [f for message in found for f in message]
        result = _Privacy(cloud_ok="cloud" in self.tiers())
        if findings:
            what = privacy.describe(findings)
            if self.settings.privacy_mode == "redact":
                result.redaction = privacy.Redaction()
                if request.context is not None:
                    result.redacted_spec = _redact_spec(request.context, found, result.redaction)
                else:
                    result.redacted = []
                    for message in request.messages:
                        clean, _ = privacy.redact(message.get("content", ""), result.redaction)
                        result.redacted.append({**message, "content": clean})
                decisions.append(Decision(
                    "privacy",
                    f"The prompt {what}; it is replaced by placeholders before any cloud call "
                    "and restored in the answer.",
                ))
            else:
                result.cloud_ok = False
                decisions.append(Decision(
                    "privacy", f"The prompt {what}, so it stays on this machine (no cloud)."
                ))
        else:
            decisions.append(Decision("privacy", "No personal data or secrets found."))
        if not self.settings.allow_cloud and result.cloud_ok:
            result.cloud_ok = False
            decisions.append(Decision("privacy", "Cloud calls are turned off in Settings."))
        return result

    def _plan(self, request: LLMRequest, decisions: list[Decision]) -> _Plan:
        """Candidate tiers in order, the pinned model, and what the cloud may see."""
        tiers = self.tiers()
        private = self._privacy(request, decisions)
        cloud_ok = private.cloud_ok

        pinned = request.tier or (request.model and self._tier_of_model(request.model))
        if pinned:
            if pinned not in tiers:
                raise RouteError(
                    f"The {pinned} tier is not set up; unpin it or configure it in Settings.",
                    decisions, [],
                )
            if pinned == "cloud" and not cloud_ok:
                decisions.append(Decision(
                    "pin", "Pinned to the cloud, but the prompt must stay local: using the "
                    "local tiers instead.", "local",
                ))
                return _Plan([t for t in ("local", "embedded") if t in tiers], private)
            what = f"the model {request.model}" if request.model else f"the {pinned} tier"
            decisions.append(Decision("pin", f"Pinned to {what}.", pinned))
            models = {pinned: request.model} if request.model else {}
            return _Plan([pinned], private, models)

        start = PURPOSE_START.get(request.purpose, "embedded")
        why = f"{request.purpose} starts on the {start} tier"
        if request.expert_tier in TIER_ORDER and _rank(request.expert_tier) > _rank(start):
            start = request.expert_tier
            why = f"the {request.expert or 'chosen'} expert asks for the {start} tier"
        if not cloud_ok:
            tiers = [t for t in tiers if t != "cloud"]
        # A spec's older messages and sections are dropped to fit: only what must go in counts.
        sized = request.context.essential() if request.context is not None else request.messages
        prompt = sum(estimate_tokens(m.get("content", "")) for m in sized)
        for tier in tiers:
            window = self.provider(tier).context_window(None)
            if _rank(tier) >= _rank(start) and prompt + request.max_tokens > window:
                bigger = [t for t in tiers if _rank(t) > _rank(tier)]
                if bigger:
                    start = bigger[0]
                    why = f"the prompt (about {prompt:,} tokens) is too long for the {tier} tier"
        score, raised = None, False
        if start in tiers:
            start, why, score, raised = self._by_difficulty(request, tiers, start, why)
        if start not in tiers:
            why += (", but this prompt may not go to the cloud" if start == "cloud"
                    else ", which is not set up here")
        up = [t for t in tiers if _rank(t) >= _rank(start)]
        down = [t for t in reversed(tiers) if _rank(t) < _rank(start)]
        decisions.append(Decision("difficulty", f"Starting on {start}: {why}.", start))
        return _Plan(up + down, private, difficulty=score, raised_by_difficulty=raised)

    def _threshold_shift(self, purpose: str, tier: str) -> float:
        return self._feedback.for_tier(purpose, tier, self.settings.quality_target,
                                       self.settings.feedback_since)

    def _by_difficulty(
        self, request: LLMRequest, tiers: list[str], start: str, why: str
    ) -> tuple[str, str, float | None, bool]:
        """Above the floors: start a tier higher while the question looks too hard for
        the current one at the user's quality target."""
        question = _question(request)
        higher = [t for t in tiers if _rank(t) > _rank(start)]
        if not question or not higher:
            return start, why, None, False
        try:
            score = quality.difficulty(question)
        except Exception:  # the estimator only advises: a broken artefact must not stop a call
            log.exception("difficulty estimate failed")
            return start, why, None, False
        raised = False
        checked = request.purpose in CHECKED_PURPOSES
        for strong in higher:
            limits = quality.thresholds(self.settings.quality_target, _step(start, strong))
            limit = limits.difficulty if checked else limits.difficulty_alone
            limit = min(1.0, max(0.0, limit + self._threshold_shift(request.purpose, start)))
            if score <= limit:
                why += (f"; difficulty {score:.2f} is within its reach "
                        f"(threshold {limit:.2f})")
                break
            why = (f"{describe_question(question)}: difficulty {score:.2f} above "
                   f"{limit:.2f} → {strong}")
            start, raised = strong, True
        return start, why, score, raised

    # -- running ---------------------------------------------------------------------
    def _record(
        self, stream: RoutedStream, attempt: int, tier: str, model: str, status: str,
        reason: str, reply: Reply | None = None, error: str | None = None,
        counterfactual: bool = False, partial: Usage | None = None,
        escalation: str | None = None, confidence: float | None = None,
    ) -> CallRecord:
        request, origin = stream.request, stream.request.origin
        usage = reply.usage if reply else (partial or Usage(0, 0, "estimated"))
        cost = self.prices.cost_nusd(tier, model, usage.prompt_tokens, usage.completion_tokens)
        cf = (
            self.prices.counterfactual_nusd(usage.prompt_tokens, usage.completion_tokens)
            if counterfactual else 0
        )
        return CallRecord(
            request_id=stream.request_id, attempt=attempt, purpose=request.purpose,
            tier=tier, provider=self.provider(tier).name, model=model, status=status,
            route_reason=reason, session_id=origin.session_id, user=origin.user,
            page=origin.page, workflow=origin.workflow, expert=request.expert,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            usage_source=usage.source, cost_nusd=cost, counterfactual_nusd=cf,
            latency_ms=int(reply.latency_s * 1000) if reply else None,
            ttft_ms=int(reply.ttft_s * 1000) if reply and reply.ttft_s is not None else None,
            error_text=error,
            escalation=escalation or request.escalation or (
                "difficulty" if stream.raised_by_difficulty else None),
            difficulty=stream.difficulty, confidence=confidence,
            parent_request_id=request.parent_request_id,
        )

    def _run(self, stream: RoutedStream) -> Iterator[str | Notice]:
        request, decisions, attempts = stream.request, stream.decisions, stream.attempts
        try:
            plan = self._plan(request, decisions)
        except RouteError as exc:
            self._book_unanswered(stream, str(exc))
            raise
        candidates, private = plan.candidates, plan.privacy
        stream.difficulty, stream.raised_by_difficulty = plan.difficulty, plan.raised_by_difficulty
        redaction = private.redaction
        answer_checked = request.purpose in CHECKED_PURPOSES + CAUTIONED_PURPOSES
        instructions = Instructions(request.instruction_text())
        fitted_before: FittedContext | None = None  # the last attempt's fitted context
        attempt_no = 0
        position = 0
        min_rank = -1  # after a failed validation, only higher tiers may answer
        last_failure = "no tier is available"
        while position < len(candidates):
            tier = candidates[position]
            position += 1
            if _rank(tier) <= min_rank:
                continue
            provider = self.provider(tier)
            model = (plan.models.get(tier) or self.settings.models.get(tier)
                     or provider.default_model())
            available, why_not = self._available(tier)
            if not available:
                decisions.append(Decision("availability", f"Skipped {tier}: {why_not}", tier))
                last_failure = why_not
                continue
            stream.tier = tier
            redacting = tier == "cloud" and redaction is not None
            restoring = redaction if redacting else None
            if request.context is not None:
                spec = private.redacted_spec if redacting else request.context
                assert spec is not None
                fitted = spec.fit(
                    lambda text, p=provider, m=model: p.count_tokens(text, m),
                    provider.context_window(model),
                )
                refitted = _refit_reason(tier, fitted, fitted_before)
                if refitted:
                    decisions.append(Decision("context", refitted, tier))
                fitted_before = stream.context = fitted
                messages = fitted.messages
            else:
                messages = (private.redacted if redacting and private.redacted is not None
                            else request.messages)
            to_cloud = tier == "cloud"

            repaired = False
            while True:
                attempt_no += 1
                reservation: int | None = None
                reason_so_far = stream.route_reason
                if to_cloud:
                    estimate = self.prices.cost_nusd(
                        tier, model, estimate_prompt_tokens(messages), request.max_tokens
                    )
                    placeholder = self._record(stream, attempt_no, tier, model, "reserved",
                                               reason_so_far)
                    outcome = ledger.reserve(self.db, placeholder, estimate, self.settings.budget)
                    if isinstance(outcome, BudgetRefusal):
                        decisions.append(Decision("budget", outcome.reason, tier))
                        attempts.append(Attempt(tier, model, "blocked", outcome.reason))
                        last_failure = outcome.reason
                        break
                    reservation = outcome
                    decisions.append(Decision(
                        "reserve",
                        f"Reserved up to {format_usd(usd(estimate))} of the cloud budget.", tier,
                    ))

                buffer = _RestoringBuffer(restoring)
                stream.text = ""
                try:
                    reply_stream = provider.stream(ChatRequest(
                        messages=messages, model=model, max_tokens=request.max_tokens,
                        temperature=request.temperature, schema=request.schema,
                        logprobs=answer_checked and tier != candidates[-1] and any(
                            _rank(c) > _rank(tier) for c in candidates),
                    ))
                    try:
                        for piece in reply_stream:
                            shown = buffer.feed(piece)
                            if shown:
                                stream.text += shown
                                yield shown
                        tail = buffer.flush()
                        if tail:
                            stream.text += tail
                            yield tail
                    finally:
                        cleanup.release(reply_stream.close)  # not inside a GC pass
                    reply = reply_stream.reply
                    assert reply is not None
                except LLMError as exc:
                    entered = self.health.record_failure(
                        tier, str(exc), getattr(exc, "retry_after", None)
                    )
                    reason = f"{tier} failed: {exc}"
                    if entered:
                        reason += f" It rests for {self.health.cooling_for(tier):.0f} s."
                    # Tokens that streamed before the failure may be billed: book an estimate.
                    partial = Usage(
                        sum(estimate_tokens(m.get("content", "")) for m in messages),
                        estimate_tokens(stream.text), "estimated",
                    ) if stream.text else None
                    record = self._record(stream, attempt_no, tier, model, "error",
                                          f"{stream.route_reason} {reason}",
                                          error=str(exc), partial=partial)
                    self._write(reservation, record)
                    decisions.append(Decision("availability", reason, tier))
                    attempts.append(Attempt(tier, model, "error", str(exc)))
                    last_failure = str(exc)
                    if stream.text:
                        yield Notice(f"The {tier} model stopped: {exc} Trying another tier.")
                    break
                except GeneratorExit:  # closed, or given up and collected: book it
                    cleanup.release(lambda r=reservation, t=tier, m=model, n=attempt_no:
                                    self._write(r, self._record(
                                        stream, n, t, m, "error", "stopped by the user",
                                        error="The answer was stopped before it finished.")))
                    raise

                self.health.record_success(tier)
                text = redaction.restore(reply.text) if restoring else reply.text
                verdict = check(text, reply.finish_reason, request.schema, instructions)
                if verdict.ok:
                    judged = self._judge(request, candidates[position:], tier, text, reply)
                    if judged.escalate_to:
                        self._book_reply(stream, reservation, attempt_no, tier, model,
                                         "escalated", reply, judged.reason, judged.reason,
                                         escalation="confidence", confidence=judged.score)
                        decisions.append(Decision("cascade", judged.reason, tier))
                        last_failure = judged.reason
                        min_rank = _rank(tier)
                        yield Notice(f"Checking with the {judged.escalate_to} tier: the "
                                     f"{tier} answer looks unreliable.")
                        break
                    if judged.reason:
                        decisions.append(Decision("cascade", judged.reason, tier))
                    reason = stream.route_reason
                    record = self._book_reply(stream, reservation, attempt_no, tier, model,
                                              "ok", reply, reason, reason, used=True,
                                              confidence=judged.score)
                    stream.result = self._result(stream, reply, text, record, verdict.data)
                    stream.result.confidence = judged.score
                    stream.result.caution = judged.caution
                    stream.result.stronger_tier = judged.stronger
                    return
                if request.schema is not None and not repaired:
                    repaired = True
                    self._book_reply(stream, reservation, attempt_no, tier, model, "escalated",
                                     reply, f"repair asked: {verdict.reason}", verdict.reason)
                    decisions.append(Decision(
                        "cascade", f"The {tier} answer failed validation ({verdict.reason}); "
                        "asking it once more to repair it.", tier,
                    ))
                    messages = [*messages, {"role": "assistant", "content": reply.text},
                                {"role": "user",
                                 "content": REPAIR_PROMPT.format(reason=verdict.reason)}]
                    yield Notice(f"The answer was not valid ({verdict.reason}); repairing it.")
                    continue
                higher = [
                    t for t in candidates[position:]
                    if _rank(t) > _rank(tier) and self._available(t)[0]
                ]
                if reply.finish_reason == "length" and request.schema is None:
                    # The caller's max_tokens caps every tier alike: paying the cloud to be
                    # cut off at the same length buys nothing, so only free tiers may retry.
                    higher = [t for t in higher if t != "cloud"]
                if not higher and request.schema is None:
                    # Nothing better can answer: use this answer, and say what is wrong with it.
                    note = f"Note: {verdict.reason} and no stronger tier is available."
                    decisions.append(Decision("cascade", note, tier))
                    record = self._book_reply(stream, reservation, attempt_no, tier, model,
                                              "ok", reply, stream.route_reason, note, used=True)
                    stream.result = self._result(stream, reply, text, record, None,
                                                 validated=False, note=note)
                    return
                reason = f"The {tier} answer failed validation ({verdict.reason})"
                reason += f"; escalating to {higher[0]}." if higher else "."
                self._book_reply(stream, reservation, attempt_no, tier, model, "escalated",
                                 reply, reason, verdict.reason, escalation="validation")
                decisions.append(Decision("cascade", reason, tier))
                last_failure = verdict.reason
                min_rank = _rank(tier)
                if higher:
                    yield Notice(f"Escalating to the {higher[0]} tier: {verdict.reason}.")
                break
        message = f"No model could answer: {last_failure}"
        if not message.endswith("."):
            message += "."
        if not attempts:
            self._book_unanswered(stream, message)
        raise RouteError(message, decisions, attempts)

    def _judge(
        self, request: LLMRequest, later: list[str], tier: str, text: str, reply: Reply
    ) -> _Judgement:
        """Is a weak tier's valid answer good enough? Checked purposes go one tier up when
        its confidence is below the target's threshold; chat keeps the answer, with a
        caution and the tier that could do better."""
        checked = request.purpose in CHECKED_PURPOSES
        if not (checked or request.purpose in CAUTIONED_PURPOSES) or request.tier:
            return _Judgement()
        question = _question(request)
        if not answer_check_applies(question):
            return _Judgement()
        higher = [t for t in later if _rank(t) > _rank(tier) and self._available(t)[0]]
        above = higher[0] if higher else _next_tier(tier)
        if above is None:
            return _Judgement()  # already the strongest tier there is
        try:
            score = quality.confidence(question, text,
                                       list(reply.logprobs) if reply.logprobs else None)
            limits = quality.thresholds(self.settings.quality_target, _step(tier, above))
        except Exception:  # the estimator only advises: a broken artefact must not stop a call
            log.exception("confidence estimate failed")
            return _Judgement()
        shift = self._threshold_shift(request.purpose, tier)
        limit = min(1.0, max(0.0, limits.confidence - shift))
        if score >= limit:
            return _Judgement(score)
        doubt = f"confidence {score:.2f} below {limit:.2f}"
        if checked and higher:
            return _Judgement(score, escalate_to=higher[0], reason=(
                f"The {tier} answer looks unreliable ({doubt}); escalating to {higher[0]}."))
        if higher:
            caution = (f"This answer may be wrong: the answer check puts it at {doubt}. "
                       f"Ask a stronger model ({higher[0]}) to check it.")
        else:
            caution = (f"This answer may be wrong: the answer check puts it at {doubt}, and "
                       f"no stronger model can answer here. {self.what_would_help(tier)}")
        return _Judgement(score, caution=caution, stronger=higher[0] if higher else None,
                          reason=f"The {tier} answer may be unreliable ({doubt}).")

    def strongest_available(self) -> str | None:
        """The strongest tier that could answer now (the cloud only if it is allowed)."""
        for tier in reversed(self.tiers()):
            if tier == "cloud" and not self.settings.allow_cloud:
                continue
            if self._available(tier)[0]:
                return tier
        return None

    def what_would_help(self, tier: str) -> str:
        """A sentence on what would make a stronger tier than ``tier`` answer."""
        tiers = self.tiers()
        if tier == "embedded" and ("local" not in tiers or not self._available("local")[0]):
            help_ = "Start Ollama (`ollama serve`) for a stronger local model"
            if "cloud" not in tiers:
                help_ += ", or add an OpenAI key in Settings"
            return help_ + "."
        if "cloud" not in tiers:
            return "Add an OpenAI key (or an OpenAI-compatible endpoint) for stronger answers."
        if not self.settings.allow_cloud:
            return "Cloud calls are off in Settings; turn them on for stronger answers."
        return "This prompt must stay on this machine, so the cloud cannot check it."

    def _book_unanswered(self, stream: RoutedStream, message: str) -> None:
        """A request no tier even tried is still booked, so the ledger shows it."""
        tier = next(iter(self.tiers()), "embedded")
        record = self._record(stream, 1, tier, self.provider(tier).default_model(), "blocked",
                              stream.route_reason, error=message)
        ledger.book(self.db, record)

    def _book_reply(
        self, stream: RoutedStream, reservation: int | None, attempt: int, tier: str,
        model: str, status: str, reply: Reply, ledger_reason: str, attempt_reason: str,
        *, used: bool = False, escalation: str | None = None, confidence: float | None = None,
    ) -> CallRecord:
        """Book an attempt that produced a reply (``used``: its answer is the one given)."""
        record = self._record(stream, attempt, tier, model, status, ledger_reason,
                              reply=reply, counterfactual=used, escalation=escalation,
                              confidence=confidence)
        self._write(reservation, record)
        stream.attempts.append(Attempt(tier, reply.model, status, attempt_reason,
                                       usd(record.cost_nusd), reply.usage))
        return record

    def _write(self, reservation: int | None, record: CallRecord) -> None:
        if reservation is None:
            ledger.book(self.db, record)
        else:
            ledger.settle(self.db, reservation, record, self.settings.budget)

    def _result(
        self, stream: RoutedStream, reply: Reply, text: str, record: CallRecord, data: Any,
        validated: bool = True, note: str = "",
    ) -> RouteResult:
        return RouteResult(
            request_id=stream.request_id, text=text, tier=reply.tier, provider=reply.provider,
            model=reply.model, usage=reply.usage, cost_usd=usd(record.cost_nusd),
            counterfactual_usd=usd(record.counterfactual_nusd), decisions=stream.decisions,
            attempts=stream.attempts, data=data, validated=validated, note=note,
            latency_s=reply.latency_s, ttft_s=reply.ttft_s, context=stream.context,
            difficulty=stream.difficulty,
        )


def _redact_spec(
    spec: ContextSpec, found: list[list[privacy.Finding]], redaction: privacy.Redaction
) -> ContextSpec:
    """``spec`` with every private text replaced by placeholders from ``redaction``.

    ``found`` is the scan of ``spec.messages()``, one list per message. Each text is
    redacted on its own (so a redacted spec can still be fitted, section by section);
    a finding that spans two sections of the system message (the scan read them joined)
    makes the whole system message one text, so nothing private slips between them.
    """
    pieces = spec.pieces()
    spans, start = [], 0
    for piece in pieces:
        spans.append((start, start + len(piece)))
        start += len(piece) + 2  # the blank line between pieces
    private: set[str] = set()
    for finding in found[0] if found else []:
        inside = [i for i, (a, b) in enumerate(spans) if a <= finding.start and finding.end <= b]
        if not inside:
            spec = replace(spec, system_prompt=system_text(spec.system_prompt, spec.sections),
                           sections=())
            private.add(spec.system_prompt.strip())
            break
        private.add(pieces[inside[0]])
    private.update(t.content for t, hits in zip(spec.history, found[1:], strict=True) if hits)
    return spec.map_text(
        lambda text: privacy.redact(text, redaction)[0] if text in private else text
    )


def _refit_reason(tier: str, fitted: FittedContext, before: FittedContext | None) -> str:
    """Words for a context fitted smaller than the last attempt's ("" if it is not)."""
    if before is None or fitted.window >= before.window:
        return ""
    shape = (fitted.dropped_messages, fitted.dropped_sections, fitted.truncated_newest)
    if shape == (before.dropped_messages, before.dropped_sections, before.truncated_newest):
        return ""
    left = []
    if fitted.dropped_messages:
        n = fitted.dropped_messages
        left.append(f"{n:,} older message{'s' if n != 1 else ''} left out")
    if fitted.dropped_sections:
        n = fitted.dropped_sections
        left.append(f"{n} background section{'s' if n != 1 else ''} left out")
    if fitted.truncated_newest:
        left.append("the newest message cut to fit")
    return (f"Refitted the context for the {tier} tier's {fitted.window:,}-token window: "
            f"{'; '.join(left) or 'nothing left out'}.")


def _rank(tier: str | None) -> int:
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else -1
