"""The Long job page through AppTest: start locks, progress persists, cancel works."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from store.db import get_database
from tests.conftest import ROOT
from workflows import long_job
from workflows.jobs import latest_job


def page(sid: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "long_job.py"), default_timeout=60)
    if sid:
        at.query_params["sid"] = sid
    at.run()
    assert not at.exception
    return at


def wait_for(predicate, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_start_locks_the_button_until_the_job_finishes(app_env: str) -> None:
    at = page()
    at.number_input[0].set_value(4)
    at.number_input[1].set_value(0.1)
    at.button(key="long_job_start").click()
    at.run()
    sid = at.session_state.session_id
    db = get_database()
    job = latest_job(db, sid, long_job.KIND)
    assert job is not None and job.total == 4
    running = page(sid)
    if latest_job(db, sid, long_job.KIND).status == "running":
        assert running.button(key="long_job_start").disabled
        assert running.button(key="long_job_start").label == "Running…"
    wait_for(lambda: latest_job(db, sid, long_job.KIND).status == "done")
    finished = page(sid)
    assert not finished.button(key="long_job_start").disabled
    assert any("Finished: 4 of 4" in s.value for s in finished.success)


def test_cancel_stops_the_job_and_keeps_finished_items(app_env: str) -> None:
    at = page()
    at.number_input[0].set_value(50)
    at.number_input[1].set_value(0.2)
    at.button(key="long_job_start").click()
    at.run()
    sid = at.session_state.session_id
    db = get_database()
    wait_for(lambda: latest_job(db, sid, long_job.KIND).completed >= 1)
    again = page(sid)
    again.button(key="long_job_cancel").click()
    again.run()
    wait_for(lambda: latest_job(db, sid, long_job.KIND).status == "cancelled")
    job = latest_job(db, sid, long_job.KIND)
    assert 1 <= job.completed < 50
    after = page(sid)
    assert any("Cancelled after" in w.value for w in after.warning)
    assert not after.button(key="long_job_resume").disabled


def test_a_reload_shows_the_jobs_own_item_count_and_seconds(app_env: str) -> None:
    at = page()
    at.number_input[0].set_value(7)
    at.number_input[1].set_value(0.1)
    at.button(key="long_job_start").click()
    at.run()
    sid = at.session_state.session_id
    reloaded = page(sid)  # a new browser session on the same URL
    assert reloaded.number_input[0].value == 7
    assert reloaded.number_input[1].value == 0.1
    wait_for(lambda: latest_job(get_database(), sid, long_job.KIND).status == "done")
    assert page(sid).number_input[0].value == 7  # and after it finished
