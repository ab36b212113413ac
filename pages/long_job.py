import streamlit as st

from components.buttons import pressed
from components.cards import step_card
from components.events import record
from components.jobs import job_progress
from components.session import database, session_id
from workflows import long_job
from workflows.jobs import JobError, cancel_job, latest_job, recover_jobs, resume_job, start_job
from workflows.runs import get_run

db, sid = database(), session_id()
recover_jobs(db)
run = get_run(db, sid, "long_job", ("run",))
job = latest_job(db, sid, long_job.KIND)
running = job is not None and job.status == "running"

st.title("Long job")
st.caption(
    "The reference long-running job: the start button locks while it runs, the progress "
    "bar moves, the assistant narrates in the chat, you can cancel, and a reload or a trip "
    "to another page finds the job where it is."
)

with step_card(run, "run", "Run the long job"):
    left, right = st.columns(2)
    shape = long_job.shape(db, job)  # the job's own items and seconds, after a reload too
    count = left.number_input("Items", 2, 200, shape[0], disabled=running)
    seconds = right.number_input("Seconds per item", 0.1, 30.0, shape[1], step=0.5,
                                 disabled=running)
    start, stop, resume = st.columns(3)
    if pressed("Running…" if running else "Start", "long_job_start", where=start,
               type="primary", disabled=running, icon=":material/play_arrow:"):
        try:
            start_job(db, sid, long_job.KIND, "Long job",
                      long_job.items(int(count), float(seconds)), long_job.work)
        except JobError as exc:
            st.error(str(exc))
        else:
            st.session_state.expect_narration = True
            st.rerun()
    if pressed("Cancel", "long_job_cancel", where=stop, disabled=not running,
               icon=":material/stop:") and running:  # a late click on a finished job: nothing
        cancel_job(db, job.id)
        record("form_submitted", "Asked to cancel the long job")
        st.rerun()
    resumable = job is not None and job.status in ("cancelled", "interrupted")
    if pressed("Resume", "long_job_resume", where=resume, disabled=not resumable,
               icon=":material/replay:") and resumable:
        resume_job(db, job.id, long_job.work)
        st.session_state.expect_narration = True
        st.rerun()
    job_progress(job)
