"""Showing a background job on a page: a progress bar polled by a fragment, with the time
it has been running, a start button that stays locked while the job runs, and cancel."""

from __future__ import annotations

import streamlit as st

from components.session import database
from store.db import utcnow
from workflows.jobs import Job, get_job

FINISHED = ("done", "failed", "cancelled", "interrupted")


def elapsed(job: Job) -> str:
    """How long the job has run, as " · 1 min 05 s" ("" before it has started)."""
    if job.started_at is None:
        return ""
    seconds = max(0, int((utcnow() - job.started_at.replace(tzinfo=None)).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f" · {minutes} min {seconds:02d} s" if minutes else f" · {seconds} s"


def _show(job: Job) -> None:
    label = f"{job.title}: {job.completed + job.failed} of {job.total} items"
    if job.failed:
        label += f" ({job.failed} failed)"
    st.progress(job.progress, text=label)
    if job.status == "running":
        st.status(f"Running… {job.progress:.0%}{elapsed(job)}", state="running")
    elif job.status == "done":
        st.success(f"Finished: {job.completed} of {job.total} items done.")
    elif job.status == "cancelled":
        st.warning(f"Cancelled after {job.completed} of {job.total} items; finished items "
                   "are kept.")
    elif job.status == "interrupted":
        st.warning("The app restarted while this job ran; finished items are kept. Resume "
                   "it to do the rest.")
    elif job.status == "failed":
        st.error(job.error or "Every item failed.")


@st.fragment(run_every=1)
def _poll(job_id: str, started_running: bool) -> None:
    job = get_job(database(), job_id)
    _show(job)
    if started_running and job.status in FINISHED:
        st.session_state.expect_narration = False
        st.rerun()  # the whole page: unlock the start button, show the results


def job_progress(job: Job | None) -> None:
    """Live progress while ``job`` runs (polled every second), its final state after."""
    if job is None:
        return
    if job.status == "running":
        st.session_state.expect_narration = True
        _poll(job.id, True)
    else:
        _show(job)
