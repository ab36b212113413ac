"""The Link graph page through AppTest: the sample, malformed uploads, a mapping."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from llm.reports import totals
from store.db import get_database
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "linkgraph" / "linkgraph_files"


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "link_graph.py"), default_timeout=180)
    at.run()
    assert not at.exception
    return at


def test_the_sample_site_is_measured_drawn_and_exportable(app_env: str) -> None:
    at = page()
    at.button(key="lg_sample").click()
    at.run()
    assert not at.exception
    assert at.expander[0].label.endswith("· done")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Pages"].replace(",", "")) > 100
    assert len(at.get("plotly_chart")) >= 2  # depth histogram and the drawing
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Pages with their statistics (CSV)" in labels and "Links (CSV)" in labels


def corpus(kind: str) -> list[tuple[str, dict]]:
    manifest = json.loads((CORPUS / "expected.json").read_text())
    return [(name, spec) for name, spec in sorted(manifest.items())
            if spec["kind"] == kind and (CORPUS / name).exists()
            and "max_bytes" not in spec]  # those need a smaller cap than the page's


@pytest.mark.parametrize(("name", "spec"), corpus("edges"), ids=[n for n, _ in corpus("edges")])
def test_no_malformed_edge_list_crashes_the_page(app_env: str, name: str, spec: dict) -> None:
    at = page()
    at.file_uploader(key="lg_edges").upload(name, (CORPUS / name).read_bytes(), "text/csv")
    at.run()
    at.button(key="lg_measure").click()
    at.run()
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in [*at.error, *at.warning])
    if spec["outcome"] == "ok":
        assert at.expander[0].label.endswith("· done"), shown
    else:
        assert spec["contains"].replace("the edge list", name) in shown, shown
        assert not at.expander[0].label.endswith("· done")


def test_read_the_scan_opens_with_the_figures_and_stays_open_on_the_result(
        app_env: str) -> None:
    at = page()
    at.button(key="lg_sample").click()
    at.run()
    for key in ("lg_signs_ok", "lg_drawn"):
        at.button(key=key).click()
        at.run()
    reading = at.expander[3]
    assert reading.label == "4. Read the scan" and reading.proto.expanded is True
    # Ambient's own reading is there before any model is asked: the sample's figures.
    shown = "\n".join(m.value for m in reading.markdown)
    assert "300 pages, 3,426 links" in shown
    assert "**Orphans** (no link in): 9 (3 %)" in shown and "**What to fix first**" in shown
    assert calls(app_env) == 0
    # Only the embedded model is up: the step says so before it runs.
    assert any(w.value.startswith("The offline model writes poor commentary")
               for w in reading.warning)
    at.button(key="lg_read").click()
    at.run()
    assert not at.exception
    reading = at.expander[3]
    assert reading.label == "4. Read the scan · done"
    assert reading.proto.expanded is True  # the result just arrived: it stays in view
    shown = "\n".join(m.value for m in reading.markdown)
    assert "300 pages, 3,426 links" in shown  # the figures first, the model after
    if "**The model's commentary**" not in shown:  # the embedded model's answer was rejected
        assert any(i.value.startswith("The model's commentary was not kept:")
                   for i in reading.info)
    else:
        assert any("The model's commentary (embedded" in c.value for c in reading.caption)
    assert calls(app_env) >= 1


def calls(_: str) -> int:
    """Model calls booked in the app's database (the app_env one)."""
    return totals(get_database()).calls
