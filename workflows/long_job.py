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

from workflows.jobs import JobContext, job_kind

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
