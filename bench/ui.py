"""Warm rerun time of Home, Costs and the sidebar chat on a well-used database.

The database holds 100,000 ledger rows, and one session with 5,000 chat messages and
20,000 interaction events. Each view is run through Streamlit's AppTest once to warm up
(imports, caches), then timed over several reruns; the figure is the median. AppTest runs
the script as the server would, minus the browser: it is the server-side cost of a rerun.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench import Section

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
TARGET_MS = 300


def _seed(url: str) -> str:
    from standins.ledger_seed import seed_history, seed_ledger
    from store.db import open_database

    db = open_database(url)
    seed_ledger(db, rows=100_000, days=30, seed=0)
    sid = seed_history(db, messages=5_000, events=20_000)
    db.dispose()
    return sid


def _chat_only() -> None:
    from components.chat import render_sidebar_chat
    from components.session import database, session_id

    render_sidebar_chat(database(), session_id())


def _time(make, sid: str) -> float:  # noqa: ANN001
    at = make()
    at.query_params["sid"] = sid
    at.run(timeout=120)
    if at.exception:
        raise RuntimeError(f"the view failed: {at.exception[0].value}")
    times = []
    for _ in range(RUNS):
        at._finished_page_script_hash = ""  # see tests/apptest.py: rerun the entrypoint
        started = time.perf_counter()
        at.run(timeout=120)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run() -> Section:
    from streamlit.testing.v1 import AppTest

    from components.chat import FIRST_SHOWN
    from store.db import forget_databases

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/ui.db"
        sid = _seed(url)
        os.environ["DATABASE_URL"] = url
        forget_databases()
        views = {
            "Home (entrypoint, sidebar chat, Home page)":
                lambda: AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120),
            "Costs page": lambda: AppTest.from_file(str(ROOT / "pages" / "costs.py"),
                                                    default_timeout=120),
            f"Sidebar chat alone ({FIRST_SHOWN} of 5,000 messages shown)":
                lambda: AppTest.from_function(_chat_only, default_timeout=120),
        }
        rows = []
        for name, make in views.items():
            median = _time(make, sid)
            verdict = "met" if median <= TARGET_MS else "NOT met"
            rows.append([name, round(median), f"≤ {TARGET_MS} ms: {verdict}"])
        forget_databases()
    return Section(
        name="ui",
        title="Warm rerun time with 100,000 ledger rows, 5,000 messages, 20,000 events",
        headers=["view", "median warm rerun (ms)", "target"],
        rows=rows,
        notes=[f"Median of {RUNS} reruns after one warm-up run, through Streamlit's AppTest "
               "on a SQLite database in WAL mode; aggregation happens in SQL."],
    )
