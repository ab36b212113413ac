"""The "Read the scan" step: Ambient's own reading of the figures first (exact, no model),
then the model's commentary, marked as the model's, streamed with the seconds counting.

The card stays open on the result when it arrives (``complete_step(stay_open=True)``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.buttons import pressed
from components.events import record
from components.llm import limit_note, model_caption, router, stream_with_elapsed
from components.session import database, session_id
from linkgraph.reading import READING_NEEDS, figures_reading, finish_reading, start_reading
from linkgraph.scan import Scan
from llm.router import RouteError
from workflows.runs import Run, complete_step


def _kept(run: Run) -> dict[str, Any] | None:
    """The model's kept commentary (an older run kept the bare text)."""
    kept = run.step_data("reading")
    if isinstance(kept, str):
        return {"commentary": kept, "tier": None, "model": ""}
    return kept or None


def read_the_scan(run: Run, scan: Scan) -> None:
    st.markdown("**Ambient's reading of the figures**")
    st.markdown(figures_reading(scan.summary))
    kept = _kept(run)
    if kept and kept.get("commentary"):
        st.markdown("**The model's commentary**")
        model_caption(kept.get("tier"), kept.get("model"))
        st.markdown(kept["commentary"])
    elif kept and kept.get("rejected"):
        st.info(f"The model's commentary was not kept: {kept['rejected']} The figures above "
                "are complete without it.", icon=":material/smart_toy:")
    if not kept:
        limit_note(READING_NEEDS)
    read = pressed("Read the scan with the model" if not kept else "Read it again",
                   "lg_read", icon=":material/radiology:")
    if not read:
        return
    db, sid = database(), session_id()
    try:
        # The reading streams: a cut-short run closes the call and reads again.
        with read.redo_if_cut_short(), start_reading(router(), db, sid, scan) as reading:
            st.markdown("**The model's commentary**")
            text = stream_with_elapsed(reading, "The model is reading the scan…")
    except RouteError as exc:
        st.error(f"{exc} The figures above are complete without it.")
        record("error_shown", str(exc))
        return
    complete_step(db, run, "reading", finish_reading(db, sid, text, reading), stay_open=True)
    record("step_completed", "The assistant read the link-graph scan")
    st.rerun()
