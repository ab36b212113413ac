"""The job runner: progress kept item by item, cancel, failures, narration, restarts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from core.conversation import history
from core.events import recent_events
from core.sessions import ensure_session
from store.db import Database
from workflows.jobs import (
    JobCancelled,
    JobContext,
    JobError,
    cancel_job,
    get_job,
    is_alive,
    job_items,
    latest_job,
    recover_jobs,
    resume_job,
    start_job,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIND, TITLE = "long_job", "Long job"
FINISHED = ("done", "failed", "cancelled", "interrupted")


def wait_until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def wait_finished(db: Database, job_id: str) -> None:
    wait_until(lambda: get_job(db, job_id).status in FINISHED and not is_alive(job_id),
               "the job to finish")


def narrations(db: Database, sid: str) -> list[tuple[str, str]]:
    return [(m.meta["kind"], m.content) for m in history(db, sid) if m.role == "narration"]


class Gates:
    """Work that waits for the test to let each item through."""

    def __init__(self, n: int) -> None:
        self.gates = [threading.Event() for _ in range(n)]
        self.entered = [threading.Event() for _ in range(n)]

    def work(self, ctx: JobContext, item: Any) -> dict[str, Any]:
        self.entered[ctx.index].set()
        if not self.gates[ctx.index].wait(10):
            raise TimeoutError("the test never let this item through")
        return {"item": item, "square": item * item}

    def open(self, *indexes: int) -> None:
        for i in indexes:
            self.gates[i].set()


def test_progress_is_stored_item_by_item_while_the_job_runs(db: Database) -> None:
    sid = ensure_session(db, None)
    gates = Gates(5)
    job_id = start_job(db, sid, KIND, TITLE, [1, 2, 3, 4, 5], gates.work)
    job = get_job(db, job_id)
    assert (job.status, job.total, job.completed, job.progress) == ("running", 5, 0, 0.0)
    assert [i.status for i in job_items(db, job_id)] == ["pending"] * 5
    assert [e.kind for e in recent_events(db, sid)] == ["job_started"]

    for n in range(1, 6):
        gates.open(n - 1)
        wait_until(lambda n=n: get_job(db, job_id).completed == n, f"{n} items done")
        items = job_items(db, job_id)
        assert [i.status for i in items] == ["done"] * n + ["pending"] * (5 - n)
        assert items[n - 1].result == {"item": n, "square": n * n}
        if n < 5:
            assert get_job(db, job_id).status == "running"
            assert get_job(db, job_id).progress == pytest.approx(n / 5)
    wait_finished(db, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.completed, job.failed, job.error) == ("done", 5, 0, None)
    assert job.finished_at is not None and job.finished_at >= job.started_at
    assert [e.kind for e in recent_events(db, sid)] == ["job_started", "job_finished"]


def test_cancel_mid_way_keeps_the_done_items_and_leaves_the_rest_pending(db: Database) -> None:
    sid = ensure_session(db, None)
    reached_item_4 = threading.Event()

    def work(ctx: JobContext, item: int) -> int:
        if ctx.index < 3:
            return item * 10
        reached_item_4.set()
        while not ctx.cancelled():  # a long item that stops as soon as it is told
            time.sleep(0.01)
        raise JobCancelled

    job_id = start_job(db, sid, KIND, TITLE, list(range(10)), work)
    assert reached_item_4.wait(10)
    assert get_job(db, job_id).status == "running"
    assert cancel_job(db, job_id).cancel_requested
    wait_finished(db, job_id)

    job = get_job(db, job_id)
    assert (job.status, job.completed, job.failed) == ("cancelled", 3, 0)
    items = job_items(db, job_id)
    assert [i.result for i in items[:3]] == [0, 10, 20]
    assert all(i.status == "pending" and i.result is None for i in items[3:])
    assert narrations(db, sid)[-1] == ("warning", "Long job cancelled after 3 of 10 items.")
    finished = recent_events(db, sid)[-1]
    assert finished.kind == "job_finished" and finished.data["status"] == "cancelled"


def test_cancel_takes_effect_between_items(db: Database) -> None:
    sid = ensure_session(db, None)
    gates = Gates(10)
    job_id = start_job(db, sid, KIND, TITLE, list(range(10)), gates.work)
    gates.open(0, 1, 2)
    assert gates.entered[3].wait(10)  # the runner is inside item 4
    cancel_job(db, job_id)
    gates.open(3)  # the item in hand finishes, the next one is never started
    wait_finished(db, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.completed) == ("cancelled", 4)
    assert [i.status for i in job_items(db, job_id)] == ["done"] * 4 + ["pending"] * 6


def test_a_failing_item_is_recorded_and_the_other_nine_still_run(db: Database) -> None:
    sid = ensure_session(db, None)

    def work(ctx: JobContext, item: int) -> dict[str, int]:
        if ctx.index == 2:
            raise ValueError("the page could not be fetched")
        return {"double": item * 2}

    job_id = start_job(db, sid, KIND, TITLE, list(range(10)), work)
    wait_finished(db, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.completed, job.failed) == ("done", 9, 1)
    assert job.error == "1 of 10 items failed; the others are done."
    items = job_items(db, job_id)
    assert items[2].status == "failed" and items[2].result is None
    assert items[2].error == "Item 3 failed (ValueError): the page could not be fetched."
    assert [i.result for i in items if i.idx != 2] == [
        {"double": n * 2} for n in range(10) if n != 2
    ]
    assert narrations(db, sid)[-1] == ("done", "Long job: 100% done (10 of 10); 1 item failed.")


def test_a_job_whose_every_item_fails_is_failed_and_says_why(db: Database) -> None:
    sid = ensure_session(db, None)

    def work(ctx: JobContext, item: int) -> object:
        if item == 0:
            raise KeyError("name")
        return object()  # cannot be stored as JSON

    job_id = start_job(db, sid, KIND, TITLE, [0, 1], work)
    wait_finished(db, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.failed) == ("failed", 2)
    assert job.error == "All 2 items failed. The first error: Item 1 failed (KeyError): 'name'."
    assert job_items(db, job_id)[1].error.startswith("Item 2 failed: Item 2's result cannot be")
    assert narrations(db, sid)[-1][0] == "error"


def test_narration_at_25_50_75_and_100_percent_exactly_once_each(db: Database) -> None:
    sid = ensure_session(db, None)
    job_id = start_job(db, sid, KIND, TITLE, list(range(10)), lambda ctx, item: item)
    wait_finished(db, job_id)
    assert narrations(db, sid) == [
        ("progress", "Long job: 25% done (3 of 10)"),
        ("progress", "Long job: 50% done (5 of 10)"),
        ("progress", "Long job: 75% done (8 of 10)"),
        ("done", "Long job: 100% done (10 of 10)"),
    ]
    assert {m.meta["source"] for m in history(db, sid)} == {KIND}

    # Two items cross two thresholds at once: one message, not two.
    other = ensure_session(db, None)
    wait_finished(db, start_job(db, other, KIND, TITLE, [1, 2], lambda ctx, item: item))
    assert [text for _, text in narrations(db, other)] == [
        "Long job: 50% done (1 of 2)", "Long job: 100% done (2 of 2)",
    ]
    quiet = ensure_session(db, None)
    wait_finished(db, start_job(db, quiet, KIND, TITLE, [1, 2, 3, 4], lambda ctx, item: item,
                                narrate_progress=False))
    assert narrations(db, quiet) == [("done", "Long job: 100% done (4 of 4)")]


def test_work_can_narrate_and_read_its_params(db: Database) -> None:
    sid = ensure_session(db, None)

    def work(ctx: JobContext, item: str) -> str:
        ctx.note(f"{item}: {ctx.params['rows']} rows were rejected")
        return item

    job_id = start_job(db, sid, KIND, TITLE, ["a"], work, params={"rows": 3})
    wait_finished(db, job_id)
    assert narrations(db, sid)[0] == ("info", "a: 3 rows were rejected")
    assert get_job(db, job_id).params == {"rows": 3}


def test_a_second_job_of_the_same_kind_is_refused_while_one_runs(db: Database) -> None:
    sid = ensure_session(db, None)
    gates = Gates(2)
    job_id = start_job(db, sid, KIND, TITLE, [1, 2], gates.work)
    with pytest.raises(JobError, match="^A Long job is already running; wait for it or cancel"):
        start_job(db, sid, KIND, TITLE, [3], gates.work)
    assert latest_job(db, sid, KIND).id == job_id  # the refused one left nothing behind
    # Another kind, or another user, may run alongside; another tab of this user may not.
    side = start_job(db, sid, "other_job", "Other job", [1], lambda ctx, item: item)
    with pytest.raises(JobError, match="^A Long job is already running"):
        start_job(db, ensure_session(db, None), KIND, TITLE, [3], gates.work)
    elsewhere = start_job(db, ensure_session(db, None, "bob@example.com"), KIND, TITLE, [1],
                          lambda c, i: i)
    gates.open(0, 1)
    for each in (job_id, side, elsewhere):
        wait_finished(db, each)
    again = start_job(db, sid, KIND, TITLE, [3], lambda ctx, item: item)
    wait_finished(db, again)
    assert get_job(db, again).status == "done"


def test_latest_job_returns_the_newest_of_the_session_and_kind(db: Database) -> None:
    sid = ensure_session(db, None)
    assert latest_job(db, sid, KIND) is None
    first = start_job(db, sid, KIND, TITLE, [1], lambda ctx, item: item)
    wait_finished(db, first)
    second = start_job(db, sid, KIND, TITLE, [2], lambda ctx, item: item)
    wait_finished(db, second)
    assert latest_job(db, sid, KIND).id == second
    assert latest_job(db, sid, "other_job") is None
    assert latest_job(db, ensure_session(db, None), KIND).id == second  # another tab: found
    assert latest_job(db, ensure_session(db, None, "bob@example.com"), KIND) is None


def test_bad_requests_are_refused_with_sentences(db: Database) -> None:
    sid = ensure_session(db, None)
    with pytest.raises(JobError, match="nothing to do"):
        start_job(db, sid, KIND, TITLE, [], lambda ctx, item: item)
    with pytest.raises(JobError, match="^Item 2 cannot be stored"):
        start_job(db, sid, KIND, TITLE, [1, {2}], lambda ctx, item: item)
    with pytest.raises(JobError, match="session is unknown"):
        start_job(db, "f" * 32, KIND, TITLE, [1], lambda ctx, item: item)
    with pytest.raises(JobError, match="no job"):
        get_job(db, "0" * 32)
    assert latest_job(db, sid, KIND) is None
    done = start_job(db, sid, KIND, TITLE, [1], lambda ctx, item: item)
    wait_finished(db, done)
    with pytest.raises(JobError, match="already finished"):
        resume_job(db, done, lambda ctx, item: item)


def test_a_job_running_in_this_process_is_never_taken_for_stale(db: Database) -> None:
    sid = ensure_session(db, None)
    gates = Gates(1)
    job_id = start_job(db, sid, KIND, TITLE, [1], gates.work)
    assert is_alive(job_id)
    assert recover_jobs(db, stale_after_s=0) == []
    assert get_job(db, job_id).status == "running"
    gates.open(0)
    wait_finished(db, job_id)
    assert get_job(db, job_id).status == "done" and not is_alive(job_id)


CHILD = """
import os, sys, time
from store.db import open_database
from workflows.jobs import start_job

db = open_database(sys.argv[1])

def work(ctx, item):
    if ctx.index >= 4:
        time.sleep(60)  # the process is killed while it works on item 5
    return {"item": item, "pid": os.getpid()}

start_job(db, sys.argv[2], "long_job", "Long job", list(range(10)), work)
time.sleep(60)
"""


def test_a_restart_finds_the_job_and_resume_does_only_the_rest(
    db: Database
) -> None:
    sid = ensure_session(db, None)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db.url, sid], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT}, stderr=subprocess.PIPE,
    )
    try:
        job = wait_until(
            lambda: (j := latest_job(db, sid, KIND)) and j.completed == 4 and j,
            "the child process to finish 4 items", timeout=30,
        )
    finally:
        child.kill()  # SIGKILL: no clean-up runs, as when a server dies
        _, stderr = child.communicate(timeout=10)
    assert child.returncode == -9, stderr.decode()
    job_id = job.id

    # The database still says "running": nobody is left to say otherwise. But its runner
    # was a process of this machine that is gone, so that is known at once, whatever
    # the heartbeat says (no 30 s of "Running…" after a restart).
    assert get_job(db, job_id).status == "running" and not is_alive(job_id)
    assert recover_jobs(db) == [job_id]
    job = get_job(db, job_id)
    assert (job.status, job.completed, job.failed) == ("interrupted", 4, 0)
    assert "resume it" in job.error.lower()
    items = job_items(db, job_id)
    assert [i.status for i in items] == ["done"] * 4 + ["pending"] * 6
    assert {i.result["pid"] for i in items[:4]} == {child.pid}
    assert narrations(db, sid)[-1] == (
        "warning", "Long job was interrupted after 4 of 10 items; resume it to do the rest."
    )

    ran: list[int] = []

    def work(ctx: JobContext, item: int) -> dict[str, int]:
        ran.append(ctx.index)
        return {"item": item, "pid": os.getpid()}

    resume_job(db, job_id, work)
    wait_finished(db, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.completed, job.failed, job.error) == ("done", 10, 0, None)
    assert ran == [4, 5, 6, 7, 8, 9]  # each remaining item once; none redone
    items = job_items(db, job_id)
    assert [i.result["item"] for i in items] == list(range(10))
    assert [i.result["pid"] for i in items] == [child.pid] * 4 + [os.getpid()] * 6
    kinds = [e.kind for e in recent_events(db, sid) if e.data.get("job_id") == job_id]
    assert kinds == ["job_started", "job_finished", "job_started", "job_finished"]


def test_a_cancelled_job_resumes_on_its_pending_items(db: Database) -> None:
    sid = ensure_session(db, None)
    gates = Gates(6)
    job_id = start_job(db, sid, KIND, TITLE, list(range(6)), gates.work)
    gates.open(0, 1)
    assert gates.entered[2].wait(10)
    cancel_job(db, job_id)
    gates.open(2)
    wait_finished(db, job_id)
    assert get_job(db, job_id).status == "cancelled"

    ran: list[int] = []
    resume_job(db, job_id, lambda ctx, item: ran.append(ctx.index) or item)
    with pytest.raises(JobError):
        resume_job(db, job_id, lambda ctx, item: item)  # already running here
    wait_finished(db, job_id)
    job = get_job(db, job_id)
    assert (job.status, job.completed, job.cancel_requested) == ("done", 6, False)
    assert ran == [3, 4, 5]


def test_a_long_item_keeps_the_heartbeat_moving(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workflows.jobs

    monkeypatch.setattr(workflows.jobs, "HEARTBEAT_EVERY_S", 0.05)
    sid = ensure_session(db, None)
    gates = Gates(1)
    job_id = start_job(db, sid, KIND, TITLE, [1], gates.work)
    first = get_job(db, job_id).heartbeat_at
    wait_until(lambda: get_job(db, job_id).heartbeat_at > first, "a heartbeat during the item")
    assert get_job(db, job_id).completed == 0  # still inside the one long item
    gates.open(0)
    wait_finished(db, job_id)


def _running_job_of(db: Database, worker: str) -> str:
    """A job the database says is running, under ``worker``, with a fresh heartbeat."""
    from store.db import utcnow
    from store.models import JobRow

    # A person of its own: one person runs one job of a kind at a time.
    sid = ensure_session(db, None, f"{worker.split(':')[1]}@example.com")
    job_id = start_job(db, sid, KIND, TITLE, [1], lambda ctx, item: item)
    wait_finished(db, job_id)
    with db.write() as s:
        row = s.get(JobRow, job_id)
        row.status, row.worker, row.heartbeat_at, row.finished_at = (
            "running", worker, utcnow(), None)
    return job_id


def test_a_job_of_this_process_without_a_thread_is_interrupted_at_once(db: Database) -> None:
    job_id = _running_job_of(db, f"{socket.gethostname()[:80]}:{os.getpid()}:0123456789ab")
    assert not is_alive(job_id)
    assert recover_jobs(db) == [job_id]
    assert get_job(db, job_id).status == "interrupted"


def test_a_live_runner_elsewhere_is_judged_by_its_heartbeat(db: Database) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        here_alive = _running_job_of(db, f"{socket.gethostname()[:80]}:{sleeper.pid}:ab")
        other_host = _running_job_of(db, "another-host.example:4242:0123456789ab")
        assert recover_jobs(db) == []  # both may be working: their heartbeats are fresh
        time.sleep(0.05)
        assert sorted(recover_jobs(db, stale_after_s=0.01)) == sorted([here_alive, other_host])
    finally:
        sleeper.kill()
        sleeper.wait(10)
