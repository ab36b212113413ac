import pandas as pd
import streamlit as st

from components.buttons import pressed, submitted
from components.confirm import ask_first
from components.events import record
from components.session import database, session_id
from core.csvfiles import CSVError
from core.exports import to_csv
from core.tasks import (
    PRIORITIES,
    TASK_COLUMNS,
    TaskError,
    add_task,
    apply_table_changes,
    delete_task,
    editor_rows,
    import_tasks,
    list_tasks,
    table_changes,
    tasks_table,
)

db, sid = database(), session_id()
st.title("Tasks")
st.caption("A prioritised list (1 = highest). The assistant can change it too: try "
           "“add a task to call Acme” in the chat.")

with st.form("add_task", border=True):
    title_col, priority_col = st.columns([5, 1])
    title = title_col.text_input("New task", placeholder="Call Acme about the renewal")
    priority = priority_col.selectbox("Priority", PRIORITIES, index=2)
    notes = st.text_input("Notes", placeholder="optional")
    if submitted("Add task", "tasks_add", icon=":material/add:"):
        try:
            task = add_task(db, sid, title, priority=priority, notes=notes)
        except TaskError as exc:
            st.error(str(exc))
            record("error_shown", str(exc))
        else:
            record("form_submitted", f"Added the task '{task.title}' (priority {task.priority})")
            st.rerun()

tasks = list_tasks(db, sid)
if not tasks:
    st.info("No tasks yet. Add one above, import a CSV below, or ask the assistant.")
else:
    rows = editor_rows(tasks)
    edited = st.data_editor(
        pd.DataFrame(rows).set_index("id"),
        key=f"tasks_editor_{len(tasks)}_{sum(t.id for t in tasks)}", hide_index=True,
        column_config={
            "order": st.column_config.NumberColumn(
                "Order", min_value=1, step=1, width="small",
                help="Renumber to reorder tasks of the same priority"),
            "done": st.column_config.CheckboxColumn("Done", width="small"),
            "title": st.column_config.TextColumn("Title", required=True, max_chars=200),
            "priority": st.column_config.NumberColumn("Priority", min_value=1, max_value=5,
                                                      step=1, required=True, width="small"),
            "notes": st.column_config.TextColumn("Notes"),
        },
    )
    applied = apply_table_changes(
        db, sid, table_changes(rows, edited.reset_index().to_dict("records")))
    for refusal in applied.refused:
        st.error(refusal)
        record("error_shown", refusal)
    for change in applied.done:
        record("form_submitted", change)
    if applied.done:
        st.rerun()

    with st.expander("Delete tasks", icon=":material/delete:"):
        titles = {t.id: t.title for t in tasks}
        doomed = st.multiselect("Tasks to delete", list(titles), format_func=titles.get,
                                key="tasks_delete_pick")
        confirmed = ask_first(f"Delete {len(doomed)} task(s)…", "tasks_delete",
                              lambda ids: f"Delete {len(ids)} task(s) for good?",
                              yes="Yes, delete", payload=list(doomed), disabled=not doomed)
        if confirmed:
            deleted, refused = [], []
            for task_id in confirmed:  # every delete before the first yield point
                try:
                    deleted.append(delete_task(db, sid, task_id))
                except TaskError as exc:
                    refused.append(str(exc))
            for gone in deleted:
                record("form_submitted", f"Deleted the task '{gone.title}'")
            for refusal in refused:
                st.error(refusal)
            if not refused:
                st.rerun()

st.subheader("Import and export")
upload = st.file_uploader("Import tasks from a CSV with a 'title' column (optional: "
                          "priority, notes)", type=["csv", "tsv", "txt"], key="tasks_upload")
if upload is not None and pressed("Import", "tasks_import"):
    try:
        report = import_tasks(db, sid, upload.getvalue(), name=upload.name)
    except CSVError as exc:
        st.error(str(exc))
        record("error_shown", str(exc))
    else:
        record("form_submitted", f"Imported tasks from {upload.name}: {report.summary()}")
        st.session_state.tasks_import_report = report
        st.rerun()
if report := st.session_state.pop("tasks_import_report", None):
    st.success(report.summary())
    for line in report.notes + report.skipped:
        st.caption(line)
st.download_button(
    "Export tasks as CSV", to_csv(pd.DataFrame(tasks_table(tasks), columns=list(TASK_COLUMNS)),
                                  TASK_COLUMNS),
    "tasks.csv", "text/csv", icon=":material/download:", disabled=not tasks,
    on_click="ignore",  # a download needs no run, so it cuts no other click's run short
)
