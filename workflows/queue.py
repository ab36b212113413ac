"""The PostgreSQL job queue: procrastinate underneath ``workflows.jobs``.

With ``DATABASE_URL`` on PostgreSQL, a job of a registered kind is one procrastinate job
("ambient.run_job", queue "ambient_jobs", lock "job:<id>") deferred in the same
transaction that stores the job and its items, so a job is never stored without its
queue entry or the other way round. Any worker takes it: one runs inside every app
replica (started once per process, by the first job call that needs it) and
``python -m workflows.worker`` runs more on their own. The work itself is still
``workflows.jobs``: it claims the job row under its own worker name and goes through the
pending items one by one, each item's result written with the job's counters in one
transaction, exactly as the in-process runner does. The queue adds who runs it and
what happens when that runner dies.

Why procrastinate 3.10 rather than pgqueuer 1.6. Both are maintained, PostgreSQL-only
(no broker, no extra service), enqueue inside the caller's transaction, and have worker
heartbeats and retries; either would do. procrastinate fits this app more closely:

- *A sync API usable from Streamlit threads, on our connection.* ``configure_task(...,
  connection=...).defer()`` runs on the psycopg connection of our own SQLAlchemy
  transaction, so ``start_job`` stores the job, its items and the queue entry atomically
  with no pool or event loop of the queue's in the app's request threads.
- *Its schema under our Alembic.* procrastinate ships its schema as one SQL file per
  release plus per-release migration files; migration 0009 applies the 3.10.0 schema
  (vendored beside it, so a later library upgrade is a later migration applying that
  release's files) in a PostgreSQL schema of its own, ``procrastinate``. Existing
  databases upgrade like any other change, and the models check (``compare_metadata``)
  still sees only the app's tables.
- *Stalled jobs, retries and exclusivity are public features, on the database's clock.*
  Workers beat into ``procrastinate_workers`` with ``NOW()``; ``get_stalled_jobs`` /
  ``retry_job`` requeue the jobs of a worker whose heartbeat stopped; a retry strategy
  decides on errors; a per-job ``lock`` guarantees two runs of one job never overlap —
  what a take-over needs, with no SQL of ours writing to the queue's tables.
- It runs on psycopg 3, the driver the app already uses, and has been developed since
  2019 (Django integration, a sizeable user base).

At least once, precisely: a procrastinate job is retried when its worker's heartbeat is
older than ``AMBIENT_QUEUE_STALLED_S`` (30 s) by the database's clock, or at once when a
worker stops gracefully. The retried run claims the job row under a new worker name and
continues with the *pending* items only: a finished item (done or failed) was written
with the counters in one transaction and is never run or counted again. The one item
that was in flight when the worker died had written nothing, so it is run again from the
start — that is the "at least once": its model calls are made (and billed, and booked in
the ledger) a second time, and whatever it narrated itself may be said twice. If the
first worker was not dead but only cut off, both may finish that item; the first one's
write is refused because it no longer owns the job. An item whose run killed its
worker ``MAX_ITEM_ATTEMPTS`` times is recorded as failed instead of being run again.
The runner's own messages are said at most once: each progress threshold by whichever
run crossed it, the end message by the run that closed the job (a worker dying in the
instant between a commit and its message loses that message, nothing else).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
from procrastinate import exceptions as queue_errors
from procrastinate.jobs import Status
from psycopg.conninfo import make_conninfo
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from store.db import Database

log = logging.getLogger(__name__)

SCHEMA = "procrastinate"  # migration 0009 puts the queue's tables there
TASK = "ambient.run_job"
QUEUE = "ambient_jobs"
WAITING = (Status.TODO.value, Status.DOING.value)
MAX_ITEM_ATTEMPTS = 3
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class Timing:
    """How often workers beat and check, in seconds (AMBIENT_QUEUE_* to change them)."""

    heartbeat_s: float = 5.0  # a worker's heartbeat
    stalled_s: float = 30.0  # a worker silent this long is dead; its jobs are retried
    maintain_s: float = 5.0  # how often each worker looks for stalled jobs
    poll_s: float = 2.0  # how often an idle worker looks for retried jobs
    grace_s: float = 10.0  # a stopping worker lets its items finish this long
    concurrency: int = 4  # jobs at once per worker

    @classmethod
    def from_env(cls) -> Timing:
        base = cls()
        return cls(
            heartbeat_s=_env_float("AMBIENT_QUEUE_HEARTBEAT_S", base.heartbeat_s),
            stalled_s=_env_float("AMBIENT_QUEUE_STALLED_S", base.stalled_s),
            maintain_s=_env_float("AMBIENT_QUEUE_MAINTAIN_S", base.maintain_s),
            poll_s=_env_float("AMBIENT_QUEUE_POLL_S", base.poll_s),
            grace_s=_env_float("AMBIENT_QUEUE_GRACE_S", base.grace_s),
            concurrency=max(1, int(_env_float("AMBIENT_QUEUE_CONCURRENCY",
                                              base.concurrency))),
        )


class Requeue(Exception):  # noqa: N818 - an instruction to the queue, not an error
    """Raised by a run that stops before its job is finished (its worker is stopping):
    the job goes back to the queue at once, for another worker."""


class GiveUp(Exception):  # noqa: N818
    """Raised by a run that must not be retried (the message says why)."""


@dataclass(frozen=True)
class Run:
    """What a queued run of a job is told by the worker running it."""

    attempt: int  # 0 the first time; retries and take-overs count up
    narrate: bool
    should_stop: Callable[[], bool]  # the worker is stopping: hand the job back


Handler = Callable[[Database, str, Run], None]
Maintain = Callable[[Database], Any]


def available(db: Database) -> bool:
    """Whether ``db`` runs jobs on the queue (PostgreSQL; SQLite keeps threads)."""
    return db.engine.dialect.name == "postgresql"


def conninfo(url: str) -> str:
    """libpq connection string for a SQLAlchemy URL, the queue's schema first."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return make_conninfo(plain, options=f"-c search_path={SCHEMA},public")


def database_time(db: Database) -> datetime:
    """The database's clock (aware, UTC): when a retry is due, whatever this host says."""
    with db.engine.connect() as connection:
        value = connection.execute(text("SELECT now()")).scalar_one()
    return value.astimezone(UTC)


# -- enqueueing, on the caller's transaction ------------------------------------------------

# Never opened: every call passes the caller's own connection.
_deferrer = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())


@contextmanager
def _queue_connection(s: Session) -> Iterator[Any]:
    """The psycopg connection of ``s``'s transaction, the queue's schema first on its
    search path until the block ends (transaction-local, so nothing leaks to the pool)."""
    saved = s.scalar(text("SELECT current_setting('search_path')"))
    s.execute(text("SELECT set_config('search_path', :p, true)"), {"p": f"{SCHEMA}, {saved}"})
    yield s.connection().connection.driver_connection
    s.execute(text("SELECT set_config('search_path', :p, true)"), {"p": saved})


def _lock(job_id: str) -> str:
    return f"job:{job_id}"


def defer(s: Session, job_id: str, *, narrate: bool) -> int:
    """Put the job on the queue inside ``s``'s transaction; returns the queue job's id.

    The caller holds the job row's lock, so no other enqueue of this job runs meanwhile;
    one still waiting or running is reused instead of a second one."""
    waiting = s.execute(
        text(f"SELECT id FROM {SCHEMA}.procrastinate_jobs "
             "WHERE lock = :lock AND status IN ('todo', 'doing') ORDER BY id LIMIT 1"),
        {"lock": _lock(job_id)},
    ).scalar()
    if waiting is not None:
        return int(waiting)
    with _queue_connection(s) as connection:
        queued = _deferrer.configure_task(
            TASK, queue=QUEUE, lock=_lock(job_id), queueing_lock=_lock(job_id),
            connection=connection,
        ).defer(job_id=job_id, narrate=narrate)
    return int(queued)


def status(s: Session, queue_job_id: int | None) -> str | None:
    """The queue job's status ("todo", "doing", "succeeded", ...), None if it is gone."""
    if queue_job_id is None:
        return None
    with _queue_connection(s) as connection:
        try:
            return _deferrer.job_manager.get_job_status(
                queue_job_id, connection=connection).value
        except queue_errors.NoResult:
            return None


def cancel_waiting(s: Session, queue_job_id: int | None) -> bool:
    """Withdraw a queue job no worker has taken yet; False if one has (or it is gone)."""
    if queue_job_id is None:
        return False
    with _queue_connection(s) as connection:
        return _deferrer.job_manager.cancel_job_by_id(queue_job_id, connection=connection)


# -- workers ---------------------------------------------------------------------------------


class _Retry(procrastinate.BaseRetryStrategy):
    """Retry on any error but ``GiveUp``, up to ``max_attempts`` runs: at once after a
    graceful stop, otherwise after 1, 2, 4 … 30 s — counted from the database's clock,
    so a worker whose clock is ahead does not push the retry into the future."""

    def __init__(self, db: Database, max_attempts: int = 10) -> None:
        self.db, self.max_attempts = db, max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: Any
                           ) -> procrastinate.RetryDecision | None:
        if isinstance(exception, GiveUp) or job.attempts + 1 >= self.max_attempts:
            return None
        graceful = isinstance(exception, (Requeue, queue_errors.JobAborted))
        wait = 0.0 if graceful else float(min(30, 2 ** job.attempts))
        try:
            now = database_time(self.db)
        except Exception:  # the database is away: due at once, the fetch will wait for it
            now = _EPOCH
        return procrastinate.RetryDecision(retry_at=now + timedelta(seconds=wait))


class Worker:
    """One procrastinate worker for one database, with its own event loop: in a daemon
    thread of an app replica (``start``) or in the main thread (``serve``)."""

    def __init__(self, db: Database, handler: Handler, *, maintain: Maintain | None = None,
                 timing: Timing | None = None, name: str | None = None) -> None:
        self.db, self.handler, self.maintain = db, handler, maintain
        self.timing = timing or Timing.from_env()
        self.name = name or f"{socket.gethostname()[:60]}:{os.getpid()}"
        self.stopping = threading.Event()
        self.running = threading.Event()  # registered with the queue and fetching
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None
        self._thread: threading.Thread | None = None
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(db.url), min_size=1, max_size=self.timing.concurrency + 4,
        ))
        self.app.task(name=TASK, queue=QUEUE, pass_context=True,
                      retry=_Retry(db))(self._run_job)

    # the task: runs in a thread of the loop's executor
    def _run_job(self, context: procrastinate.JobContext, job_id: str,
                 narrate: bool = True) -> None:
        def should_stop() -> bool:
            return self.stopping.is_set() or context.should_abort()

        attempt = context.job.attempts if context.job else 0
        self.handler(self.db, job_id, Run(attempt=attempt, narrate=narrate,
                                          should_stop=should_stop))

    async def _maintain(self) -> None:
        """Every few seconds: put the jobs of dead workers (heartbeat older than
        ``stalled_s`` by the database's clock) back in the queue, then the app's own
        check (``maintain``: the jobs the queue gave up on are marked interrupted)."""
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(self.timing.maintain_s)
            try:
                stalled = list(await manager.get_stalled_jobs(
                    queue=QUEUE, seconds_since_heartbeat=self.timing.stalled_s))
                if stalled:
                    now = await asyncio.to_thread(database_time, self.db)
                for job in stalled:
                    try:
                        await manager.retry_job(job, retry_at=now)
                        log.warning("queue job %s (%s) was stalled; put back in the queue",
                                    job.id, job.task_kwargs.get("job_id"))
                    except queue_errors.ConnectorException:
                        pass  # another worker retried it first
                if self.maintain is not None:
                    await asyncio.to_thread(self.maintain, self.db)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("stalled-job check failed", exc_info=True)

    async def _serve_async(self) -> None:
        t = self.timing
        loop = asyncio.get_running_loop()
        # Sync tasks run in the loop's default executor: one thread per concurrent job,
        # plus room for the heartbeat ticker's and the maintenance's own calls.
        loop.set_default_executor(ThreadPoolExecutor(t.concurrency + 4,
                                                     thread_name_prefix="queue-job"))
        self._loop = loop
        self._main = asyncio.current_task()
        async with self.app.open_async():
            maintenance = asyncio.create_task(self._maintain(), name="stalled-jobs")
            self.running.set()
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE], name=self.name, concurrency=t.concurrency,
                    install_signal_handlers=False, listen_notify=True,
                    update_heartbeat_interval=t.heartbeat_s,
                    stalled_worker_timeout=t.stalled_s,
                    fetch_job_polling_interval=t.poll_s,
                    abort_job_polling_interval=max(0.5, t.poll_s),
                    shutdown_graceful_timeout=t.grace_s,
                    delete_jobs="successful",
                )
            finally:
                self.running.clear()
                maintenance.cancel()

    def serve(self) -> None:
        """Run until ``stop`` (or the database goes away for good), restarting the
        worker after an error (a lost connection) with a growing pause."""
        pause = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                asyncio.run(self._serve_async())
            except (KeyboardInterrupt, asyncio.CancelledError):
                if self.stopping.is_set():
                    return
            except Exception as exc:
                if _database_gone(exc):
                    log.warning("queue worker %s: its database is gone; stopping", self.name)
                    return
                log.warning("queue worker %s stopped (%s); restarting", self.name, exc,
                            exc_info=True)
            if self.stopping.wait(pause):
                return
            pause = 1.0 if time.monotonic() - started > 60 else min(30.0, pause * 2)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve, daemon=True,
                                        name=f"queue-worker-{self.name}")
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop fetching; running jobs stop before their next item (after the grace
        time, inside it) and go back to the queue for another worker."""
        self.stopping.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(main.cancel)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


def _database_gone(exc: BaseException) -> bool:
    text_ = " ".join(str(e) for e in _causes(exc)).lower()
    return "does not exist" in text_ and "database" in text_


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 20:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


# -- the worker of this process ---------------------------------------------------------------

_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def in_app_workers() -> bool:
    """Whether app processes run a worker of their own (AMBIENT_QUEUE_IN_APP, default on)."""
    return os.environ.get("AMBIENT_QUEUE_IN_APP", "1").strip().lower() not in (
        "0", "false", "no", "off")


def ensure_worker(db: Database, handler: Handler, maintain: Maintain | None = None
                  ) -> Worker | None:
    """Start this process's worker for ``db`` once (a daemon thread); None when app
    processes leave the work to standalone workers."""
    if not available(db) or not in_app_workers():
        return None
    with _workers_lock:
        worker = _workers.get(db.url)
        if worker is None or worker.stopping.is_set():
            worker = Worker(db, handler, maintain=maintain)
            worker.start()
            _workers[db.url] = worker
        return worker


def serve(db: Database, handler: Handler, maintain: Maintain | None = None, *,
          timing: Timing | None = None) -> Worker:
    """Run a worker for ``db`` in this (main) thread until it is stopped: the standalone
    worker. It is this process's worker, so nothing starts a second one here."""
    if not available(db):
        raise ValueError("The job queue needs PostgreSQL: set DATABASE_URL to a "
                         "postgresql+psycopg:// URL (SQLite runs jobs inside the app).")
    worker = Worker(db, handler, maintain=maintain, timing=timing)
    with _workers_lock:
        _workers[db.url] = worker
    try:
        worker.serve()
    finally:
        with _workers_lock:
            if _workers.get(db.url) is worker:
                del _workers[db.url]
    return worker


def stop_workers(timeout: float | None = 15.0) -> None:
    """Stop this process's workers, handing their jobs back (at exit, and in tests)."""
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop(timeout)


atexit.register(stop_workers, 5.0)
