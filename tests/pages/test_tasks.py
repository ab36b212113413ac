"""The Tasks page through AppTest: add, refuse bad input, edit, delete with confirmation,
import and export CSV."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.tasks import add_task, import_tasks, list_tasks
from store.db import get_database
from tests.conftest import ROOT


def page(sid: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "tasks.py"), default_timeout=60)
    if sid:
        at.query_params["sid"] = sid
    at.run()
    assert not at.exception
    return at


def add(at: AppTest, title: str, priority: int = 3) -> None:
    at.text_input[0].input(title)
    at.selectbox[0].select(priority)
    at.button[0].click()
    at.run()


def test_adding_tasks_and_refusing_empty_or_duplicate_ones(app_env: str) -> None:
    at = page()
    sid = at.session_state.session_id
    add(at, "Call Acme", 1)
    add(at, "Write the report", 2)
    assert [t.title for t in list_tasks(get_database(), sid)] == ["Call Acme", "Write the report"]
    add(at, "call acme")
    assert any("already on the list" in e.value for e in at.error)
    add(at, "   ")
    assert at.error
    assert len(list_tasks(get_database(), sid)) == 2


def test_an_empty_list_says_what_to_do(app_env: str) -> None:
    at = page()
    assert any("No tasks yet" in i.value for i in at.info)


def test_deleting_needs_a_confirmation(app_env: str) -> None:
    at = page()
    sid = at.session_state.session_id
    task = add_task(get_database(), sid, "Temporary")
    at = page(sid)
    at.multiselect(key="tasks_delete_pick").select(task.id)
    at.run()
    at.button(key="tasks_delete").click()
    at.run()
    assert any("for good" in w.value for w in at.warning)
    assert len(list_tasks(get_database(), sid)) == 1
    at.button(key="tasks_delete_yes").click()
    at.run()
    assert list_tasks(get_database(), sid) == []


def test_csv_import_reports_bad_rows_and_missing_columns(app_env: str) -> None:
    at = page()
    sid = at.session_state.session_id
    db = get_database()
    report = import_tasks(db, sid, b"title,priority,notes\nCall Acme,1,asap\n,2,no title\n"
                          b"Plan launch,9,bad priority\nReview,2,\n")
    assert report.added == 2 and len(report.skipped) == 2
    assert report.skipped[0].startswith("Line 3:") and report.skipped[1].startswith("Line 4:")
    from core.csvfiles import CSVError

    try:
        import_tasks(db, sid, b"name,priority\nAcme,1\n")
    except CSVError as exc:
        assert "needs the column(s) title" in str(exc)
    else:
        raise AssertionError("a CSV without a title column must be refused")


def test_export_neutralises_formulas(app_env: str) -> None:
    at = page()
    sid = at.session_state.session_id
    add_task(get_database(), sid, "=HYPERLINK(\"http://evil\")")
    at = page(sid)
    button = at.get("download_button")[0]
    assert button.proto.label == "Export tasks as CSV"
    import pandas as pd

    from core.exports import to_csv
    from core.tasks import TASK_COLUMNS, tasks_table

    data = to_csv(pd.DataFrame(tasks_table(list_tasks(get_database(), sid))), TASK_COLUMNS)
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == "Title,Priority (1 = highest),Status,Notes"
    assert "'=HYPERLINK" in text
