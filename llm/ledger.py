"""The cost ledger's writes: one row per LLM attempt, and the budget that guards cloud spend.

Booking: ``book()`` writes a finished attempt (local tiers, failures, refusals).
Budgets: a cloud call first ``reserve()``s its worst-case cost inside one write
transaction that also checks what is already spent and reserved today and in the
session; afterwards ``settle()`` replaces the reservation with the real cost. Because
the check and the reservation happen under one lock (BEGIN IMMEDIATE on SQLite, an
advisory lock on PostgreSQL), any number of concurrent calls cannot overshoot a cap.
``left_today_usd()`` and ``left_in_session_usd()`` say what a budget still allows.

What the Costs page reads is in ``llm/reports.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.orm import Session

from llm.prices import NANO, format_usd, usd
from store.db import Database, utcnow
from store.models import LLMCallRow

STATUSES = ("reserved", "ok", "error", "escalated", "blocked")
SPENDING = ("ok", "error", "escalated")  # attempts whose cost was really incurred
_BUDGET_LOCK_KEY = 727275


@dataclass(frozen=True)
class CallRecord:
    """What is known about an attempt; the router fills it in and the ledger stores it."""

    request_id: str
    attempt: int
    purpose: str
    tier: str
    provider: str
    model: str
    status: str
    route_reason: str
    session_id: str | None = None
    user: str | None = None
    page: str | None = None
    workflow: str | None = None
    expert: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_source: str = "estimated"
    cost_nusd: int = 0
    counterfactual_nusd: int = 0
    latency_ms: int | None = None
    ttft_ms: int | None = None
    error_text: str | None = None
    escalation: str | None = None  # why this attempt went up: difficulty, confidence, ...
    difficulty: float | None = None
    confidence: float | None = None
    parent_request_id: str | None = None  # the request "Ask a stronger model" re-asks


@dataclass(frozen=True)
class Budget:
    """Caps on cloud spend, in USD; ``None`` means no cap."""

    daily_usd: Decimal | None = Decimal("1.00")
    session_usd: Decimal | None = Decimal("0.25")


@dataclass(frozen=True)
class BudgetRefusal:
    reason: str
    left_today_usd: Decimal | None
    left_session_usd: Decimal | None


def new_request_id() -> str:
    return uuid.uuid4().hex


def _row(record: CallRecord, **overrides: Any) -> LLMCallRow:
    values = {k: getattr(record, k) for k in record.__dataclass_fields__} | overrides
    if values["status"] not in STATUSES:
        raise ValueError(f"Unknown ledger status {values['status']!r}.")
    return LLMCallRow(**values)


def book(db: Database, record: CallRecord) -> int:
    with db.write() as s:
        row = _row(record)
        s.add(row)
        s.flush()
        return row.id


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _committed_nusd(s: Session, *conditions: Any) -> int:
    """Spent plus still-reserved cloud money matching ``conditions``."""
    amount = case(
        (LLMCallRow.status == "reserved", LLMCallRow.reserved_nusd),
        (LLMCallRow.status.in_(SPENDING), LLMCallRow.cost_nusd),
        else_=0,
    )
    query = select(func.coalesce(func.sum(amount), 0)).where(
        LLMCallRow.tier == "cloud", *conditions
    )
    return int(s.scalar(query) or 0)


def _cap_nusd(cap: Decimal | None) -> int | None:
    return None if cap is None else int(cap * NANO)


def _when_reset(now: datetime) -> str:
    left = day_start(now) + timedelta(days=1) - now
    hours, minutes = divmod(int(left.total_seconds()) // 60, 60)
    return f"00:00 UTC (in {hours} h {minutes:02d} min)"


def reserve(
    db: Database, record: CallRecord, estimate_nusd: int, budget: Budget
) -> int | BudgetRefusal:
    """Reserve ``estimate_nusd`` for a cloud call, or refuse (and book the refusal)."""
    now = utcnow()
    with db.write() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BUDGET_LOCK_KEY})
        daily_cap, session_cap = _cap_nusd(budget.daily_usd), _cap_nusd(budget.session_usd)
        today = _committed_nusd(s, LLMCallRow.created_at >= day_start(now))
        in_session = (
            _committed_nusd(s, LLMCallRow.session_id == record.session_id)
            if record.session_id and session_cap is not None
            else 0
        )
        left_today = None if daily_cap is None else daily_cap - today
        left_session = (
            None if session_cap is None or not record.session_id else session_cap - in_session
        )
        refusal = None
        if left_today is not None and estimate_nusd > left_today:
            refusal = (
                f"The daily cloud budget of {format_usd(budget.daily_usd)} would be exceeded: "
                f"this call may cost up to {format_usd(usd(estimate_nusd))} and "
                f"{format_usd(usd(max(left_today, 0)))} is left today. It resets at "
                f"{_when_reset(now)}; raise the budget in Settings to go on now."
            )
        elif left_session is not None and estimate_nusd > left_session:
            refusal = (
                f"The session's cloud budget of {format_usd(budget.session_usd)} would be "
                f"exceeded: this call may cost up to {format_usd(usd(estimate_nusd))} and "
                f"{format_usd(usd(max(left_session, 0)))} is left. Start a new session or "
                "raise the budget in Settings."
            )
        if refusal:
            s.add(_row(record, status="blocked", route_reason=refusal, error_text=refusal))
            return BudgetRefusal(
                refusal,
                None if left_today is None else usd(max(left_today, 0)),
                None if left_session is None else usd(max(left_session, 0)),
            )
        row = _row(record, status="reserved", reserved_nusd=estimate_nusd)
        s.add(row)
        s.flush()
        return row.id


def settle(db: Database, row_id: int, record: CallRecord) -> None:
    """Replace a reservation with what the call really cost (and how it ended)."""
    values = {k: getattr(record, k) for k in record.__dataclass_fields__}
    values.pop("request_id")
    with db.write() as s:
        s.execute(update(LLMCallRow).where(LLMCallRow.id == row_id).values(**values))


def left_today_usd(db: Database, budget: Budget) -> Decimal | None:
    if budget.daily_usd is None:
        return None
    with db.read() as s:
        spent = _committed_nusd(s, LLMCallRow.created_at >= day_start(utcnow()))
    return usd(max(_cap_nusd(budget.daily_usd) - spent, 0))  # type: ignore[operator]


def left_in_session_usd(db: Database, budget: Budget, session_id: str) -> Decimal | None:
    if budget.session_usd is None:
        return None
    with db.read() as s:
        spent = _committed_nusd(s, LLMCallRow.session_id == session_id)
    return usd(max(_cap_nusd(budget.session_usd) - spent, 0))  # type: ignore[operator]


FEEDBACK = {"up": 1, "down": 0}


def record_feedback(db: Database, request_id: str, verdict: str | None) -> bool:
    """The user's thumbs ("up", "down", or None to take it back) on the answer of
    ``request_id``, kept on the ledger row of the attempt whose answer was given. Returns
    False when no such answer is booked."""
    if verdict is not None and verdict not in FEEDBACK:
        raise ValueError(f"Feedback is 'up' or 'down', not {verdict!r}.")
    value = FEEDBACK.get(verdict) if verdict else None
    with db.write() as s:
        row_id = s.scalar(
            select(LLMCallRow.id)
            .where(LLMCallRow.request_id == request_id, LLMCallRow.status == "ok")
            .order_by(LLMCallRow.attempt.desc(), LLMCallRow.id.desc())
            .limit(1)
        )
        if row_id is None:
            return False
        s.execute(update(LLMCallRow).where(LLMCallRow.id == row_id).values(
            feedback=value, feedback_at=utcnow() if value is not None else None))
    return True


def feedback_for(db: Database, request_id: str) -> str | None:
    """The verdict given on ``request_id``'s answer, if any ("up" or "down")."""
    with db.read() as s:
        value = s.scalar(
            select(LLMCallRow.feedback)
            .where(LLMCallRow.request_id == request_id, LLMCallRow.feedback.is_not(None))
            .limit(1)
        )
    return None if value is None else ("up" if value else "down")
