"""A bounded load test of the team deployment: two replicas on one PostgreSQL.

``python -m bench load [--seconds N]`` (default 120). It starts a PostgreSQL of its own
(``workflows.team.throwaway_postgres``; or a fresh database on the server named by
``AMBIENT_LOAD_POSTGRES``, e.g. ``postgresql+psycopg://postgres@127.0.0.1:55432``) and two
replica processes, each with its in-process queue worker, as ``streamlit run`` would
have. Driving 20 Streamlit sessions through websockets is out of reach, so each replica
drives the code paths the pages use for 10 sessions: the sidebar chat's
``ChatTurn`` with the real router (the embedded model: the cloud is off and Ollama points
at a closed loopback port) and the long-job page's ``start_job`` of a registered kind,
so the jobs go on the queue and any worker may run them. Everything stays on loopback,
and every loop is bounded by the deadline; the run stops by itself.

Each session has two loops, as a user with the long-job page open and the chat: a new
long job whenever its last one finished, and one chat turn after another. Two phases,
each on a fresh database: both replicas for the whole time; then the same
with replica A killed (SIGKILL) half-way, its jobs taken over by B's worker. Reported per
replica: chat turns, p50/p95 latency; then jobs started and finished, items done twice
(the in-flight ones taken over: at least once) and rows lost — every message and job a
replica saw committed is looked up afterwards, and every finished job must have each item
done exactly once, counted once. Rows lost must be 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bench import Section

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 20
ITEMS, ITEM_SECONDS = 10, 1.0  # 10 s of work a job: some are mid-way at the kill
PROMPTS = (
    "Give me one tip for a short weekly team update.",
    "Suggest a name for a newsletter about bread.",
    "What should I check before comparing two competitors?",
    "Write one friendly sentence to open a meeting.",
    "Name two ways to keep a task list short.",
)
QUEUE_TIMING = {  # a dead replica's jobs are taken over within ~6 s
    "AMBIENT_QUEUE_HEARTBEAT_S": "1",
    "AMBIENT_QUEUE_STALLED_S": "5",
    "AMBIENT_QUEUE_MAINTAIN_S": "1",
    "AMBIENT_QUEUE_POLL_S": "1",
}


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


# -- one replica (a child process) ---------------------------------------------------------


def replica(url: str, name: str, sessions: int, seconds: float, out: Path) -> None:
    """Drive ``sessions`` sessions until the deadline, logging each committed row."""
    from assistant.turn import ChatTurn
    from core.sessions import ensure_session
    from llm.router import Router, RouterSettings
    from store.db import open_database
    from workflows import long_job
    from workflows.jobs import JobError, ensure_worker, get_job, start_job

    db = open_database(url)
    ensure_worker(db)  # as the app's first job call does
    router = Router(db, settings=RouterSettings.from_env())  # one per process, as the app
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    log = out.open("a", buffering=1)

    def write(record: dict[str, object]) -> None:
        with lock:
            log.write(json.dumps({"replica": name, **record}) + "\n")

    def jobs(sid: str) -> None:
        """The long-job page: a new job whenever the last one has finished."""
        job_id: str | None = None
        while time.monotonic() < deadline:
            if job_id is None or get_job(db, job_id).status != "running":
                try:
                    job_id = start_job(db, sid, long_job.KIND, "Long job",
                                       long_job.items(ITEMS, ITEM_SECONDS), long_job.work)
                    write({"event": "job", "job": job_id, "sid": sid})
                except JobError as exc:
                    write({"event": "job_refused", "error": str(exc)})
            time.sleep(0.5)

    def chat(n: int, sid: str) -> None:
        """The sidebar chat: one turn after another."""
        turn_no = 0
        while time.monotonic() < deadline:
            prompt = PROMPTS[(n + turn_no) % len(PROMPTS)]
            turn_no += 1
            write({"event": "chat_start"})
            started = time.perf_counter()
            try:
                turn = ChatTurn(db, sid, prompt, router=router)
                for _ in turn.stream():
                    pass
            except Exception as exc:  # counted, never fatal to the run
                write({"event": "chat_error", "error": f"{exc.__class__.__name__}: {exc}"})
                continue
            reply = turn.result.reply
            write({"event": "chat", "latency_s": time.perf_counter() - started,
                   "user": turn.user_message.id, "reply": reply.id if reply else None,
                   "error": turn.result.error, "tier": turn.result.route.tier
                   if turn.result.route else None, "sid": sid})

    threads = []
    for n in range(sessions):
        sid = ensure_session(db, None)
        threads += [threading.Thread(target=jobs, args=(sid,), daemon=True),
                    threading.Thread(target=chat, args=(n, sid), daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:  # a turn waiting for the model may end after the deadline
        thread.join(max(0.0, deadline - time.monotonic()) + 120)
    write({"event": "load_done"})
    while True:  # keep this replica's worker up until the bench stops it
        time.sleep(1)


# -- the bench (the parent) ----------------------------------------------------------------


@contextmanager
def _postgres_server() -> Iterator[str]:
    """The server to make fresh databases on: AMBIENT_LOAD_POSTGRES, or one of our own."""
    server = os.environ.get("AMBIENT_LOAD_POSTGRES", "").rstrip("/")
    if server:
        yield server
        return
    from workflows.team import throwaway_postgres

    with throwaway_postgres() as url:
        yield url.rsplit("/", 1)[0]


def _fresh_database(server: str) -> str:
    from sqlalchemy import create_engine, text

    from store.db import open_database

    name = f"ambient_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{server}/{name}"
    open_database(url).dispose()  # migrated before the replicas start
    return url


def _drop_database(server: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" '
                                "WITH (FORCE)"))
    admin.dispose()


def _start_replica(url: str, name: str, sessions: int, seconds: float, out: Path,
                   logs: Path) -> subprocess.Popen[bytes]:
    env = os.environ | QUEUE_TIMING | {
        "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "AMBIENT_ALLOW_CLOUD": "0",
        "OPENAI_API_KEY": "", "OLLAMA_HOST": "http://127.0.0.1:9",  # closed: embedded only
    }
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from bench.load import replica; "
         "replica(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), "
         "__import__('pathlib').Path(sys.argv[5]))",
         url, name, str(sessions), str(seconds), str(out)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=(logs / f"{name}.log").open("w"),
    )


def _records(out: Path) -> list[dict]:
    records = []
    for line in out.read_text().splitlines() if out.exists() else []:
        with suppress(json.JSONDecodeError):  # a killed replica's last line may be cut
            records.append(json.loads(line))
    return records


def _phase(server: str, seconds: float, kill_half_way: bool, logs: Path
           ) -> tuple[list[list[object]], list[str]]:
    from sqlalchemy import text

    from store.db import open_database

    url = _fresh_database(server)
    out = logs / ("kill.jsonl" if kill_half_way else "both.jsonl")
    per = SESSIONS // 2
    replicas = {name: _start_replica(url, name, per, seconds, out, logs) for name in "AB"}
    killed_at = None
    db = open_database(url)
    try:
        # The load starts when both replicas are up (their first job is stored).
        up_by = time.monotonic() + 120
        while {r["replica"] for r in _records(out) if r["event"] == "job"} != {"A", "B"}:
            if time.monotonic() > up_by or any(p.poll() is not None for p in replicas.values()):
                raise RuntimeError(f"the replicas did not start; see {logs}/A.log, B.log")
            time.sleep(0.2)
        started = time.monotonic()
        deadline = started + seconds
        if kill_half_way:
            time.sleep(seconds / 2)
            replicas["A"].send_signal(signal.SIGKILL)
            replicas["A"].wait(10)
            killed_at = time.monotonic() - started
        time.sleep(max(0.0, deadline - time.monotonic()))
        # Then until every job is finished and the replicas' last turns are in (bounded).
        drained_s = None
        end = deadline + 180
        while time.monotonic() < end:
            if drained_s is None:
                with db.engine.connect() as connection:
                    running = connection.execute(
                        text("SELECT count(*) FROM jobs WHERE status = 'running'")).scalar()
                if not running:
                    drained_s = time.monotonic() - deadline
            done = {r["replica"] for r in _records(out) if r["event"] == "load_done"}
            alive = {n for n, p in replicas.items() if p.poll() is None}
            if drained_s is not None and alive <= done:
                break
            time.sleep(1)
        rows, notes = _account(db, _records(out), kill_half_way, seconds, killed_at,
                               drained_s)
    finally:
        db.dispose()
        for process in replicas.values():
            if process.poll() is None:
                process.terminate()
        for process in replicas.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        _drop_database(server, url)
    return rows, notes


def _account(db, records: list[dict], killed: bool, seconds: float,
             killed_at: float | None, drained_s: float | None
             ) -> tuple[list[list[object]], list[str]]:
    from sqlalchemy import text

    phase = "A killed half-way" if killed else "both replicas"
    rows: list[list[object]] = []
    with db.engine.connect() as connection:
        message_ids = set(connection.execute(text("SELECT id FROM messages")).scalars())
        jobs = {r[0]: r[1:] for r in connection.execute(text(
            "SELECT id, status, completed, failed, total FROM jobs"))}
        items = connection.execute(text(
            "SELECT job_id, count(*), sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN attempts > 1 THEN 1 ELSE 0 END) FROM job_items GROUP BY job_id"
        )).all()
    per_job = {job_id: (n, done, twice) for job_id, n, done, twice in items}
    lost = 0
    for name in "AB":
        chats = [r for r in records if r["replica"] == name and r["event"] == "chat"]
        latencies = [r["latency_s"] for r in chats]
        for r in chats:
            lost += r["user"] not in message_ids
            lost += r["reply"] is not None and r["reply"] not in message_ids
        raised = sum(1 for r in records if r["replica"] == name and r["event"] == "chat_error")
        errors = sum(1 for r in chats if r["error"]) + raised
        begun = sum(1 for r in records if r["replica"] == name and r["event"] == "chat_start")
        rows.append([phase, f"replica {name}", len(chats), max(0, begun - len(chats) - raised),
                     percentile(latencies, 0.5), percentile(latencies, 0.95), errors])
    started_jobs = [r["job"] for r in records if r["event"] == "job"]
    lost += sum(1 for j in started_jobs if j not in jobs)
    finished = [j for j in started_jobs if j in jobs and jobs[j][0] == "done"]
    wrong = 0
    twice = 0
    for j in finished:
        _, completed, failed, total = jobs[j]
        n, done, again = per_job.get(j, (0, 0, 0))
        wrong += not (n == total == done == completed + failed and failed == 0)
        twice += again or 0
    unfinished = len(started_jobs) - len(finished)
    notes = [
        f"{phase}: {len(started_jobs)} jobs started ({ITEMS} items of {ITEM_SECONDS} s), "
        f"{len(finished)} finished, {unfinished} not finished; items run twice (taken over "
        f"in flight): {twice}; finished jobs with an item missing, repeated or miscounted: "
        f"{wrong}; rows lost: {lost}. "
        + (f"All jobs done {drained_s:.0f} s after the load ended." if drained_s is not None
           else "Jobs still running 180 s after the load ended.")
        + (f" Replica A was killed at {killed_at:.0f} s." if killed_at else "")
    ]
    return rows, notes


def run(seconds: float = 120.0) -> Section:
    seconds = max(10.0, min(float(seconds), 600.0))
    logs = Path(tempfile.mkdtemp(prefix="ambient-load."))
    before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[list[object]] = []
    notes: list[str] = []
    with _postgres_server() as server:
        for kill in (False, True):
            print(f"load: {'one replica killed half-way' if kill else 'both replicas'}, "
                  f"{seconds:.0f} s…", flush=True)
            phase_rows, phase_notes = _phase(server, seconds, kill, logs)
            rows += phase_rows
            notes += phase_notes
    notes += [
        f"{SESSIONS} sessions for {seconds:.0f} s per phase, split over two replica processes "
        "on one PostgreSQL (loopback), each with its in-process queue worker (concurrency "
        f"{os.environ.get('AMBIENT_QUEUE_CONCURRENCY', '4')}). Each session has two loops, "
        "as a user with the long-job page open and the chat: a new long job whenever its "
        "last one finished (start_job, on the queue), and one chat turn after another "
        "(ChatTurn, the real router, the embedded model; up to 384 reply tokens). Latency "
        "is the whole turn, until the answer is stored.",
        f"Load average of the machine (other work included): {before} at the start, "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end.",
        "Chat latency is dominated by the embedded model: one generation at a time per "
        "process on 2 cores, so 10 sessions queue behind each other. \"Turns cut off\": "
        "turns still waiting for the model when the phase ended (or when replica A was "
        "killed); their user message is stored, their latency is not counted. A killed "
        "replica's sessions stop there (their users would reconnect to the other replica).",
    ]
    print(f"load: the replicas' logs are in {logs}", flush=True)
    return Section(
        name="load",
        title="Two replicas on one PostgreSQL: chat latency, jobs, rows lost",
        headers=["phase", "replica", "chat turns", "turns cut off", "p50 (s)", "p95 (s)",
                 "chat errors"],
        rows=rows,
        notes=notes,
    )


if __name__ == "__main__":
    print(run(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0).markdown())
