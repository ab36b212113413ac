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

Two runners, one interface, so pages do not know which one runs:

- *The queue* (PostgreSQL, ``workflows/queue.py``): a job whose kind is registered
  (``register_kind`` / ``job_kind``, done by ``workflows.long_job`` and
  ``workflows.competitive`` at import) is deferred to procrastinate in the transaction
  that stores it, with its parameters in the job row; any replica's worker (or
  ``python -m workflows.worker``) runs it, and when that worker dies another takes the
  job over by itself and continues with the pending items.
- *A thread of this process* (SQLite, and on PostgreSQL any work function that is not
  registered, e.g. a test's closure): the job runs in a daemon thread of the process
  that started it, and does not outlive that process.

If a thread runner's process dies, its jobs stay "running" with a heartbeat that stops
moving. The heartbeat is refreshed after every item and, while a long item runs, by a
small ticker thread, so a slow item is not mistaken for a dead process. ``recover_jobs``
marks a running job "interrupted" as soon as its runner is known to be gone — its worker
was a process of this machine that has ended (a restart), or this process with no thread
for it — and otherwise when its heartbeat is older than ``stale_after_s`` (a runner on
another machine); ``resume_job`` runs its pending items only. Queue jobs are not marked
interrupted while the queue still holds them: procrastinate retries a dead worker's job
(see ``workflows/queue.py`` for what "at least once" costs), and only a job the queue gave
up on is interrupted, to be resumed by hand. Each run writes under its own ``worker``
name (``host:pid:launch``), so a runner that lost its job to another stops writing
instead of counting an item twice.

One clock: every timestamp a job writes (created, started, heartbeat, finished, each
item's) and every staleness check uses the database's time — ``timezone('utc', now())``
on PostgreSQL, SQLite's own clock (UTC) on SQLite — never this host's, so replicas whose
clocks disagree do not take a live job for a dead one.
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
from store.db import Database, database_time
from store.models import JobItemRow, JobRow
from store.owners import lock_owner, session_owner
from workflows import queue as job_queue

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "running", "done", "failed", "cancelled", "interrupted",
)
STATUSES = (RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED)
RESUMABLE = (INTERRUPTED, CANCELLED)
PENDING = "pending"
THREAD, QUEUE = "thread", "queue"  # jobs.runner
THRESHOLDS = (25, 50, 75, 100)
STALE_AFTER_S = 30.0
HEARTBEAT_EVERY_S = 5.0
KIND_LIMIT, TITLE_LIMIT = 60, 200

Work = Callable[["JobContext", Any], Any]
WorkFactory = Callable[[Database], Work]


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
    # Queue runs: whether the worker is stopping, and whether this item saw it (then its
    # result may be cut short, so it is not recorded and the item is done again).
    _stopping: Callable[[], bool] | None = field(default=None, repr=False, compare=False)
    _stop_seen: threading.Event = field(default_factory=threading.Event, repr=False,
                                        compare=False)

    def cancelled(self) -> bool:
        """Whether the job should stop now (re-read from the database on every call)."""
        if self._stopping is not None and self._stopping():
            self._stop_seen.set()
            return True
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


# -- the kinds a queue worker can run ----------------------------------------------------

_kinds: dict[str, WorkFactory] = {}
_KIND_ATTRIBUTE = "ambient_job_kind"


def register_kind(kind: str, make_work: WorkFactory) -> None:
    """Let queue workers run jobs of ``kind``: ``make_work(db)`` gives the work function
    (built in the worker's process: a closure cannot travel through a queue). Modules
    register at import; ``python -m workflows.worker`` imports them all."""
    _kinds[kind] = make_work


def job_kind(kind: str) -> Callable[[Work], Work]:
    """Decorator for a module-level work function: registers it as ``kind``'s work."""

    def decorate(work: Work) -> Work:
        register_kind(kind, lambda db: work)
        return mark_kind(work, kind)

    return decorate


def mark_kind(work: Work, kind: str) -> Work:
    """Say that ``work`` (e.g. a closure over the page's router) is the registered work of
    ``kind``, so a job started with it goes on the queue, where a worker builds its own."""
    setattr(work, _KIND_ATTRIBUTE, kind)
    return work


def registered_kinds() -> list[str]:
    return sorted(_kinds)


def _uses_queue(db: Database, kind: str, work: Work | None) -> bool:
    """PostgreSQL, and registered work (or none given): the queue. Otherwise a thread."""
    if not job_queue.available(db) or kind not in _kinds:
        return False
    return work is None or getattr(work, _KIND_ATTRIBUTE, None) == kind


def ensure_worker(db: Database) -> None:
    """Start this process's queue worker for ``db`` if it has none (PostgreSQL only;
    nothing with AMBIENT_QUEUE_IN_APP=0, where standalone workers do the work)."""
    job_queue.ensure_worker(db, _run_queued, _maintain)


def serve_worker(db: Database) -> None:
    """Be a standalone queue worker for ``db`` until stopped (``python -m workflows.worker``)."""
    job_queue.serve(db, _run_queued, _maintain)


def _maintain(db: Database) -> None:
    recover_jobs(db)


# -- one clock: the database's (store.db.database_time) --------------------------------------


def _now(s: Session) -> datetime:
    return database_time(s)


def database_now(db: Database) -> datetime:
    """The database's clock (naive UTC): what heartbeats are written with and judged by."""
    with db.read() as s:
        return database_time(s)


# -- which jobs this process runs ---------------------------------------------------------

_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()
_queued_here: dict[str, str] = {}  # job id -> worker name, for queue runs in this process


def is_alive(job_id: str) -> bool:
    """Whether a thread of this process runs (or is about to run) the job."""
    with _threads_lock:
        return job_id in _threads or job_id in _queued_here


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


def _lock_session(s: Session, session_id: str) -> str:
    """Serialise job starts per user (a row lock on PostgreSQL; SQLite's write lock), so
    two tabs of one user cannot start the same kind of job twice. Returns the user."""
    owner = lock_owner(s, session_id)
    if owner is None:
        raise JobError("This browser session is unknown; reload the page and try again.")
    return owner


def _refuse_if_busy(s: Session, session_id: str, kind: str, *, other_than: str = "") -> None:
    busy = s.scalar(
        select(JobRow.title)
        .where(
            JobRow.user == session_owner(session_id),
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
    work: Work | None = None,
    *,
    params: dict[str, Any] | None = None,
    narrate_progress: bool = True,
) -> str:
    """Store a job of ``items`` and start working through them; returns the job id.

    On PostgreSQL a registered ``kind`` (with its registered work, or ``work=None``) goes
    on the queue; anything else runs in a thread of this process. Refused while a job of
    the same ``kind`` runs for the session.
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
    queued = _uses_queue(db, kind, work)
    if not queued and work is None:
        raise JobError(f"No work is registered for jobs of kind {kind!r}; pass the work "
                       "function or register the kind (workflows.jobs.register_kind).")
    if not queued and job_queue.available(db):
        log.warning("%s runs in a thread of this process, not on the queue: its work is not "
                    "the registered work of kind %r, so it ends with this process.", title, kind)
    recover_jobs(db)  # a job left "running" by a dead process must not block this one

    job_id = uuid.uuid4().hex
    thread, worker = (None, None) if queued else _launch(db, job_id, kind, work, narrate_progress)
    try:
        with db.write() as s:
            owner = _lock_session(s, session_id)
            _refuse_if_busy(s, session_id, kind)
            now = _now(s)
            row = JobRow(
                id=job_id, session_id=session_id, user=owner, kind=kind, title=title,
                status=RUNNING,
                total=len(items), completed=0, failed=0, params=params, cancel_requested=0,
                worker=worker, created_at=now, started_at=now, heartbeat_at=now,
                runner=QUEUE if queued else THREAD,
            )
            s.add(row)
            s.flush()
            s.add_all(
                JobItemRow(job_id=job_id, idx=idx, status=PENDING, input=item, updated_at=now)
                for idx, item in enumerate(items)
            )
            s.flush()
            if queued:  # in this transaction: stored and queued, or neither
                row.queue_job_id = job_queue.defer(s, job_id, narrate=narrate_progress)
    except BaseException:
        _release(job_id)
        raise
    try:
        record_event(
            db, session_id, "job_started", f"Started {title} ({len(items)} items)",
            data={"job_id": job_id, "kind": kind, "total": len(items)},
        )
    finally:
        if thread is not None:
            thread.start()
        else:
            ensure_worker(db)
    return job_id


def cancel_job(db: Database, job_id: str) -> Job:
    """Ask a running job to stop; an interrupted one is marked cancelled at once.

    A running job stops before its next item, or sooner if its work checks
    ``ctx.cancelled()``; a queued job no worker has taken yet is cancelled at once.
    Finished jobs are left as they are.
    """
    recover_jobs(db)
    withdrawn = False
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None:
            raise JobError(_unknown(job_id))
        if row.status == RUNNING and row.runner == QUEUE and row.worker is None and (
            job_queue.cancel_waiting(s, row.queue_job_id)
        ):
            row.status, row.cancel_requested, row.finished_at = CANCELLED, 1, _now(s)
            withdrawn = True
        elif row.status == RUNNING:
            row.cancel_requested = 1
        elif row.status == INTERRUPTED:
            row.status, row.cancel_requested, row.finished_at = CANCELLED, 1, _now(s)
        job = _job(row)
    if withdrawn:
        _announce_end(db, job, f"{job.title} cancelled before it started.", kind="warning")
    return job


def get_job(db: Database, job_id: str) -> Job:
    with db.read() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise JobError(_unknown(job_id))
        return _job(row)


def latest_job(db: Database, session_id: str, kind: str) -> Job | None:
    """The newest job of ``kind`` of the session's user: how a page finds its job after a
    reload, or in another tab of the same user."""
    with db.read() as s:
        row = s.scalars(
            select(JobRow)
            .where(JobRow.user == session_owner(session_id), JobRow.kind == kind)
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

    A queue job is left alone while the queue still holds it (waiting, or running: a
    dead worker's job is retried by the queue itself); only one the queue no longer
    holds is interrupted. Ages are the database's clock. Cheap when nothing is stale (one
    read), so pages call it each time they open; on PostgreSQL it also starts this
    process's queue worker when queue jobs are running.
    """
    with db.read() as s:
        now = _now(s)
        running = s.execute(
            select(JobRow.id, JobRow.worker,
                   func.coalesce(JobRow.heartbeat_at, JobRow.created_at), JobRow.runner)
            .where(JobRow.status == RUNNING)
        ).all()
    cutoff = now - timedelta(seconds=stale_after_s)
    if any(runner == QUEUE for *_, runner in running):
        ensure_worker(db)  # someone's job is on the queue: this replica helps with it

    def abandoned(row_id: str, worker: str | None, last_sign: datetime,
                  runner: str | None) -> bool:
        if is_alive(row_id):
            return False
        if runner == QUEUE:  # stale here; whether the queue still holds it is asked below
            return last_sign < cutoff
        return last_sign < cutoff or _runner_gone(worker, row_id)

    candidates = [row[0] for row in running if abandoned(*row)]
    if not candidates:
        return []
    recovered: list[Job] = []
    with db.write() as s:
        for job_id in candidates:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None or row.status != RUNNING or not abandoned(
                job_id, row.worker, row.heartbeat_at or row.created_at, row.runner
            ):
                continue
            done = (row.completed or 0) + (row.failed or 0)
            if row.runner == QUEUE:
                if job_queue.status(s, row.queue_job_id) in job_queue.WAITING:
                    continue  # waiting for a worker, or a worker's (retried if it dies)
                row.error = (
                    f"{row.title} stopped after {done} of {row.total} items and no worker "
                    "could finish it; the finished items are kept. Resume it to do the rest."
                )
            else:
                row.error = (
                    f"{row.title} stopped when the app stopped, after {done} of {row.total} "
                    "items; the finished items are kept. Resume it to do the rest."
                )
            row.status, row.worker = INTERRUPTED, None
            recovered.append(_job(row))
    for job in recovered:
        _announce_end(db, job, f"{job.title} was interrupted after {job.processed} of "
                      f"{job.total} items; resume it to do the rest.", kind="warning")
    return [job.id for job in recovered]


def resume_job(
    db: Database, job_id: str, work: Work | None = None, *, narrate_progress: bool = True
) -> None:
    """Run an interrupted or cancelled job again, on its pending items only (on the queue
    when its kind is registered there, as for ``start_job``)."""
    recover_jobs(db)
    with db.read() as s:
        kind = s.scalar(select(JobRow.kind).where(JobRow.id == job_id))
    if kind is None:
        raise JobError(_unknown(job_id))
    queued = _uses_queue(db, kind, work)
    if not queued and work is None:
        raise JobError(f"No work is registered for jobs of kind {kind!r}; pass the work "
                       "function to resume it.")
    thread, worker = (None, None) if queued else _launch(db, job_id, "resume", work,
                                                         narrate_progress)
    try:
        with db.write() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise JobError(_unknown(job_id))
            if row.status not in RESUMABLE:
                raise JobError(_not_resumable(row.title, row.status))
            _lock_session(s, row.session_id)
            _refuse_if_busy(s, row.session_id, row.kind, other_than=job_id)
            now = _now(s)
            row.status, row.worker, row.cancel_requested = RUNNING, worker, 0
            row.error, row.finished_at, row.heartbeat_at = None, None, now
            row.started_at = row.started_at or now
            row.runner = QUEUE if queued else THREAD
            if queued:
                row.queue_job_id = job_queue.defer(s, job_id, narrate=narrate_progress)
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
        if thread is not None:
            thread.start()
        else:
            ensure_worker(db)


def _not_resumable(title: str, status: str) -> str:
    if status == RUNNING:
        return f"{title} is still running; wait for it or cancel it first."
    return f"{title} has already finished ({status}); start a new one instead."


# -- the runners: a thread of this process, or a queue worker ------------------------------


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


def _run_queued(db: Database, job_id: str, run: job_queue.Run) -> None:
    """A queue worker's run of a job: claim it under a new worker name (taking it over
    from a dead worker if need be) and do its pending items. An error other than an
    item's own goes back to the queue, which retries the run."""
    with db.read() as s:
        row = s.get(JobRow, job_id)
        if row is None or row.status != RUNNING:
            return  # cancelled before it started, finished, or deleted: nothing to do
        kind = row.kind
    make_work = _kinds.get(kind)
    if make_work is None:
        _give_up(db, job_id, f"this app has no work registered for jobs of kind {kind!r}")
        raise job_queue.GiveUp(f"unknown job kind {kind!r}")
    work = make_work(db)
    worker = _new_worker()
    claimed = _claim_queued(db, job_id, worker)
    if claimed is None:
        return
    job, previous = claimed
    if previous is not None:
        narrate(db, job.session_id, f"{job.title} continues on another worker at "
                f"{job.processed} of {job.total} items.", kind="info", source=job.kind)
    with _threads_lock:
        _queued_here[job_id] = worker
    stop = threading.Event()
    ticker = threading.Thread(
        target=_keep_heartbeat, args=(db, job_id, worker, stop), daemon=True,
        name=f"job-heartbeat-{job_id[:8]}",
    )
    ticker.start()
    try:
        _work_through(db, job_id, work, worker, run.narrate, run=run)
    finally:
        stop.set()
        with _threads_lock:
            if _queued_here.get(job_id) == worker:
                del _queued_here[job_id]


def _claim_queued(db: Database, job_id: str, worker: str) -> tuple[Job, str | None] | None:
    """Make ``worker`` the job's runner; the runner it replaces (None on a first run)."""
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or row.status != RUNNING:
            return None
        now = _now(s)
        previous = row.worker
        row.worker, row.heartbeat_at = worker, now
        row.started_at = row.started_at or now
        return _job(row), previous


def _give_up(db: Database, job_id: str, why: str) -> None:
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or row.status != RUNNING:
            return
        done = (row.completed or 0) + (row.failed or 0)
        row.status, row.worker = INTERRUPTED, None
        row.error = (f"{row.title} stopped after {done} of {row.total} items: {why}. The "
                     "finished items are kept; resume it to do the rest.")
        job = _job(row)
    _announce_end(db, job, f"{job.title}: {job.error}", kind="warning")


def _keep_heartbeat(db: Database, job_id: str, worker: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY_S):
        try:
            with db.write() as s:
                row = s.get(JobRow, job_id, with_for_update=True)
                if row is None or not _owns(row, worker):
                    return
                row.heartbeat_at = _now(s)
        except Exception:  # a missed beat is harmless; the next one may get through
            log.warning("job %s: heartbeat not written", job_id, exc_info=True)


def _next_item(
    db: Database, job_id: str, worker: str, counted: bool
) -> tuple[bool, Any] | None:
    """(cancel requested, the next pending item or None), or None if the job is not ours.

    A queue run (``counted``) also counts the item's start in the same transaction, so a
    worker that dies inside it leaves a trace: ``attempts`` 2 means it was done again."""
    if not counted:
        with db.read() as s:
            row = s.get(JobRow, job_id)
            if row is None or not _owns(row, worker):
                return None  # recovered and resumed elsewhere: that runner owns it now
            item = s.execute(
                select(JobItemRow.idx, JobItemRow.input, JobItemRow.attempts)
                .where(JobItemRow.job_id == job_id, JobItemRow.status == PENDING)
                .order_by(JobItemRow.idx)
                .limit(1)
            ).first()
            return bool(row.cancel_requested), item
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or not _owns(row, worker):
            return None  # another worker took it over: it owns it now
        item = s.scalars(
            select(JobItemRow)
            .where(JobItemRow.job_id == job_id, JobItemRow.status == PENDING)
            .order_by(JobItemRow.idx)
            .limit(1)
        ).first()
        if item is None or row.cancel_requested:
            return bool(row.cancel_requested), None if item is None else (
                item.idx, item.input, item.attempts)
        item.attempts = (item.attempts or 0) + 1
        row.heartbeat_at = _now(s)
        return False, (item.idx, item.input, item.attempts)


def _uncount(db: Database, job_id: str, idx: int) -> None:
    """An item given back because its worker stopped (not died) does not count as a try."""
    try:
        with db.write() as s:
            item = s.scalar(select(JobItemRow).where(
                JobItemRow.job_id == job_id, JobItemRow.idx == idx,
                JobItemRow.status == PENDING))
            if item is not None and item.attempts:
                item.attempts -= 1
    except Exception:
        log.warning("job %s: item %s's try not uncounted", job_id, idx, exc_info=True)


def _work_through(
    db: Database, job_id: str, work: Work, worker: str, narrate_progress: bool,
    *, run: job_queue.Run | None = None,
) -> None:
    job = get_job(db, job_id)
    announced = {t for t in THRESHOLDS if job.processed * 100 >= t * job.total}
    while True:
        if run is not None and run.should_stop():
            raise job_queue.Requeue(f"{job.title}: the worker is stopping")
        found = _next_item(db, job_id, worker, counted=run is not None)
        if found is None:
            return
        stop, item = found
        if item is None:
            _end(db, job_id, worker, CANCELLED if stop else DONE)
            return
        if stop:
            _end(db, job_id, worker, CANCELLED)
            return
        idx, item_input, attempts = item
        ctx = JobContext(db, job.id, job.session_id, job.kind, job.title, idx,
                         job.total, job.params, worker,
                         _stopping=run.should_stop if run is not None else None)
        result, error = None, None
        if run is not None and attempts > job_queue.MAX_ITEM_ATTEMPTS:
            error = (f"Item {idx + 1} was started {attempts - 1} times and never finished "
                     "(the worker running it stopped each time); it was skipped so the "
                     "others could run.")
        else:
            try:
                result = work(ctx, item_input)
                _check_json(result, f"Item {idx + 1}'s result")
            except JobCancelled:
                if ctx._stop_seen.is_set():
                    _uncount(db, job_id, idx)
                    raise job_queue.Requeue(f"{job.title}: the worker is stopping") from None
                _end(db, job_id, worker, CANCELLED)
                return
            except Exception as exc:  # one item's failure is that item's, not the job's
                result, error = None, _item_error(idx, exc)
            if ctx._stop_seen.is_set():  # it may have been cut short: do it again elsewhere
                _uncount(db, job_id, idx)
                raise job_queue.Requeue(f"{job.title}: the worker is stopping")
        counts = _record(db, job_id, worker, idx, result, error)
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
    with db.write() as s:
        job = s.get(JobRow, job_id, with_for_update=True)
        if job is None or not _owns(job, worker):
            return None
        now = _now(s)
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
    with db.write() as s:
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or not _owns(row, worker):
            return
        now = _now(s)
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
