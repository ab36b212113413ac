"""The cost ledger's writes: one row per LLM attempt, and the budget that guards cloud spend.

Booking: ``book()`` writes a finished attempt (local tiers, failures, refusals).
Budgets: a cloud call first ``reserve()``s its worst-case cost inside one write
transaction that also checks what is already spent and reserved today (by the whole
team, and by the user who asks) and in the session; afterwards ``settle()`` replaces the
reservation with the real cost. Because the check and the reservation happen under one
lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), any number of
concurrent calls cannot overshoot a cap. ``left_today_usd()``, ``left_for_user_usd()``
and ``left_in_session_usd()`` say what a budget still allows.

Every row is booked to a user: the one the request names, else the owner of its session,
else the local user. When a day's spend reaches 80 % or 100 % of the team's or a user's
daily budget (or a call is refused because that budget is used up), a budget alert is
recorded once per day, budget and threshold (``llm.alerts``: the chat notice and the
optional webhook).

What the Costs page reads is in ``llm/reports.py``.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.orm import Session

from llm import alerts
from llm.prices import NANO, format_usd, usd
from store.db import Database, utcnow
from store.models import LLMCallRow
from store.owners import LOCAL_USER, owner_of

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

    daily_usd: Decimal | None = Decimal("1.00")  # the whole team's, per day
    session_usd: Decimal | None = Decimal("0.25")
    user_daily_usd: Decimal | None = None  # each user's, per day


@dataclass(frozen=True)
class BudgetRefusal:
    reason: str
    left_today_usd: Decimal | None
    left_session_usd: Decimal | None


def new_request_id() -> str:
    return uuid.uuid4().hex


def _values(record: CallRecord, **overrides: Any) -> dict[str, Any]:
    values = {k: getattr(record, k) for k in record.__dataclass_fields__} | overrides
    if values["status"] not in STATUSES:
        raise ValueError(f"Unknown ledger status {values['status']!r}.")
    return values


def _row(record: CallRecord, **overrides: Any) -> LLMCallRow:
    return LLMCallRow(**_values(record, **overrides))


# One statement object for every booked call, executed on a Core connection, so SQLAlchemy
# compiles it once and no ORM session is built: the ORM's unit of work (add + flush) was
# over half of the router's overhead per call (bench/RESULTS.md, "router"). Column
# defaults and the stored-text cleaning of StoredString/StoredText apply to a Core insert
# as they do to the ORM.
_INSERT = LLMCallRow.__table__.insert()


_OWNERS: dict[str, str] = {}  # session id -> owner: a session's owner never changes
_OWNERS_KEPT = 4096


def _owned(s: Session | Database, record: CallRecord) -> CallRecord:
    """The record with its user filled in: the one it names, else its session's owner,
    else the local user. Owners are remembered per session (a query per booked call
    was a third of the router's overhead); an unknown session is asked again next time.
    ``s`` is the caller's transaction, or the database to read the owner from."""
    if record.user:
        return record
    owner = _OWNERS.get(record.session_id or "")
    if owner is None:
        if isinstance(s, Database):
            with s.read() as session:
                owner = owner_of(session, record.session_id)
        else:
            owner = owner_of(s, record.session_id)
        if owner is not None:
            if len(_OWNERS) >= _OWNERS_KEPT:
                _OWNERS.clear()
            _OWNERS[record.session_id or ""] = owner
    return dataclasses.replace(record, user=owner or LOCAL_USER)


def book(db: Database, record: CallRecord) -> int:
    values = _values(_owned(db, record))
    with db.write_connection() as connection:
        return int(connection.execute(_INSERT, values).inserted_primary_key[0])


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


def _lock_budgets(s: Session) -> None:
    """Serialise the budget check with every other one until this transaction ends. SQLite
    writers are already serialised (BEGIN IMMEDIATE); PostgreSQL's READ COMMITTED is not."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BUDGET_LOCK_KEY})


def reserve(
    db: Database, record: CallRecord, estimate_nusd: int, budget: Budget
) -> int | BudgetRefusal:
    """Reserve ``estimate_nusd`` for a cloud call, or refuse (and book the refusal)."""
    now = utcnow()
    new_alerts: list[alerts.Alert] = []
    with db.write() as s:
        _lock_budgets(s)
        record = _owned(s, record)
        daily_cap, session_cap = _cap_nusd(budget.daily_usd), _cap_nusd(budget.session_usd)
        user_cap = _cap_nusd(budget.user_daily_usd)
        today = _committed_nusd(s, LLMCallRow.created_at >= day_start(now))
        by_user = _committed_nusd(s, LLMCallRow.created_at >= day_start(now),
                                  LLMCallRow.user == record.user) if user_cap is not None else 0
        left_user = None if user_cap is None else user_cap - by_user
        in_session = (
            _committed_nusd(s, LLMCallRow.session_id == record.session_id)
            if record.session_id and session_cap is not None
            else 0
        )
        left_today = None if daily_cap is None else daily_cap - today
        left_session = (
            None if session_cap is None or not record.session_id else session_cap - in_session
        )
        refusal, used_up = None, None
        team_over = left_today is not None and estimate_nusd > left_today
        user_over = left_user is not None and estimate_nusd > left_user
        if user_over and not (team_over and left_today <= left_user):  # type: ignore[operator]
            used_up = alerts.user_scope(record.user)  # type: ignore[arg-type]
            refusal = (
                f"Your daily cloud budget of {format_usd(budget.user_daily_usd)} would be "
                f"exceeded: this call may cost up to {format_usd(usd(estimate_nusd))} and "
                f"{format_usd(usd(max(left_user, 0)))} is left for you today. It resets at "
                f"{_when_reset(now)}; local models keep answering, and an admin can raise "
                "the budget in Settings."
            )
        elif team_over:
            used_up = alerts.TEAM
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
            team = used_up == alerts.TEAM
            cap = budget.daily_usd if team else budget.user_daily_usd
            if used_up is not None and cap:  # a cap of $0 keeps the cloud off: no news
                committed = usd(today if team else by_user)
                new_alerts = alerts.record(s, now, record.user or LOCAL_USER, record.session_id,
                                           [(used_up, 100, cap, committed)], refused=True)
            outcome: int | BudgetRefusal = BudgetRefusal(
                refusal,
                None if left_today is None else usd(max(left_today, 0)),
                None if left_session is None else usd(max(left_session, 0)),
            )
        else:
            row = _row(record, status="reserved", reserved_nusd=estimate_nusd)
            s.add(row)
            s.flush()
            outcome = row.id
    alerts.announce(new_alerts)
    return outcome


def settle(db: Database, row_id: int, record: CallRecord,
           budget: Budget | None = None) -> None:
    """Replace a reservation with what the call really cost (and how it ended); with
    ``budget``, record the thresholds of it that today's spend has now reached."""
    values = {k: getattr(record, k) for k in record.__dataclass_fields__}
    values.pop("request_id")
    values.pop("user")  # booked when the reservation was made
    now = utcnow()
    new_alerts: list[alerts.Alert] = []
    with db.write() as s:
        checks = budget is not None and record.tier == "cloud"
        if checks:  # two settles at once would each miss the other's cost and its threshold
            _lock_budgets(s)
        s.execute(update(LLMCallRow).where(LLMCallRow.id == row_id).values(**values))
        if checks:
            user = s.scalar(select(LLMCallRow.user).where(LLMCallRow.id == row_id))
            new_alerts = alerts.record(
                s, now, user or LOCAL_USER, record.session_id,
                _reached(s, budget, user or LOCAL_USER, now))
    alerts.announce(new_alerts)


def _spent_nusd(s: Session, *conditions: Any) -> int:
    """Cloud money really spent (not reserved) matching ``conditions``."""
    query = select(func.coalesce(func.sum(LLMCallRow.cost_nusd), 0)).where(
        LLMCallRow.tier == "cloud", LLMCallRow.status.in_(SPENDING), *conditions)
    return int(s.scalar(query) or 0)


def _reached(s: Session, budget: Budget, user: str, now: datetime
             ) -> list[tuple[str, int, Decimal, Decimal]]:
    """(scope, threshold, cap, spent) for each threshold today's spend has reached."""
    today = LLMCallRow.created_at >= day_start(now)
    reached = []
    for scope, cap, conditions in (
        (alerts.TEAM, budget.daily_usd, (today,)),
        (alerts.user_scope(user), budget.user_daily_usd, (today, LLMCallRow.user == user)),
    ):
        if not cap:  # no cap, or a cap of 0 (the cloud is off for them): nothing to reach
            continue
        spent = _spent_nusd(s, *conditions)
        for threshold in alerts.THRESHOLDS:
            if spent * 100 >= _cap_nusd(cap) * threshold:  # type: ignore[operator]
                reached.append((scope, threshold, cap, usd(spent)))
    return reached


def left_today_usd(db: Database, budget: Budget) -> Decimal | None:
    if budget.daily_usd is None:
        return None
    with db.read() as s:
        spent = _committed_nusd(s, LLMCallRow.created_at >= day_start(utcnow()))
    return usd(max(_cap_nusd(budget.daily_usd) - spent, 0))  # type: ignore[operator]


def left_for_user_usd(db: Database, budget: Budget, user: str) -> Decimal | None:
    """What ``user`` may still spend on the cloud today (None: no per-user cap)."""
    if budget.user_daily_usd is None:
        return None
    with db.read() as s:
        spent = _committed_nusd(s, LLMCallRow.created_at >= day_start(utcnow()),
                                LLMCallRow.user == user)
    return usd(max(_cap_nusd(budget.user_daily_usd) - spent, 0))  # type: ignore[operator]


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


def feedback_for_many(db: Database, request_ids: list[str]) -> dict[str, str]:
    """``feedback_for`` of several requests in one query: {request id: "up" or "down"} for
    those with a verdict (the sidebar asks for every reply it draws, on every run)."""
    if not request_ids:
        return {}
    with db.read() as s:
        rows = s.execute(
            select(LLMCallRow.request_id, LLMCallRow.feedback)
            .where(LLMCallRow.request_id.in_(set(request_ids)),
                   LLMCallRow.feedback.is_not(None))
        ).all()
    return {request_id: "up" if value else "down" for request_id, value in rows}
