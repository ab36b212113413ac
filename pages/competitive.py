import streamlit as st

from components.buttons import pressed
from components.cards import step_card
from components.events import record
from components.jobs import job_progress
from components.llm import limit_note, router
from components.session import database, session_id
from core.exports import to_csv
from core.tasks import list_tasks
from llm.router import Origin, RouteError
from workflows.competitive import (
    ANALYSIS_NEEDS,
    COLUMN_LABELS,
    DEFAULT_ASPECTS,
    SUGGEST_NEEDS,
    analysis_items,
    analysis_job_work,
    parse_aspects,
    parse_competitors,
    report_markdown,
    results_frame,
    split_job_items,
    suggest_competitors,
)
from workflows.jobs import JobError, cancel_job, get_job, recover_jobs, resume_job, start_job
from workflows.runs import (
    complete_step,
    fail_step,
    get_run,
    restart,
    revert_step,
    save_data,
)

STEPS = ("competitors", "aspects", "analysis", "results")
KIND = "competitive_analysis"
db, sid = database(), session_id()
recover_jobs(db)
run = get_run(db, sid, KIND, STEPS)
origin = Origin(session_id=sid, page="Competitive analysis", workflow=KIND)
job = get_job(db, run.step_data("analysis")) if run.step_data("analysis") else None
running = job is not None and job.status == "running"

st.title("Competitive analysis")
st.caption("Competitors → aspects → an analysis of each (a background job you can cancel "
           "and resume) → a table and a report to download.")

with step_card(run, "competitors", "Competitors"):
    chosen = run.step_data("competitors") or {}
    if run.done("competitors"):
        st.markdown(", ".join(chosen["names"]))
        if pressed("Change the competitors", "ca_change_competitors", disabled=running):
            revert_step(db, run, "competitors")
            st.rerun()
    else:
        business = st.text_input("Your business in one line (optional)",
                                 value=chosen.get("business", ""), key="ca_business",
                                 placeholder="We sell accounting software to independent "
                                             "bakeries.")
        typed = st.text_area("Type them, one per line or separated by commas",
                             key="ca_typed", height=110)
        open_tasks = [t.title for t in list_tasks(db, sid, include_done=False)]
        from_tasks = st.multiselect("…or take them from your open tasks", open_tasks,
                                    key="ca_from_tasks")
        limit_note(SUGGEST_NEEDS)
        if suggest := pressed("Suggest competitors from my business", "ca_suggest",
                              icon=":material/lightbulb:"):
            try:
                with suggest.redo_if_cut_short():  # until the suggestions are kept
                    st.session_state.ca_suggestions = suggest_competitors(router(), business,
                                                                          origin=origin)
            except ValueError as exc:
                st.error(str(exc))
                record("error_shown", str(exc))
            except RouteError as exc:  # no usable answer: say what to do instead
                message = (f"{exc} Type the competitors' names instead, or try again with a "
                           "stronger model.")
                st.error(message)
                record("error_shown", message)
            else:
                if not st.session_state.ca_suggestions:
                    st.warning("The model suggested no usable competitor names; type them "
                               "instead, or try again with a stronger model.")
        suggested = st.multiselect("…or pick from the suggestions",
                                   st.session_state.get("ca_suggestions", []),
                                   default=st.session_state.get("ca_suggestions", []),
                                   key="ca_suggested")
        if pressed("Use these competitors", "ca_use", type="primary"):
            names, notes = parse_competitors("\n".join([typed, *from_tasks, *suggested]))
            if not names:
                st.error("Add at least one competitor: type a name, pick an open task, or "
                         "ask for suggestions.")
                record("error_shown", "Tried to continue without competitors")
            else:
                complete_step(db, run, "competitors", {"names": names, "business": business},
                              note="; ".join(notes))
                record("step_completed", f"Chose {len(names)} competitors: {', '.join(names)}")
                st.rerun()
    if run.note("competitors"):
        st.caption(run.note("competitors"))

with step_card(run, "aspects", "Aspects to compare"):
    if not run.done("competitors"):
        st.caption("Choose the competitors first.")
    elif run.done("aspects"):
        st.markdown(", ".join(run.step_data("aspects")))
        if pressed("Change the aspects", "ca_change_aspects", disabled=running):
            revert_step(db, run, "aspects")
            st.rerun()
    else:
        picked = st.multiselect("Aspects", DEFAULT_ASPECTS, default=list(DEFAULT_ASPECTS[:3]),
                                key="ca_aspects")
        extra = st.text_input("More aspects, separated by commas", key="ca_more_aspects")
        if pressed("Use these aspects", "ca_use_aspects", type="primary"):
            aspects = parse_aspects(picked, extra)
            if not aspects:
                st.error("Pick at least one aspect to compare.")
            else:
                complete_step(db, run, "aspects", aspects)
                record("step_completed", f"Chose the aspects: {', '.join(aspects)}")
                st.rerun()

with step_card(run, "analysis", "Analysis"):
    if not run.done("aspects"):
        st.caption("Choose the competitors and the aspects first.")
    else:
        competitors = run.step_data("competitors")
        work = analysis_job_work(router())
        locked = running or run.done("analysis")
        if not locked:
            limit_note(ANALYSIS_NEEDS)
        start, stop, resume = st.columns(3)
        if pressed("Running…" if running else "Analyse", "ca_start", where=start,
                   type="primary", disabled=locked, icon=":material/play_arrow:") and not locked:
            items = analysis_items(competitors["names"], run.step_data("aspects"),
                                   competitors.get("business", ""))
            try:
                job_id = start_job(db, sid, KIND, "Competitive analysis", items, work)
            except JobError as exc:
                st.error(str(exc))
            else:
                save_data(db, run, "analysis", job_id)
                st.session_state.expect_narration = True
                st.rerun()
        if pressed("Cancel", "ca_cancel", where=stop, disabled=not running,
                   icon=":material/stop:") and running:
            cancel_job(db, job.id)
            st.rerun()
        resumable = job is not None and job.status in ("cancelled", "interrupted")
        if pressed("Resume", "ca_resume", where=resume, icon=":material/replay:",
                   disabled=not resumable) and resumable:
            resume_job(db, job.id, work)
            st.session_state.expect_narration = True
            st.rerun()
        job_progress(job)
        if job is not None and job.status in ("done", "failed") and not run.done("analysis"):
            if job.completed:
                complete_step(db, run, "analysis", job.id,
                              note=f"{job.failed} failed" if job.failed else "")
                record("step_completed", f"Analysed {job.completed} of {job.total} competitors")
            else:
                fail_step(db, run, "analysis", "no competitor could be analysed")
            st.rerun()

with step_card(run, "results", "Results and report"):
    if not run.done("analysis") or job is None:
        st.caption("The table and the report appear here when the analysis is done.")
    else:
        results, failures = split_job_items(db, job.id)
        frame = results_frame(results)
        st.dataframe(frame.rename(columns=COLUMN_LABELS), hide_index=True)
        report = report_markdown(results, run.step_data("aspects"),
                                 run.step_data("competitors").get("business", ""), failures)
        with st.expander("Report", expanded=True):
            st.markdown(report)
        left, right = st.columns(2)
        left.download_button("Download the report (Markdown)", report,
                             "competitive-analysis.md", "text/markdown", key="ca_dl_md",
                             icon=":material/download:", on_click="ignore")
        right.download_button("Download the table (CSV)", to_csv(frame, COLUMN_LABELS),
                              "competitive-analysis.csv", "text/csv", key="ca_dl_csv",
                              icon=":material/download:", on_click="ignore")

if pressed("Start a new analysis", "ca_restart", icon=":material/restart_alt:",
           disabled=running):
    restart(db, sid, KIND, STEPS)
    st.rerun()
