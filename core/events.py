"""The interaction log: what the user did that the assistant should know about.

Only meaningful events go here — a page opened, a step completed, a form submitted, a
job started or finished, an error shown — never mouse noise. The assistant reads a short
digest of the newest ones, so it can answer "what did I just do?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from store.db import Database
from store.models import EventRow
from store.owners import LOCAL_USER, owner_of

EVENT_KINDS = (
    "page_opened",
    "step_completed",
    "form_submitted",
    "job_started",
    "job_finished",
    "error_shown",
    "action_run",
)
SUMMARY_LIMIT = 300


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    summary: str
    page: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


def record_event(
    db: Database,
    session_id: str,
    kind: str,
    summary: str,
    *,
    page: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    if kind not in EVENT_KINDS:
        raise ValueError(f"Unknown event kind {kind!r}; use one of {', '.join(EVENT_KINDS)}.")
    summary = " ".join(summary.split())[:SUMMARY_LIMIT]
    with db.write() as s:
        row = EventRow(session_id=session_id, user=owner_of(s, session_id) or LOCAL_USER,
                       kind=kind, page=page, summary=summary, data=data)
        s.add(row)
        s.flush()
        return Event(row.id, kind, summary, page, dict(data or {}), row.created_at)


def recent_events(db: Database, session_id: str, limit: int = 20) -> list[Event]:
    """The newest ``limit`` events of the session, oldest first."""
    with db.read() as s:
        rows = s.scalars(
            select(EventRow)
            .where(EventRow.session_id == session_id)
            .order_by(EventRow.id.desc())
            .limit(limit)
        ).all()
        return [
            Event(r.id, r.kind, r.summary, r.page, dict(r.data or {}), r.created_at)
            for r in reversed(rows)
        ]


def digest(events: list[Event], now: datetime | None = None) -> str:
    """A compact, model-readable list of events, oldest first, newest last."""
    if not events:
        return "The user has not done anything yet in this session."
    lines = []
    for event in events:
        when = event.created_at.strftime("%H:%M:%S") if event.created_at else "--:--:--"
        where = f" on {event.page}" if event.page else ""
        lines.append(f"- {when} {event.kind.replace('_', ' ')}{where}: {event.summary}")
    return "Recent user activity (oldest first, the last line is the most recent):\n" + "\n".join(
        lines
    )
