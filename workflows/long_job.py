"""The reference long-running job: each item takes a while; nothing else happens.

It exists to show (and test) the mechanics every long workflow shares: a locked start
button, a moving progress bar, narration at 25/50/75/100%, cancel, and a reload that
finds the job where it is. Each item sleeps in small slices so a cancel lands quickly.

``work`` is registered as the ``long_job`` kind: on PostgreSQL the job runs on the queue,
on any replica's worker.
"""

from __future__ import annotations

import time
from typing import Any

from workflows.jobs import Job, JobContext, job_items, job_kind

KIND = "long_job"
DEFAULT_ITEMS = 12
DEFAULT_SECONDS = 1.0


@job_kind(KIND)
def work(ctx: JobContext, item: Any) -> dict[str, Any]:
    seconds = float(item.get("seconds", DEFAULT_SECONDS))
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if ctx.cancelled():
            break
        time.sleep(min(0.1, seconds))
    return {"item": item["n"], "took_s": round(time.monotonic() - started, 2)}


def items(count: int, seconds: float) -> list[dict[str, Any]]:
    return [{"n": n + 1, "seconds": seconds} for n in range(count)]


def shape(db: Any, job: Job | None) -> tuple[int, float]:
    """The item count and seconds per item of ``job`` (the defaults when there is none),
    so the form shows what the job it locks is doing, after a reload too."""
    if job is None:
        return DEFAULT_ITEMS, DEFAULT_SECONDS
    first = next(iter(job_items(db, job.id)), None)
    seconds = float(first.input.get("seconds", DEFAULT_SECONDS)) if first else DEFAULT_SECONDS
    return max(2, min(200, job.total)), max(0.1, min(30.0, seconds))
