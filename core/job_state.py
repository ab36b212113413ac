"""Where a session's jobs stand, read straight from the jobs table.

The job runner lives in ``workflows.jobs`` (it starts, runs, cancels and resumes jobs).
The assistant must not import ``workflows`` — the domains are independent of each other
(see the import contract in pyproject.toml) — yet "how is my job going?" is a question
it answers from the data. This module is that read, and only a read: the latest jobs of a
session with their counters, their error, and the first failed item's error.

A job whose runner died still says "running" until ``workflows.jobs.recover_jobs`` marks
it; ``JobState.quiet_for_s`` tells how long since its last sign of life (the runner
refreshes it every few seconds), so a reader can say the job may have stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from store.db import Database, database_time
from store.models import JobItemRow, JobRow
from store.owners import session_owner

QUIET_AFTER_S = 30.0  # the runner's heartbeat is every 5 s; this long without one is odd


@dataclass(frozen=True)
class JobState:
    id: str
    kind: str
    title: str
    status: str  # running, done, failed, cancelled, interrupted
    total: int
    completed: int
    failed: int
    error: str | None
    first_item_error: str | None
    created_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    quiet_for_s: float | None  # running jobs: seconds since the last sign of life

    @property
    def processed(self) -> int:
        return self.completed + self.failed

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def quiet(self) -> bool:
        return self.quiet_for_s is not None and self.quiet_for_s > QUIET_AFTER_S


def recent_jobs(db: Database, session_id: str, limit: int = 3) -> list[JobState]:
    """The ``limit`` newest jobs of the session's user (from any tab), newest first."""
    with db.read() as s:
        now = database_time(s)  # heartbeats are written in the database's time, so judged by it
        rows = s.scalars(
            select(JobRow)
            .where(JobRow.user == session_owner(session_id))
            .order_by(JobRow.created_at.desc(), JobRow.id)
            .limit(limit)
        ).all()
        states = []
        for row in rows:
            first_error = None
            if row.failed:
                first_error = s.scalar(
                    select(JobItemRow.error)
                    .where(JobItemRow.job_id == row.id, JobItemRow.status == "failed")
                    .order_by(JobItemRow.idx)
                    .limit(1)
                )
            last_sign = row.heartbeat_at or row.started_at or row.created_at
            quiet = (
                max(0.0, (now - last_sign).total_seconds())
                if row.status == "running" and last_sign is not None
                else None
            )
            states.append(JobState(
                id=row.id, kind=row.kind, title=row.title, status=row.status,
                total=row.total or 0, completed=row.completed or 0, failed=row.failed or 0,
                error=row.error, first_item_error=first_error, created_at=row.created_at,
                finished_at=row.finished_at, heartbeat_at=row.heartbeat_at, quiet_for_s=quiet,
            ))
    return states
