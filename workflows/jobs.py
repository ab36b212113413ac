"""The job runner: long work done item by item in a background thread, kept in the database.

A job is a list of items and a work function. ``start_job`` stores the job and one row per
item in one transaction and hands them to a daemon thread of this process, which runs the
work function on each pending item in order and writes that item's result (or its error,
as a sentence) together with the job's counters in one short transaction. So a reload, a
page switch or a second tab reads exactly how far the job got (``get_job``, ``latest_job``,
``job_items``), and no transaction is ever open while the work function runs.

A failing item never stops the others. ``cancel_job`` sets a flag the runner reads before
each item; a long item can read it too (``JobContext.cancelled``) and raise ``JobCancelled``
to stop at once, leaving that item pending. Progress is narrated into the chat at 25, 50,
75 and 100 %, each threshold once.

If the process dies, its jobs stay "running" with a heartbeat that stops moving. The
heartbeat is refreshed after every item and, while a long item runs, by a small ticker
thread, so a slow item is not mistaken for a dead process. ``recover_jobs`` marks
a running job "interrupted" as soon as its runner is known to be gone — its worker was a
process of this machine that has ended (a restart), or this process with no thread for it
— and otherwise when its heartbeat is older than ``stale_after_s`` (a runner on another
machine); ``resume_job`` runs its pending items only. Each run writes
under its own ``worker`` name, so a runner that lost its job to a resume elsewhere stops
writing instead of counting an item twice.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.events import record_event
from core.narration import narrate
from store.db import Database, utcnow
from store.models import JobItemRow, JobRow, SessionRow

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "running", "done", "failed", "cancelled", "interrupted",
)
STATUSES = (RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
RESUMABLE = (INTERRUPTED, CANCELLED)
PENDING = "pending"
THRESHOLDS = (25, 50, 75, 100)
STALE_AFTER_S = 30.0
HEARTBEAT_EVERY_S = 5.0
KIND_LIMIT, TITLE_LIMIT = 60, 200

Work = Callable[["JobContext", Any], Any]


class JobError(ValueError):
    """A job request that cannot be carried out; the message says what to do instead."""


class JobCancelled(Exception):
    """Raised by a work function that saw ``ctx.cancelled()``: the item stays pending."""


@dataclass(frozen=True)
class Job:
    id: str
    session_id: str
    kind: str
    title: str
    status: str
    total: int
    completed: int
    failed: int
    progress: float
    error: str | None
    params: dict[str, Any]
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def processed(self) -> int:
        """Items finished either way (done or failed)."""
        return self.completed + self.failed

    @property
    def running(self) -> bool:
        return self.status == RUNNING


@dataclass(frozen=True)
class JobItem:
    idx: int
    status: str
    input: Any
    result: Any
    error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class JobContext:
    """What a work function gets besides its item: who it works for and how to talk."""

    db: Database
    job_id: str
    session_id: str
    kind: str
    title: str
    index: int
    total: int
    params: dict[str, Any] = field(default_factory=dict)
    _worker: str = field(default="", repr=False)

    def cancelled(self) -> bool:
        """Whether the job should stop now (re-read from the database on every call)."""
        with self.db.read() as s:
            row = s.get(JobRow, self.job_id)
            return row is None or bool(row.cancel_requested) or not _owns(row, self._worker)

    def note(self, text: str, *, kind: str = "info") -> None:
        """Say something in the chat, e.g. "3 rows were rejected"."""
        narrate(self.db, self.session_id, text, kind=kind, source=self.kind)


def _job(row: JobRow) -> Job:
    total, completed, failed = row.total or 0, row.completed or 0, row.failed or 0
    return Job(
        id=row.id,
        session_id=row.session_id,
        kind=row.kind,
        title=row.title,
        status=row.status,
        total=total,
        completed=completed,
        failed=failed,
        progress=min(1.0, (completed + failed) / total) if total else 0.0,
        error=row.error,
        params=dict(row.params or {}),
        cancel_requested=bool(row.cancel_requested),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
    )


# -- which jobs this process runs ---------------------------------------------------------

_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()


def is_alive(job_id: str) -> bool:
    """Whether a thread of this process runs (or is about to run) the job."""
    with _threads_lock:
        return job_id in _threads


def _claim(job_id: str, thread: threading.Thread) -> None:
    """Register before the job row says "running", so recovery never sees a gap."""
    with _threads_lock:
        if job_id in _threads:
            raise JobError("This job is already running in this app; wait for it or cancel it.")
        _threads[job_id] = thread


def _release(job_id: str) -> None:
    with _threads_lock:
        _threads.pop(job_id, None)


def _new_worker() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _runner_gone(worker: str | None, job_id: str) -> bool:
    """Whether the job's runner is known dead without waiting for its heartbeat to age:
    a process of this machine that no longer exists, or this process with no thread
    for the job. A runner elsewhere (another host) is judged by its heartbeat."""
    if not worker:
        return True
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:80] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return not is_alive(job_id)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists but is not ours to signal: alive
        return False
    return False


def _owns(row: JobRow, worker: str) -> bool:
    return row.status == RUNNING and row.worker == worker


# -- starting, cancelling, reading ---------------------------------------------------------


def _check_json(value: object, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise JobError(
            f"{what} cannot be stored ({exc}); pass plain values: strings, numbers, "
            "lists and dicts."
        ) from exc


def _lock_session(s: Session, session_id: str) -> None:
    """Serialise job starts per session (a row lock on PostgreSQL; SQLite's write lock)."""
    found = s.scalar(
        select(SessionRow.id).where(SessionRow.id == session_id).with_for_update()
    )
    if found is None:
        raise JobError("This browser session is unknown; reload the page and try again.")


def _refuse_if_busy(s: Session, session_id: str, kind: str, *, other_than: str = "") -> None:
    busy = s.scalar(
        select(JobRow.title)
        .where(
            JobRow.session_id == session_id,
            JobRow.kind == kind,
            JobRow.status == RUNNING,
            JobRow.id != other_than,
        )
        .limit(1)
    )
    if busy is not None:
        raise JobError(f"A {busy} is already running; wait for it or cancel it.")


def _launch(db: Database, job_id: str, kind: str, work: Work, narrate_progress: bool
            ) -> tuple[threading.Thread, str]:
    worker = _new_worker()
    thread = threading.Thread(
        target=_run, args=(db, job_id, work, worker, narrate_progress),
        daemon=True, name=f"job-{kind}-{job_id[:8]}",
    )
    _claim(job_id, thread)
    return thread, worker


def start_job(
    db: Database,
    session_id: str,
    kind: str,
    title: str,
    items: list[Any],
    work: Work,
    *,
    params: dict[str, Any] | None = None,
    narrate_progress: bool = True,
) -> str:
    """Store a job of ``items`` and start working through them; returns the job id.

    Refused while a job of the same ``kind`` runs for the session.
    """
    kind, title = " ".join(str(kind).split()), " ".join(str(title).split())
    if not kind or len(kind) > KIND_LIMIT:
        raise JobError(f"A job needs a kind of 1 to {KIND_LIMIT} characters, e.g. 'long_job'.")
    if not title or len(title) > TITLE_LIMIT:
        raise JobError(f"A job needs a title of 1 to {TITLE_LIMIT} characters, e.g. 'Long job'.")
    items = list(items)
    if not items:
        raise JobError(f"{title} has nothing to do: give it at least one item.")
    for n, item in enumerate(items, start=1):
        _check_json(item, f"Item {n}")
    _check_json(params, "The job's parameters")
    recover_jobs(db)  # a job left "running" by a dead process must not block this one

    job_id = uuid.uuid4().hex
    thread, worker = _launch(db, job_id, kind, work, narrate_progress)
    try:
        with db.write() as s:
            _lock_session(s, session_id)
            _refuse_if_busy(s, session_id, kind)
            now = utcnow()
            s.add(JobRow(
                id=job_id, session_id=session_id, kind=kind, title=title, status=RUNNING,
                total=len(items), completed=0, failed=0, params=params, cancel_requested=0,
                worker=worker, created_at=now, started_at=now, heartbeat_at=now,
            ))
            s.flush()
            s.add_all(
                JobItemRow(job_id=job_id, idx=idx, status=PENDING, input=item, updated_at=now)
                for idx, item in enumerate(items)
            )
    except BaseException:
        _release(job_id)
        raise
    try:
        record_event(
            db, session_id, "job_started", f"Started {title} ({len(items)} items)",
            data={"job_id": job_id, "kind": kind, "total": len(items)},
        )
    finally:
        thread.start()
    return job_id


def cancel_job(db: Database, job_id: str) -> Job:
    """Ask a running job to stop; an interrupted one is marked cancelled at once.

    A running job stops before its next item, or sooner if its work checks
    ``ctx.cancelled()``. Finished jobs are left as they are.
    """
    recover_jobs(db)
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None:
            raise JobError(_unknown(job_id))
        if row.status == RUNNING:
            row.cancel_requested = 1
        elif row.status == INTERRUPTED:
            row.status, row.cancel_requested, row.finished_at = CANCELLED, 1, utcnow()
        return _job(row)


def get_job(db: Database, job_id: str) -> Job:
    with db.read() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise JobError(_unknown(job_id))
        return _job(row)


def latest_job(db: Database, session_id: str, kind: str) -> Job | None:
    """The session's newest job of ``kind``: how a page finds its job after a reload."""
    with db.read() as s:
        row = s.scalars(
            select(JobRow)
            .where(JobRow.session_id == session_id, JobRow.kind == kind)
            .order_by(JobRow.created_at.desc())
            .limit(1)
        ).first()
        return _job(row) if row is not None else None


def job_items(db: Database, job_id: str) -> list[JobItem]:
    with db.read() as s:
        rows = s.scalars(
            select(JobItemRow).where(JobItemRow.job_id == job_id).order_by(JobItemRow.idx)
        ).all()
        return [JobItem(r.idx, r.status, r.input, r.result, r.error, r.updated_at) for r in rows]


def _unknown(job_id: str) -> str:
    return f"There is no job {job_id!r}; it may belong to another database or have been deleted."


# -- restarts -----------------------------------------------------------------------------


def recover_jobs(db: Database, *, stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Mark "interrupted" every running job whose runner is known to be gone, or whose
    heartbeat is older than ``stale_after_s``; returns their ids. Finished items stay.

    Cheap when nothing is stale (one read), so pages call it each time they open.
    """
    cutoff = utcnow() - timedelta(seconds=stale_after_s)

    def abandoned(row_id: str, worker: str | None, last_sign: datetime) -> bool:
        if is_alive(row_id):
            return False
        return last_sign < cutoff or _runner_gone(worker, row_id)

    with db.read() as s:
        running = s.execute(
            select(JobRow.id, JobRow.worker,
                   func.coalesce(JobRow.heartbeat_at, JobRow.created_at))
            .where(JobRow.status == RUNNING)
        ).all()
    candidates = [job_id for job_id, worker, sign in running if abandoned(job_id, worker, sign)]
    if not candidates:
        return []
    recovered: list[Job] = []
    with db.write() as s:
        for job_id in candidates:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.status != RUNNING or not abandoned(
                job_id, row.worker, row.heartbeat_at or row.created_at
            ):
                continue
            done = (row.completed or 0) + (row.failed or 0)
            row.status, row.worker = INTERRUPTED, None
            row.error = (
                f"{row.title} stopped when the app stopped, after {done} of {row.total} "
                "items; the finished items are kept. Resume it to do the rest."
            )
            recovered.append(_job(row))
    for job in recovered:
        _announce_end(db, job, f"{job.title} was interrupted after {job.processed} of "
                      f"{job.total} items; resume it to do the rest.", kind="warning")
    return [job.id for job in recovered]


def resume_job(
    db: Database, job_id: str, work: Work, *, narrate_progress: bool = True
) -> None:
    """Run an interrupted or cancelled job again, on its pending items only."""
    recover_jobs(db)
    thread, worker = _launch(db, job_id, "resume", work, narrate_progress)
    try:
        with db.write() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise JobError(_unknown(job_id))
            if row.status not in RESUMABLE:
                raise JobError(_not_resumable(row.title, row.status))
            _lock_session(s, row.session_id)
            _refuse_if_busy(s, row.session_id, row.kind, other_than=job_id)
            now = utcnow()
            row.status, row.worker, row.cancel_requested = RUNNING, worker, 0
            row.error, row.finished_at, row.heartbeat_at = None, None, now
            row.started_at = row.started_at or now
            job = _job(row)
    except BaseException:
        _release(job_id)
        raise
    try:
        record_event(
            db, job.session_id, "job_started",
            f"Resumed {job.title} at {job.processed} of {job.total} items",
            data={"job_id": job.id, "kind": job.kind, "total": job.total, "resumed": True},
        )
    finally:
        thread.start()


def _not_resumable(title: str, status: str) -> str:
    if status == RUNNING:
        return f"{title} is still running; wait for it or cancel it first."
    return f"{title} has already finished ({status}); start a new one instead."


# -- the runner thread --------------------------------------------------------------------


def _run(db: Database, job_id: str, work: Work, worker: str, narrate_progress: bool) -> None:
    stop = threading.Event()
    ticker = threading.Thread(
        target=_keep_heartbeat, args=(db, job_id, worker, stop), daemon=True,
        name=f"job-heartbeat-{job_id[:8]}",
    )
    ticker.start()
    try:
        _work_through(db, job_id, work, worker, narrate_progress)
    except Exception as exc:  # the database failed under us: keep what is done, say so
        log.exception("job %s stopped", job_id)
        try:
            _end(db, job_id, worker, INTERRUPTED, error=(
                f"The job stopped because of an unexpected error ({exc.__class__.__name__}: "
                f"{exc}); the finished items are kept. Resume it to do the rest."
            ))
        except Exception:  # recover_jobs will find it once the heartbeat is stale
            log.exception("job %s: could not record the stop", job_id)
    finally:
        stop.set()
        _release(job_id)


def _keep_heartbeat(db: Database, job_id: str, worker: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY_S):
        try:
            with db.write() as s:
                row = s.get(JobRow, job_id, with_for_update=True)
                if row is None or not _owns(row, worker):
                    return
                row.heartbeat_at = utcnow()
        except Exception:  # a missed beat is harmless; the next one may get through
            log.warning("job %s: heartbeat not written", job_id, exc_info=True)


def _work_through(
    db: Database, job_id: str, work: Work, worker: str, narrate_progress: bool
) -> None:
    job = get_job(db, job_id)
    announced = {t for t in THRESHOLDS if job.processed * 100 >= t * job.total}
    while True:
        with db.read() as s:
            row = s.get(JobRow, job_id)
            if row is None or not _owns(row, worker):
                return  # recovered and resumed elsewhere: that runner owns it now
            stop = bool(row.cancel_requested)
            item = s.execute(
                select(JobItemRow.idx, JobItemRow.input)
                .where(JobItemRow.job_id == job_id, JobItemRow.status == PENDING)
                .order_by(JobItemRow.idx)
                .limit(1)
            ).first()
        if item is None:
            _end(db, job_id, worker, DONE)
            return
        if stop:
            _end(db, job_id, worker, CANCELLED)
            return
        ctx = JobContext(db, job.id, job.session_id, job.kind, job.title, item.idx,
                         job.total, job.params, worker)
        result, error = None, None
        try:
            result = work(ctx, item.input)
            _check_json(result, f"Item {item.idx + 1}'s result")
        except JobCancelled:
            _end(db, job_id, worker, CANCELLED)
            return
        except Exception as exc:  # one item's failure is that item's, not the job's
            result, error = None, _item_error(item.idx, exc)
        counts = _record(db, job_id, worker, item.idx, result, error)
        if counts is None:
            return
        processed = counts[0] + counts[1]
        crossed = {t for t in THRESHOLDS if processed * 100 >= t * job.total} - announced
        announced |= crossed
        if narrate_progress and crossed and 100 not in crossed:  # 100 % is the end message
            narrate(db, job.session_id, f"{job.title}: {max(crossed)}% done "
                    f"({processed} of {job.total})", kind="progress", source=job.kind)


def _item_error(idx: int, exc: Exception) -> str:
    if isinstance(exc, JobError):
        return f"Item {idx + 1} failed: {_sentence(str(exc))}"
    detail = str(exc).strip()
    name = exc.__class__.__name__
    return f"Item {idx + 1} failed ({name}): {_sentence(detail)}" if detail else (
        f"Item {idx + 1} failed ({name})."
    )


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _record(
    db: Database, job_id: str, worker: str, idx: int, result: Any, error: str | None
) -> tuple[int, int] | None:
    """Write one item's outcome and the job's counters together; None if we lost the job."""
    now = utcnow()
    with db.write() as s:
        job = s.get(JobRow, job_id, with_for_update=True)
        if job is None or not _owns(job, worker):
            return None
        item = s.scalar(
            select(JobItemRow).where(
                JobItemRow.job_id == job_id, JobItemRow.idx == idx, JobItemRow.status == PENDING
            )
        )
        if item is not None:
            item.status = FAILED if error else DONE
            item.result, item.error, item.updated_at = result, error, now
            if error:
                job.failed += 1
            else:
                job.completed += 1
        job.heartbeat_at = now
        return job.completed, job.failed


def _end(db: Database, job_id: str, worker: str, status: str, *, error: str | None = None
         ) -> None:
    """Close the run: the final status, one event and one chat message."""
    now = utcnow()
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or not _owns(row, worker):
            return
        if status == DONE and row.total and row.failed >= row.total:
            status = FAILED
            first = s.scalar(
                select(JobItemRow.error)
                .where(JobItemRow.job_id == job_id, JobItemRow.status == FAILED)
                .order_by(JobItemRow.idx)
                .limit(1)
            )
            error = f"All {row.total} items failed. The first error: {first}"
        elif status == DONE and row.failed:
            error = f"{row.failed} of {row.total} items failed; the others are done."
        row.status, row.error, row.heartbeat_at = status, error, now
        if status != INTERRUPTED:
            row.finished_at = now
        job = _job(row)
    if job.status == DONE:
        text, kind = f"{job.title}: 100% done ({job.processed} of {job.total})", "done"
        if job.failed:
            text += f"; {job.failed} item{'s' if job.failed > 1 else ''} failed."
    elif job.status == FAILED:
        text, kind = f"{job.title} failed: {job.error}", "error"
    elif job.status == CANCELLED:
        text, kind = (f"{job.title} cancelled after {job.processed} of {job.total} items.",
                      "warning")
    else:
        text, kind = f"{job.title}: {job.error}", "warning"
    _announce_end(db, job, text, kind=kind)


def _announce_end(db: Database, job: Job, text: str, *, kind: str) -> None:
    summary = {
        DONE: f"{job.title} finished: {job.completed} of {job.total} done, {job.failed} failed",
        FAILED: f"{job.title} failed: all {job.total} items failed",
        CANCELLED: f"{job.title} cancelled after {job.processed} of {job.total}",
        INTERRUPTED: f"{job.title} interrupted after {job.processed} of {job.total}",
    }[job.status]
    record_event(db, job.session_id, "job_finished", summary, data={
        "job_id": job.id, "kind": job.kind, "status": job.status, "total": job.total,
        "completed": job.completed, "failed": job.failed,
    })
    narrate(db, job.session_id, text, kind=kind, source=job.kind)
