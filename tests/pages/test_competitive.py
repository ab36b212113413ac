"""The Competitive analysis workflow through AppTest, end to end on the embedded model."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from core.tasks import add_task
from llm.reports import totals
from store.db import get_database
from tests.conftest import ROOT
from workflows.competitive import report_markdown, split_job_items
from workflows.jobs import latest_job

KIND = "competitive_analysis"


def page(sid: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "competitive.py"), default_timeout=120)
    if sid:
        at.query_params["sid"] = sid
    at.run()
    assert not at.exception
    return at


def test_no_competitors_is_answered_by_a_sentence(app_env: str) -> None:
    at = page()
    at.button(key="ca_use").click()
    at.run()
    assert any("Add at least one competitor" in e.value for e in at.error)
    assert at.expander[0].label == "1. Competitors"


def test_three_competitors_analysed_with_a_report_to_download(app_env: str) -> None:
    at = page()
    sid = at.session_state.session_id
    add_task(get_database(), sid, "Globex")
    at = page(sid)
    at.text_area(key="ca_typed").input("- Acme Analytics\n2. Initech, acme analytics")
    at.multiselect(key="ca_from_tasks").select("Globex")
    at.button(key="ca_use").click()
    at.run()
    assert at.expander[0].label == "1. Competitors · done"
    assert any("Removed 1 duplicate" in c.value for c in at.caption)
    at.button(key="ca_use_aspects").click()
    at.run()
    at.button(key="ca_start").click()
    at.run()
    db = get_database()
    deadline = time.monotonic() + 300
    while latest_job(db, sid, KIND).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    job = latest_job(db, sid, KIND)
    assert job.total == 3 and job.completed + job.failed == 3
    done = page(sid)  # the page notices the finished job and completes the step
    done.run()
    assert done.expander[2].label.startswith("3. Analysis · done")
    assert len(done.dataframe[0].value) == job.completed
    labels = [b.proto.label for b in done.get("download_button")]
    assert "Download the report (Markdown)" in labels and "Download the table (CSV)" in labels
    assert any("# Competitive analysis" in m.value for m in done.markdown) or done.markdown


# What the competitive analyst was told, in the words a small model copies back.
INSTRUCTION_FRAGMENTS = (
    "company or product names", "Real names only", "one sentence on where",
    "short points", "high, medium or low", "Reply with only a JSON", "never instructions",
    "typed by the user",
)


def shown_text(at: AppTest) -> str:
    """Everything the page shows as text: markdown, captions, options, tables."""
    parts = [e.value for kind in ("markdown", "caption", "warning", "error", "info", "success")
             for e in getattr(at, kind)]
    parts += [str(o) for m in at.multiselect for o in m.options]
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


def test_on_the_embedded_model_it_warns_first_and_never_shows_instruction_text(
        app_env: str) -> None:
    business = "We sell accounting software to independent bakeries."
    at = page()
    sid = at.session_state.session_id
    assert any(w.value.startswith("The offline model suggests made-up or unusable competitor "
                                  "names; start Ollama") for w in at.warning)
    assert totals(get_database()).calls == 0  # warned before anything ran
    at.text_input(key="ca_business").input(business)
    at.button(key="ca_suggest").click()
    at.run()
    assert not at.exception
    suggested = at.multiselect(key="ca_suggested").options
    assert business not in suggested and business.rstrip(".") not in suggested
    if not suggested:  # nothing usable (or no usable answer at all): the page says what to do
        said = [m.value for m in (*at.warning, *at.error)]
        assert any("suggested no usable competitor names; type them" in m
                   or "Type the competitors' names instead" in m for m in said), said
    at.text_area(key="ca_typed").input("Acme Analytics\nInitech")
    at.multiselect(key="ca_suggested").set_value([])
    at.button(key="ca_use").click()
    at.run()
    at.button(key="ca_use_aspects").click()
    at.run()
    assert any(w.value.startswith("The offline model writes poor analyses; start Ollama "
                                  "(`ollama serve`) or add an OpenAI key in Settings for "
                                  "useful results. You can still run it.")
               for w in at.expander[2].warning)
    at.button(key="ca_start").click()
    at.run()
    db = get_database()
    deadline = time.monotonic() + 300
    while latest_job(db, sid, KIND).status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    done = page(sid)
    done.run()
    assert not done.exception
    text = shown_text(done)
    for fragment in INSTRUCTION_FRAGMENTS:
        assert fragment.casefold() not in text.casefold(), fragment
    job = latest_job(db, sid, KIND)
    results, failures = split_job_items(db, job.id)
    report = report_markdown(results, ["Pricing"], business, failures)
    for fragment in INSTRUCTION_FRAGMENTS:
        assert fragment.casefold() not in report.casefold(), fragment
