"""Jobs on the PostgreSQL queue: processes that die, workers that take over, clocks that
disagree — and SQLite, which keeps the in-process runner.

The PostgreSQL tests (``@pytest.mark.postgres``) need ``AMBIENT_TEST_POSTGRES`` (``.ci/run``
sets it); each gets a database of its own. Workers run in child processes with short
queue timings (a heartbeat every 0.3 s, dead after 4 s) so a take-over takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.conversation import history
from core.events import recent_events
from core.sessions import ensure_session
from store.db import Database, open_database
from tests.conftest import POSTGRES, _drop_postgres_database, _fresh_postgres_database
from workflows import long_job
from workflows import queue as job_queue
from workflows.jobs import (
    cancel_job,
    database_now,
    get_job,
    is_alive,
    job_items,
    latest_job,
    recover_jobs,
    start_job,
)

ROOT = Path(__file__).resolve().parents[2]
FAST = {
    "AMBIENT_QUEUE_HEARTBEAT_S": "0.3",
    "AMBIENT_QUEUE_STALLED_S": "4",
    "AMBIENT_QUEUE_MAINTAIN_S": "0.3",
    "AMBIENT_QUEUE_POLL_S": "0.3",
    "AMBIENT_QUEUE_GRACE_S": "1",
}
postgres = pytest.mark.skipif(not POSTGRES, reason="needs AMBIENT_TEST_POSTGRES (.ci/run)")


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def pg() -> Iterator[Database]:
    url, name = _fresh_postgres_database()
    database = open_database(url)
    yield database
    job_queue.stop_workers(timeout=10)
    database.dispose()
    _drop_postgres_database(name)


@pytest.fixture
def fast_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


class Children:
    """Child processes (replicas, workers) that are killed at the end whatever happens."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.procs = tmp, []

    def start(self, code: str, *args: str, extra_env: dict[str, str] | None = None
              ) -> subprocess.Popen[str]:
        n = len(self.procs)
        log = open(self.tmp / f"child{n}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], cwd=ROOT, text=True,
            env={**os.environ, **FAST, "PYTHONPATH": str(ROOT), **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=log,
        )
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen[str]) -> str:
        proc.log.flush()  # type: ignore[attr-defined]
        return Path(proc.log.name).read_text()  # type: ignore[attr-defined]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            proc.log.close()  # type: ignore[attr-defined]


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    kids = Children(tmp_path)
    yield kids
    kids.close()


def narrations(db: Database, sid: str) -> list[str]:
    return [m.content for m in history(db, sid) if m.role == "narration"]


def item_attempts(db: Database, job_id: str) -> list[int]:
    with db.engine.connect() as connection:
        return list(connection.execute(
            text("SELECT attempts FROM job_items WHERE job_id = :j ORDER BY idx"),
            {"j": job_id}).scalars())


def job_worker(db: Database, job_id: str) -> str | None:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT worker FROM jobs WHERE id = :j"),
                                  {"j": job_id}).scalar()


# A replica: it starts the long job through the same call the page makes, so its own
# worker (started by that call) takes it; then it just stays up.
REPLICA = """
import sys, time
from store.db import open_database
from workflows import long_job
from workflows.jobs import start_job
db = open_database(sys.argv[1])
job_id = start_job(db, sys.argv[2], long_job.KIND, "Long job",
                   long_job.items(int(sys.argv[3]), float(sys.argv[4])), long_job.work)
print(job_id, flush=True)
time.sleep(300)
"""

WORKER = "import sys; from workflows.worker import main; sys.exit(main())"


@pytest.mark.postgres
@postgres
def test_a_replica_killed_mid_job_is_taken_over_by_another_worker(
    pg: Database, children: Children
) -> None:
    sid = ensure_session(pg, None)
    replica = children.start(REPLICA, pg.url, sid, "8", "0.6")
    job_id = replica.stdout.readline().strip()
    assert job_id, children.log(replica)
    wait_until(lambda: f":{replica.pid}:" in (job_worker(pg, job_id) or ""),
               "replica A's worker to take the job")
    # B: a second process with a worker, up before A dies (as a second replica is).
    other = children.start(WORKER, extra_env={"DATABASE_URL": pg.url})
    wait_until(lambda: get_job(pg, job_id).completed >= 3, "A to finish 3 items")
    time.sleep(0.3)  # inside the next item
    replica.send_signal(signal.SIGKILL)
    replica.wait(10)
    in_flight = get_job(pg, job_id).processed  # the item A was working on

    wait_until(lambda: get_job(pg, job_id).status == "done", "B to finish the job", 60)
    job = get_job(pg, job_id)
    assert (job.completed, job.failed, job.total, job.error) == (8, 0, 8, None)
    assert f":{other.pid}:" in job_worker(pg, job_id)
    items = job_items(pg, job_id)
    assert [i.status for i in items] == ["done"] * 8
    assert [i.result["item"] for i in items] == list(range(1, 9))  # each exactly once
    attempts = item_attempts(pg, job_id)
    assert attempts[in_flight] == 2  # the one in flight was done again, by B
    assert attempts[:in_flight] == [1] * in_flight and set(attempts[in_flight + 1:]) == {1}
    events = [e.kind for e in recent_events(pg, sid) if e.data.get("job_id") == job_id]
    assert events == ["job_started", "job_finished"]
    said = narrations(pg, sid)  # the user's chat, whichever process wrote it
    assert said.count("Long job: 100% done (8 of 8)") == 1
    assert f"Long job continues on another worker at {in_flight} of 8 items." in said
    for share in (25, 50, 75):
        assert sum(s.startswith(f"Long job: {share}% done") for s in said) <= 1


# Two processes that both know a "marker" job kind: each item leaves a file per process
# that entered it; item 2 never ends in the first process (so it is killed inside it).
MARKER = """
import os, sys, time
from pathlib import Path
from store.db import open_database
from workflows.jobs import register_kind, serve_worker, start_job
marks = Path(sys.argv[2])
def work(ctx, item):
    (marks / f"{ctx.index}.{os.getpid()}").touch()
    if ctx.index == 2 and sys.argv[3] == "start":
        time.sleep(300)
    time.sleep(0.2)
    return {"item": item, "pid": os.getpid()}
register_kind("marker", lambda db: work)
db = open_database(sys.argv[1])
if sys.argv[3] == "start":
    print(start_job(db, sys.argv[4], "marker", "Marker job", list(range(6))), flush=True)
    time.sleep(300)
else:
    serve_worker(db)
"""


@pytest.mark.postgres
@postgres
def test_a_worker_killed_inside_an_item_retries_that_item_on_another_worker(
    pg: Database, children: Children, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    sid = ensure_session(pg, None)
    first = children.start(MARKER, pg.url, str(marks), "start", sid)
    job_id = first.stdout.readline().strip()
    assert job_id, children.log(first)
    wait_until(lambda: (marks / f"2.{first.pid}").exists(), "item 3 to start in A")
    second = children.start(MARKER, pg.url, str(marks), "serve")
    time.sleep(0.5)
    assert get_job(pg, job_id).processed == 2  # B waits: the job is A's while A lives
    first.kill()
    first.wait(10)

    wait_until(lambda: get_job(pg, job_id).status == "done", "B to finish the job", 60)
    entered = sorted(p.name for p in marks.iterdir())
    assert entered == sorted([f"0.{first.pid}", f"1.{first.pid}", f"2.{first.pid}",
                              f"2.{second.pid}", f"3.{second.pid}", f"4.{second.pid}",
                              f"5.{second.pid}"])  # only item 3 was run twice
    items = job_items(pg, job_id)
    assert [i.status for i in items] == ["done"] * 6
    assert [i.result["pid"] for i in items] == [first.pid] * 2 + [second.pid] * 4
    assert item_attempts(pg, job_id) == [1, 1, 2, 1, 1, 1]
    job = get_job(pg, job_id)
    assert (job.completed, job.failed) == (6, 0)  # counted once, though run twice


SKEWED_REPLICA = """
import sys, time
from datetime import timedelta
import store.db
real = store.db.utcnow
store.db.utcnow = lambda: real() - timedelta(minutes=10)  # this host's clock is behind
from workflows import long_job
from workflows.jobs import start_job
db = store.db.open_database(sys.argv[1])
print(start_job(db, sys.argv[2], long_job.KIND, "Long job", long_job.items(6, 1.0),
                long_job.work), flush=True)
time.sleep(300)
"""


@pytest.mark.postgres
@postgres
def test_hosts_whose_clocks_disagree_by_minutes_do_not_kill_a_live_job(
    pg: Database, children: Children, fast_queue: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    import store.db

    real = store.db.utcnow
    monkeypatch.setattr(store.db, "utcnow", lambda: real() + timedelta(minutes=10))
    sid = ensure_session(pg, None)
    replica = children.start(SKEWED_REPLICA, pg.url, sid)
    job_id = replica.stdout.readline().strip()
    assert job_id, children.log(replica)
    wait_until(lambda: f":{replica.pid}:" in (job_worker(pg, job_id) or ""),
               "the replica's worker to take the job")
    owner = job_worker(pg, job_id)
    while get_job(pg, job_id).status == "running":
        # This process (20 minutes ahead of the other) judges the job over and over, and
        # its own queue worker checks for stalled jobs meanwhile: nothing is taken over.
        assert recover_jobs(pg, stale_after_s=5) == []
        job = get_job(pg, job_id)
        assert job_worker(pg, job_id) == owner
        assert abs((job.heartbeat_at - database_now(pg)).total_seconds()) < 5
        time.sleep(0.2)
    assert get_job(pg, job_id).status == "done"
    assert item_attempts(pg, job_id) == [1] * 6
    assert not any("another worker" in s for s in narrations(pg, sid))


@pytest.mark.postgres
@postgres
def test_a_graceful_stop_hands_the_job_to_another_worker_at_once(
    pg: Database, fast_queue: None
) -> None:
    sid = ensure_session(pg, None)
    job_id = start_job(pg, sid, long_job.KIND, "Long job", long_job.items(6, 0.5),
                       long_job.work)
    wait_until(lambda: get_job(pg, job_id).completed >= 2, "2 items")
    assert is_alive(job_id)
    started = time.monotonic()
    job_queue.stop_workers(timeout=10)  # a redeploy: the replica stops, nobody dies
    assert not is_alive(job_id)
    assert get_job(pg, job_id).status == "running"  # back on the queue, not interrupted
    recover_jobs(pg)  # a page opens: this process starts a worker again and it goes on
    wait_until(lambda: get_job(pg, job_id).status == "done", "the job to finish", 30)
    assert time.monotonic() - started < 15  # no wait for a heartbeat to go stale
    assert item_attempts(pg, job_id) == [1] * 6  # a hand-over is not a failed try
    assert [i.result["item"] for i in job_items(pg, job_id)] == list(range(1, 7))


@pytest.mark.postgres
@postgres
def test_a_queued_job_no_worker_took_is_cancelled_at_once(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMBIENT_QUEUE_IN_APP", "0")  # only standalone workers: none up
    sid = ensure_session(pg, None)
    job_id = start_job(pg, sid, long_job.KIND, "Long job", long_job.items(3, 0.1),
                       long_job.work)
    assert get_job(pg, job_id).status == "running" and not is_alive(job_id)
    assert recover_jobs(pg, stale_after_s=0) == []  # waiting on the queue is not dead
    job = cancel_job(pg, job_id)
    assert job.status == "cancelled"
    assert narrations(pg, sid)[-1] == "Long job cancelled before it started."
    with pg.engine.connect() as connection:
        assert connection.execute(text(
            "SELECT status FROM procrastinate.procrastinate_jobs")).scalar() == "cancelled"


@pytest.mark.postgres
@postgres
def test_a_job_the_queue_gave_up_on_is_interrupted_and_resumes_on_the_queue(
    pg: Database, fast_queue: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMBIENT_QUEUE_IN_APP", "0")
    sid = ensure_session(pg, None)
    job_id = start_job(pg, sid, long_job.KIND, "Long job", long_job.items(3, 0.1),
                       long_job.work)
    with pg.engine.begin() as connection:  # as after its last retry failed
        connection.execute(text("SET LOCAL search_path TO procrastinate, public"))
        connection.execute(text("UPDATE procrastinate_jobs SET status = 'failed'"))
    assert recover_jobs(pg, stale_after_s=0) == [job_id]
    job = get_job(pg, job_id)
    assert job.status == "interrupted" and "no worker could finish it" in job.error
    monkeypatch.setenv("AMBIENT_QUEUE_IN_APP", "1")
    from workflows.jobs import resume_job

    resume_job(pg, job_id, long_job.work)
    wait_until(lambda: get_job(pg, job_id).status == "done", "the resumed job", 30)


@pytest.mark.postgres
@postgres
def test_postgres_runs_registered_kinds_on_the_queue_and_other_work_in_a_thread(
    pg: Database, fast_queue: None
) -> None:
    sid = ensure_session(pg, None)
    queued = start_job(pg, sid, long_job.KIND, "Long job", long_job.items(2, 0.05),
                       long_job.work)
    threaded = start_job(pg, sid, "scratch", "Scratch", [1, 2], lambda ctx, item: item)
    wait_until(lambda: get_job(pg, queued).status == "done"
               and get_job(pg, threaded).status == "done", "both jobs")
    with pg.engine.connect() as connection:
        runners = dict(connection.execute(text("SELECT id, runner FROM jobs")).all())
    assert runners == {queued: "queue", threaded: "thread"}
    assert latest_job(pg, sid, long_job.KIND).id == queued


def test_sqlite_keeps_the_in_process_runner(db_url: str) -> None:
    db = open_database(db_url)
    try:
        sid = ensure_session(db, None)
        job_id = start_job(db, sid, long_job.KIND, "Long job", long_job.items(2, 0.05),
                           long_job.work)
        assert is_alive(job_id)  # a thread of this process, no queue
        wait_until(lambda: get_job(db, job_id).status == "done" and not is_alive(job_id),
                   "the job")
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT runner FROM jobs")).scalar() == "thread"
        assert db.url not in job_queue._workers  # no queue worker for SQLite
    finally:
        db.dispose()


@pytest.mark.postgres
@postgres
def test_an_existing_database_upgrades_to_the_queue_and_keeps_its_jobs() -> None:
    from store.db import _alembic_config, make_engine, migrate

    url, name = _fresh_postgres_database()
    engine = make_engine(url)
    try:
        migrate(engine, "0008")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO sessions (id, created_at, last_seen_at) "
                                    "VALUES ('s1', now(), now())"))
            connection.execute(text(
                "INSERT INTO jobs (id, session_id, kind, title, status, total, completed, "
                "failed, cancel_requested, created_at) VALUES "
                "('j1', 's1', 'long_job', 'Long job', 'done', 1, 1, 0, 0, now())"))
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT status FROM jobs")).scalar() == "done"
            assert connection.execute(text(
                "SELECT count(*) FROM procrastinate.procrastinate_jobs")).scalar() == 0
        config = _alembic_config()
        from alembic import command

        with engine.begin() as connection:  # and down again: the queue's schema goes
            config.attributes["connection"] = connection
            command.downgrade(config, "0008")
        with engine.connect() as connection:
            assert connection.execute(text(
                "SELECT count(*) FROM information_schema.schemata "
                "WHERE schema_name = 'procrastinate'")).scalar() == 0
    finally:
        engine.dispose()
        _drop_postgres_database(name)
