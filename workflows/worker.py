"""``python -m workflows.worker``: a standalone job-queue worker (``make worker``).

Every app replica already runs one worker of its own; a standalone worker adds capacity
(and keeps jobs moving while no replica is up). It needs ``DATABASE_URL`` on PostgreSQL,
runs the job kinds the app registers (the long job, the competitive analysis), and stops
on Ctrl-C or SIGTERM: it takes no new job, lets items in flight finish for a few seconds
(``AMBIENT_QUEUE_GRACE_S``), and hands the rest of each job back to the queue for another
worker. Tuning: ``AMBIENT_QUEUE_CONCURRENCY`` (jobs at once, default 4) and the other
``AMBIENT_QUEUE_*`` settings in ``workflows/queue.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from sqlalchemy.engine import make_url

from store.db import DatabaseError, database_url, get_database
from workflows import competitive, long_job  # noqa: F401 - they register their job kinds
from workflows import queue as job_queue
from workflows.jobs import registered_kinds, serve_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, metavar="N",
                        help="jobs at once (default: AMBIENT_QUEUE_CONCURRENCY or 4)")
    parser.add_argument("--verbose", action="store_true", help="log each job")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.concurrency:
        os.environ["AMBIENT_QUEUE_CONCURRENCY"] = str(max(1, args.concurrency))
    url = database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    if make_url(url).get_backend_name() != "postgresql":
        print(f"The job queue needs PostgreSQL, and DATABASE_URL is {shown}. Set it to a "
              "postgresql+psycopg:// URL; with SQLite, jobs run inside the app.",
              file=sys.stderr)
        return 2
    try:
        db = get_database(url)
    except DatabaseError as exc:
        print(exc, file=sys.stderr)
        return 1

    def stop(signum: int, _frame: object) -> None:
        print(f"Stopping ({signal.Signals(signum).name}): jobs in flight go back to the "
              "queue.", file=sys.stderr, flush=True)
        job_queue.stop_workers(timeout=0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    timing = job_queue.Timing.from_env()
    print(f"Ambient worker on {shown}: kinds {', '.join(registered_kinds())}; "
          f"{timing.concurrency} jobs at once. Ctrl-C stops it.", flush=True)
    serve_worker(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
