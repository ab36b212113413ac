"""The ledger as reports: the queries the Costs and Home pages read.

They aggregate in SQL (GROUP BY, ORDER BY + LIMIT/OFFSET: nothing SQLite and PostgreSQL
do not both run), so a chart over 100,000 calls fetches a few dozen rows: ``totals()``,
``breakdown()``, ``tier_shares()``, ``over_time()``, ``latency_percentiles()``,
``escalation_rate()``, ``route_reasons()``. Only the table (``ledger_page()``, newest
first, one page at a time) and the CSV export (``ledger_csv_rows()``, capped) read rows
one by one. Booking and budgets are in ``llm/ledger.py``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, literal_column, select

from llm.prices import usd
from store.db import Database, utcnow
from store.models import VERDICT_VALUES, LLMCallRow


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    tier: str | None = None
    model: str | None = None
    page: str | None = None
    status: str | None = None
    session_id: str | None = None
    request_id: str | None = None  # the attempts behind one reply
    user: str | None = None  # one person's calls (everyone sees their own; admins anyone's)

    def conditions(self) -> list[Any]:
        found: list[Any] = [LLMCallRow.status != "reserved"]
        if self.since:
            found.append(LLMCallRow.created_at >= self.since)
        if self.until:
            found.append(LLMCallRow.created_at < self.until)
        for name in ("tier", "model", "page", "status", "session_id", "request_id", "user"):
            value = getattr(self, name)
            if value:
                found.append(getattr(LLMCallRow, name) == value)
        return found


@dataclass(frozen=True)
class Totals:
    calls: int
    cost_usd: Decimal
    counterfactual_usd: Decimal
    prompt_tokens: int
    completion_tokens: int
    escalations: int

    @property
    def savings_usd(self) -> Decimal:
        return self.counterfactual_usd - self.cost_usd

    @property
    def savings_share(self) -> float | None:
        if not self.counterfactual_usd:
            return None
        return float(self.savings_usd / self.counterfactual_usd)


def totals(db: Database, filters: Filters | None = None) -> Totals:
    filters = filters or Filters()
    query = select(
        func.count(),
        func.coalesce(func.sum(LLMCallRow.cost_nusd), 0),
        func.coalesce(func.sum(LLMCallRow.counterfactual_nusd), 0),
        func.coalesce(func.sum(LLMCallRow.prompt_tokens), 0),
        func.coalesce(func.sum(LLMCallRow.completion_tokens), 0),
        func.coalesce(func.sum(case((LLMCallRow.status == "escalated", 1), else_=0)), 0),
    ).where(and_(*filters.conditions()))
    with db.read() as s:
        calls, cost, counterfactual, prompt, completion, escalated = s.execute(query).one()
    return Totals(
        calls=int(calls),
        cost_usd=usd(int(cost)),
        counterfactual_usd=usd(int(counterfactual)),
        prompt_tokens=int(prompt),
        completion_tokens=int(completion),
        escalations=int(escalated),
    )


BREAKDOWNS = ("tier", "model", "page", "purpose", "status", "day", "user")


def _day(db: Database) -> Any:
    if db.engine.dialect.name == "sqlite":
        return func.date(LLMCallRow.created_at)
    return cast(LLMCallRow.created_at, Date)


def breakdown(db: Database, by: str, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Calls, tokens, cost, counterfactual and savings grouped by one column."""
    if by not in BREAKDOWNS:
        raise ValueError(f"Cannot break down by {by!r}; choose one of {', '.join(BREAKDOWNS)}.")
    filters = filters or Filters()
    key = _day(db) if by == "day" else getattr(LLMCallRow, by)
    query = (
        select(
            key.label("key"),
            func.count().label("calls"),
            func.coalesce(func.sum(LLMCallRow.prompt_tokens + LLMCallRow.completion_tokens), 0),
            func.coalesce(func.sum(LLMCallRow.cost_nusd), 0),
            func.coalesce(func.sum(LLMCallRow.counterfactual_nusd), 0),
        )
        .where(and_(*filters.conditions()))
        .group_by(key)
        .order_by(key)
    )
    with db.read() as s:
        rows = s.execute(query).all()
    return [
        {
            by: str(k) if k is not None else "(none)",
            "calls": int(calls),
            "tokens": int(tokens),
            "cost_usd": usd(int(cost)),
            "counterfactual_usd": usd(int(cf)),
            "savings_usd": usd(int(cf) - int(cost)),
        }
        for k, calls, tokens, cost, cf in rows
    ]


def tier_shares(db: Database, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Calls and tokens per tier, with each tier's share of the whole (0 to 1)."""
    rows = breakdown(db, "tier", filters)
    calls = sum(r["calls"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    order = {"embedded": 0, "local": 1, "cloud": 2}
    return [
        {
            "tier": r["tier"],
            "calls": r["calls"],
            "call_share": r["calls"] / calls if calls else 0.0,
            "tokens": r["tokens"],
            "token_share": r["tokens"] / tokens if tokens else 0.0,
        }
        for r in sorted(rows, key=lambda r: (order.get(r["tier"], 3), r["tier"]))
    ]


def over_time(db: Database, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Cost, all-cloud cost and savings per UTC day and tier (days without calls are absent)."""
    filters = filters or Filters()
    day = _day(db)
    query = (
        select(
            day,
            LLMCallRow.tier,
            func.coalesce(func.sum(LLMCallRow.cost_nusd), 0),
            func.coalesce(func.sum(LLMCallRow.counterfactual_nusd), 0),
        )
        .where(and_(*filters.conditions()))
        .group_by(day, LLMCallRow.tier)
        .order_by(day, LLMCallRow.tier)
    )
    with db.read() as s:
        rows = s.execute(query).all()
    return [
        {
            "day": d if isinstance(d, date) else date.fromisoformat(str(d)),
            "tier": tier,
            "cost_usd": usd(int(cost)),
            "counterfactual_usd": usd(int(cf)),
            "savings_usd": usd(int(cf) - int(cost)),
        }
        for d, tier, cost, cf in rows
    ]


def latency_percentiles(
    db: Database, filters: Filters | None = None, quantiles: tuple[float, ...] = (0.5, 0.95)
) -> dict[float, int | None]:
    """Latency in ms at each quantile, by the nearest-rank method: the smallest latency
    with at least that share of the timed calls at or below it (``None`` when no call in
    ``filters`` was timed). SQLite has no percentile function, so it is a COUNT and then,
    per quantile, ORDER BY latency LIMIT 1 OFFSET rank - 1."""
    if any(not 0 < q <= 1 for q in quantiles):
        raise ValueError(f"Quantiles must be above 0 and at most 1, not {quantiles}.")
    filters = filters or Filters()
    timed = [*filters.conditions(), LLMCallRow.latency_ms.is_not(None)]
    found: dict[float, int | None] = {}
    with db.read() as s:
        count = int(s.scalar(select(func.count()).where(*timed)) or 0)
        for q in quantiles:
            if not count:
                found[q] = None
                continue
            rank = max(math.ceil(Decimal(str(q)) * count), 1)
            # Count from the nearer end: the sort then keeps only the rows before the one
            # wanted (5% of them for the 95th percentile, not 95%).
            from_top = rank > count / 2
            order = LLMCallRow.latency_ms.desc() if from_top else LLMCallRow.latency_ms
            found[q] = s.scalar(
                select(LLMCallRow.latency_ms)
                .where(*timed)
                .order_by(order)
                .limit(1)
                .offset(count - rank if from_top else rank - 1)
            )
    return found


def escalation_rate(db: Database, filters: Filters | None = None) -> float | None:
    """Escalated attempts (an answer that failed validation and was repaired or sent up a
    tier) per request; ``None`` when ``filters`` match no request."""
    filters = filters or Filters()
    query = select(
        func.count(func.distinct(LLMCallRow.request_id)),
        func.coalesce(func.sum(case((LLMCallRow.status == "escalated", 1), else_=0)), 0),
    ).where(and_(*filters.conditions()))
    with db.read() as s:
        requests, escalated = s.execute(query).one()
    return int(escalated) / int(requests) if requests else None


ROUTE_REASON_CHARS = 80


def route_reasons(
    db: Database, filters: Filters | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """The most common route reasons, with their calls and cost, most frequent first.

    A reason is the router's decisions joined in order (privacy verdict, pin or starting
    tier, budget, cascade), so it is long and its tail carries numbers (token counts,
    reserved dollars, error details) that make nearly every text unique. Calls are grouped
    on the first ``ROUTE_REASON_CHARS`` characters, which name the path a request took —
    the first sentence alone would not do: it is nearly always the privacy verdict "No
    personal data or secrets found.". A reason cut short ends in "…".
    """
    filters = filters or Filters()
    # Literal bounds: with bound parameters PostgreSQL would not see that the SELECT and
    # GROUP BY expressions are the same.
    key = func.substr(
        LLMCallRow.route_reason, literal_column("1"), literal_column(str(ROUTE_REASON_CHARS))
    )
    calls = func.count()
    query = (
        select(
            key,
            calls,
            func.max(func.length(LLMCallRow.route_reason)),
            func.coalesce(func.sum(LLMCallRow.cost_nusd), 0),
        )
        .where(and_(*filters.conditions()))
        .group_by(key)
        .order_by(calls.desc(), key)
        .limit(limit)
    )
    with db.read() as s:
        rows = s.execute(query).all()
    return [
        {
            "reason": (prefix.rstrip() + "…" if longest > ROUTE_REASON_CHARS else prefix)
            or "(no reason)",
            "calls": int(n),
            "cost_usd": usd(int(cost)),
        }
        for prefix, n, longest, cost in rows
    ]


LEDGER_COLUMNS: dict[str, str] = {
    "created_at": "When (UTC)",
    "tier": "Tier",
    "model": "Model",
    "provider": "Provider",
    "purpose": "Purpose",
    "page": "Page",
    "status": "Status",
    "prompt_tokens": "Prompt tokens",
    "completion_tokens": "Completion tokens",
    "usage_source": "Token counts",
    "cost_usd": "Cost (USD)",
    "counterfactual_usd": "All-cloud cost (USD)",
    "latency_ms": "Latency (ms)",
    "ttft_ms": "First token (ms)",
    "route_reason": "Route reason",
    "error_text": "Error",
    "expert": "Expert",
    "workflow": "Workflow",
    "user": "User",
    "session": "Session",
    "request_id": "Request",
    "attempt": "Attempt",
}
"""The ledger's columns as the table and the CSV export show them (key -> label)."""
_MONEY_COLUMNS = {"cost_usd": LLMCallRow.cost_nusd,
                  "counterfactual_usd": LLMCallRow.counterfactual_nusd}
_COLUMN_SOURCES = {**_MONEY_COLUMNS, "session": LLMCallRow.session_id}


def session_label(session_id: str | None) -> str:
    """A short, non-secret label for a session: the same session always gets the same
    label, and the label cannot be turned back into the id. Session ids are capabilities
    (whoever knows one can open that conversation), so the ledger, its export and the
    Costs page show this instead."""
    if not session_id:
        return ""
    return "S-" + hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()[:8]


def _shown(name: str, value: Any) -> Any:
    if name in _MONEY_COLUMNS:
        return usd(value)
    if name == "session":
        return session_label(value)
    return value


def ledger_page(
    db: Database, filters: Filters | None = None, limit: int = 500, offset: int = 0
) -> list[dict[str, Any]]:
    """One page of calls for the table, newest first, keyed like ``LEDGER_COLUMNS``."""
    filters = filters or Filters()
    names = list(LEDGER_COLUMNS)
    columns = [_COLUMN_SOURCES.get(n, getattr(LLMCallRow, n, None)) for n in names]
    query = (
        select(*columns)
        .where(and_(*filters.conditions()))
        .order_by(LLMCallRow.created_at.desc(), LLMCallRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    with db.read() as s:
        rows = s.execute(query).all()
    return [
        {n: _shown(n, v) for n, v in zip(names, row, strict=True)}
        for row in rows
    ]


CSV_ROW_CAP = 200_000


def ledger_csv_rows(
    db: Database, filters: Filters | None = None, limit: int = CSV_ROW_CAP
) -> list[dict[str, Any]]:
    """The calls an export writes, the newest ``limit`` matching ``filters``, with money as
    fixed-point text ("0.00000015", where a Decimal would print "1.5E-7")."""
    return [
        row | {n: f"{row[n]:f}" for n in _MONEY_COLUMNS}
        for row in ledger_page(db, filters, limit=limit)
    ]


PICKABLE = ("tier", "model", "provider", "purpose", "page", "status", "user")


def distinct_values(db: Database, column: str) -> list[str]:
    """The values ``column`` holds in the ledger, sorted (for filter pickers)."""
    if column not in PICKABLE:
        raise ValueError(f"Cannot list {column!r}; choose one of {', '.join(PICKABLE)}.")
    field = getattr(LLMCallRow, column)
    query = (
        select(field)
        .where(field.is_not(None), LLMCallRow.status != "reserved")
        .distinct()
        .order_by(field)
    )
    with db.read() as s:
        return [str(v) for v in s.scalars(query).all()]


def ledger_version(db: Database) -> tuple[int, int]:
    """(highest id, reservations opened in the last day): changes whenever a call is
    booked, reserved or settled, so a cache of the Costs page's aggregates keyed on it is
    never stale. Both parts come from indexes (no call is in flight for a day)."""
    highest = select(func.coalesce(func.max(LLMCallRow.id), 0)).scalar_subquery()
    reserved = (
        select(func.count())
        .where(LLMCallRow.created_at >= utcnow() - timedelta(days=1),
               LLMCallRow.status == "reserved")
        .scalar_subquery()
    )
    with db.read() as s:
        found = s.execute(select(highest, reserved)).one()
    return int(found[0]), int(found[1])


def calls_for_request(db: Database, request_id: str) -> list[LLMCallRow]:
    with db.read() as s:
        return list(
            s.scalars(
                select(LLMCallRow)
                .where(LLMCallRow.request_id == request_id)
                .order_by(LLMCallRow.attempt, LLMCallRow.id)
            ).all()
        )


# -- quality: escalations and the user's verdicts ----------------------------------------

ESCALATION_REASONS = {
    "difficulty": "the question looked hard (difficulty)",
    "confidence": "the answer looked unreliable (confidence)",
    "user": "the user asked a stronger model",
    "validation": "the answer was invalid (empty, cut off, not the schema)",
}


def escalations_by_reason(db: Database, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Requests that went above their first tier, per reason, most common first."""
    filters = filters or Filters()
    query = (
        select(LLMCallRow.escalation, func.count(func.distinct(LLMCallRow.request_id)))
        .where(and_(*filters.conditions()), LLMCallRow.escalation.is_not(None))
        .group_by(LLMCallRow.escalation)
        .order_by(func.count(func.distinct(LLMCallRow.request_id)).desc())
    )
    with db.read() as s:
        rows = s.execute(query).all()
    return [{"reason": ESCALATION_REASONS.get(reason, reason), "key": reason,
             "requests": int(count)} for reason, count in rows]


FEEDBACK_BY = ("tier", "purpose", "expert")


def feedback_by(db: Database, by: str, filters: Filters | None = None) -> list[dict[str, Any]]:
    """Thumbs up and down per ``by`` (tier, purpose or expert), with counts and the share
    of thumbs up."""
    if by not in FEEDBACK_BY:
        raise ValueError(f"Cannot group feedback by {by!r}; use one of {', '.join(FEEDBACK_BY)}.")
    filters = filters or Filters()
    field = getattr(LLMCallRow, by)
    query = (
        select(field,
               func.sum(case((LLMCallRow.feedback == 1, 1), else_=0)),
               func.sum(case((LLMCallRow.feedback == 0, 1), else_=0)))
        # ``IN`` and not ``IS NOT NULL``: SQLite takes the verdict index only for the former
        .where(and_(*filters.conditions()), LLMCallRow.feedback.in_(VERDICT_VALUES))
        .group_by(field)
        .order_by(field)
    )
    with db.read() as s:
        rows = s.execute(query).all()
    out = []
    for key, up, down in rows:
        up, down = int(up or 0), int(down or 0)
        out.append({by: key or "(none)", "up": up, "down": down, "ratings": up + down,
                    "up_share": up / (up + down) if up + down else None})
    return out
