import pandas as pd
import streamlit as st

from components.events import record
from components.session import database, session_id
from core.csvfiles import CSVError
from core.exports import to_csv
from core.tasks import (
    PRIORITIES,
    TASK_COLUMNS,
    TaskError,
    add_task,
    complete_task,
    delete_task,
    import_tasks,
    list_tasks,
    reopen_task,
    reorder,
    tasks_table,
    update_task,
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
    if st.form_submit_button("Add task", icon=":material/add:"):
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
    frame = pd.DataFrame(
        [{"id": t.id, "order": n, "done": t.status == "done", "title": t.title,
          "priority": t.priority, "notes": t.notes} for n, t in enumerate(tasks, start=1)]
    ).set_index("id")
    edited = st.data_editor(
        frame, key=f"tasks_editor_{len(tasks)}_{sum(t.id for t in tasks)}", hide_index=True,
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
    changed = False
    for task_id, row in edited.iterrows():
        before = frame.loc[task_id]
        try:
            if row["title"] != before["title"] or row["priority"] != before["priority"] or (
                row["notes"] != before["notes"]
            ):
                update_task(db, sid, int(task_id), title=row["title"],
                            priority=int(row["priority"]), notes=row["notes"] or "")
                record("form_submitted", f"Edited the task '{row['title']}'")
                changed = True
            if bool(row["done"]) != bool(before["done"]):
                (complete_task if row["done"] else reopen_task)(db, sid, int(task_id))
                verb = "Completed" if row["done"] else "Reopened"
                record("form_submitted", f"{verb} the task '{row['title']}'")
                changed = True
        except (TaskError, ValueError, TypeError) as exc:
            st.error(f"Task {row['title']!r} was not changed: {exc}")
            record("error_shown", str(exc))
    if not edited["order"].equals(frame["order"]):
        ranked = edited.assign(was=frame["order"]).sort_values(["order", "was"])
        reorder(db, sid, [int(i) for i in ranked.index])
        record("form_submitted", "Reordered the tasks")
        changed = True
    if changed:
        st.rerun()

    with st.expander("Delete tasks", icon=":material/delete:"):
        doomed = st.multiselect("Tasks to delete", [t.id for t in tasks],
                                format_func=lambda i: next(t.title for t in tasks if t.id == i),
                                key="tasks_delete_pick")
        if doomed and st.button(f"Delete {len(doomed)} task(s)…", key="tasks_delete_ask"):
            st.session_state.tasks_confirm = list(doomed)
        if st.session_state.get("tasks_confirm"):
            st.warning(f"Delete {len(st.session_state.tasks_confirm)} task(s) for good?")
            yes, no = st.columns(2)
            if yes.button("Yes, delete", type="primary", key="tasks_delete_yes"):
                for task_id in st.session_state.pop("tasks_confirm"):
                    try:
                        gone = delete_task(db, sid, task_id)
                        record("form_submitted", f"Deleted the task '{gone.title}'")
                    except TaskError as exc:
                        st.error(str(exc))
                st.rerun()
            if no.button("Cancel", key="tasks_delete_no"):
                st.session_state.pop("tasks_confirm")
                st.rerun()

st.subheader("Import and export")
upload = st.file_uploader("Import tasks from a CSV with a 'title' column (optional: "
                          "priority, notes)", type=["csv", "tsv", "txt"], key="tasks_upload")
if upload is not None and st.button("Import", key="tasks_import"):
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
)
