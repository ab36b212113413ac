"""Where a session's jobs stand, read from the jobs table (what the assistant reports)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.job_state import QUIET_AFTER_S, recent_jobs
from core.sessions import ensure_session
from store import db as store_db
from store.db import Database, database_time, utcnow
from store.models import JobItemRow, JobRow


def add_job(db: Database, sid: str, job_id: str, **kw: object) -> None:
    now = utcnow()
    values = {"kind": "long_job", "title": "Long job", "status": "running", "total": 4,
              "completed": 0, "failed": 0, "created_at": now, "heartbeat_at": now} | kw
    with db.write() as s:
        s.add(JobRow(id=job_id, session_id=sid, **values))


def test_the_newest_jobs_of_the_session_with_counts_and_errors(db: Database) -> None:
    sid, other = ensure_session(db, None), ensure_session(db, None, "bob@example.com")
    start = utcnow() - timedelta(minutes=10)
    add_job(db, sid, "a" * 32, status="done", total=3, completed=2, failed=1,
            error="1 of 3 items failed; the others are done.", created_at=start,
            finished_at=start + timedelta(minutes=1))
    with db.write() as s:
        s.add(JobItemRow(job_id="a" * 32, idx=1, status="failed", error="Item 2 failed."))
        s.add(JobItemRow(job_id="a" * 32, idx=2, status="failed", error="Item 3 failed."))
    add_job(db, sid, "b" * 32, total=10, completed=4, created_at=start + timedelta(minutes=5))
    add_job(db, other, "c" * 32, user="bob@example.com")  # another person's: not reported

    newest, older = recent_jobs(db, sid)
    assert (newest.id, newest.status, newest.processed, newest.total, newest.percent) == (
        "b" * 32, "running", 4, 10, 40)
    assert newest.quiet_for_s is not None and not newest.quiet
    assert (older.status, older.completed, older.failed) == ("done", 2, 1)
    assert older.first_item_error == "Item 2 failed." and older.quiet_for_s is None
    assert [j.id for j in recent_jobs(db, sid, limit=1)] == [newest.id]


def test_a_running_job_with_no_sign_of_life_is_quiet(db: Database) -> None:
    sid = ensure_session(db, None)
    long_ago = utcnow() - timedelta(seconds=QUIET_AFTER_S + 60)
    add_job(db, sid, "d" * 32, heartbeat_at=long_ago, created_at=long_ago)
    (job,) = recent_jobs(db, sid)
    assert job.quiet and job.quiet_for_s is not None and job.quiet_for_s > QUIET_AFTER_S


def test_a_session_without_jobs_has_none(db: Database) -> None:
    assert recent_jobs(db, ensure_session(db, None)) == []


def test_quiet_is_judged_by_the_databases_clock_not_this_hosts(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose clock runs ten minutes fast must not call a live job quiet: the
    heartbeat was written in the database's time and is read against it."""
    sid = ensure_session(db, None)
    with db.read() as s:
        beat = database_time(s)
    add_job(db, sid, "e" * 32, heartbeat_at=beat, created_at=beat)

    class FastClock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime.now(tz) + timedelta(minutes=10)

    monkeypatch.setattr(store_db, "datetime", FastClock)
    assert store_db.utcnow() - beat > timedelta(minutes=9)  # this host's clock is off
    (job,) = recent_jobs(db, sid)
    assert job.quiet_for_s is not None and job.quiet_for_s < 60 and not job.quiet
