"""Quality in the UI: the user's verdict under a reply, the Costs page's quality section
and the Settings page's quality controls.

The thumbs are stored on the ledger row of the attempt that gave the answer
(``llm.ledger.record_feedback``), so they survive a reload (the widget starts from what is
stored) and move the router's thresholds (``llm/calibration.py``).
"""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.buttons import pressed
from core.conversation import Message
from llm import calibration, ledger, quality, reports, settings
from llm.router import RouterSettings
from store.db import Database, StorageUnwritable, utcnow

_VERDICTS = {0: "down", 1: "up"}


def _store_verdict(db: Database, request_id: str, key: str) -> None:
    """The widget's callback. ``to_dict()`` reads the value without a point where
    Streamlit could stop this callback halfway (components/buttons.py)."""
    value = st.session_state.to_dict().get(key)
    with suppress(StorageUnwritable):  # the page's read-only banner says why nothing saves
        ledger.record_feedback(db, request_id, _VERDICTS.get(value))


_UNREAD = object()


def verdict(db: Database, message: Message, stored: str | None | object = _UNREAD) -> None:
    """Thumbs up/down on ``message``'s answer, as stored (``stored``: the verdict when the
    caller has read it already, e.g. for every drawn reply in one query)."""
    request_id = message.meta.get("request_id")
    if not request_id or message.status != "ok":
        return
    key = f"feedback_{message.id}"
    if stored is _UNREAD:
        stored = ledger.feedback_for(db, request_id)
    st.feedback("thumbs", key=key, default={"down": 0, "up": 1}.get(stored or ""),
                on_change=_store_verdict, args=(db, request_id, key))


# -- the Costs page's quality section -------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=32)
def _escalations(_db: Database, url: str, version: tuple[int, int],
                 filters: reports.Filters) -> list[dict]:
    """Escalations by reason, kept like the Costs page's aggregates: an attempt's
    escalation is written when it is booked or settled, and ``version``
    (``reports.ledger_version``) changes with both, so the cache never hides one."""
    return reports.escalations_by_reason(_db, filters)


def quality_section(db: Database, filters: reports.Filters, target: float,
                    version: tuple[int, int]) -> None:
    """Next to the spend: escalations by reason, the user's verdicts by tier, purpose and
    expert, and the calibration's cost–quality curve with the user's target marked.
    ``version`` is the ledger's (``reports.ledger_version``). The verdicts are read on every
    run: a thumb changes a row without changing the ledger's version."""
    st.subheader("Quality")
    reasons = _escalations(db, db.url, version, filters)
    left, right = st.columns(2)
    with left:
        st.markdown("**Escalations by reason** (requests that went above their first tier)")
        if reasons:
            st.dataframe(pd.DataFrame(reasons)[["reason", "requests"]], hide_index=True,
                         column_config={"reason": "Why", "requests": "Requests"})
        else:
            st.caption("No escalations in this period.")
    with right:
        st.markdown("**Your verdicts** (thumbs under the answers)")
        by = st.segmented_control("By", list(reports.FEEDBACK_BY), default="tier",
                                  key="costs_feedback_by") or "tier"
        rows = reports.feedback_by(db, by, filters)
        if rows:
            frame = pd.DataFrame(rows)
            frame["up_share"] = frame["up_share"].map(
                lambda v: "" if v is None else f"{v:.0%}")
            st.dataframe(frame, hide_index=True, column_config={
                by: by.capitalize(), "up": "👍", "down": "👎", "ratings": "Ratings",
                "up_share": "Share 👍"})
        else:
            st.caption("No verdicts yet: rate answers with the thumbs under them.")
    # Drawn only while open, like the Costs charts' tabs: a Plotly chart costs the browser
    # about 0.2 s on every visit of the page.
    with st.expander(f"Cost–quality curve, with your target of {target:.0%} marked",
                     icon=":material/show_chart:", key="costs_curve",
                     on_change="rerun") as curve:
        if curve.open:
            st.plotly_chart(_curve(target), width="stretch", config={"displayModeBar": False})
            st.caption("From the estimators' calibration on public outcome data (training "
                       "splits): the share of calls the stronger tier gets, for each quality "
                       "target. `python -m bench routing` replays held-out prompts.")


@lru_cache(maxsize=16)
def _curve(target: float) -> go.Figure:
    """Built once per target: the curves come from the calibration artefact, which does
    not change while the app runs, and building the figure's 6 traces took 10 ms of each
    run of the Costs page (more on a loaded machine). ``st.plotly_chart`` only reads it
    (``to_dict``)."""
    figure = go.Figure()
    for step in quality.STEPS:
        points = [(t, quality.thresholds(t, step)) for t in _TARGETS]
        figure.add_trace(go.Scatter(
            x=[p.strong_share for _, p in points], y=[p.expected_quality for _, p in points],
            mode="lines", name=step,
            hovertemplate="target %{text}<br>%{x:.0%} to the stronger tier<br>"
                          "%{y:.1%} of its quality<extra></extra>",
            text=[f"{t:.0%}" for t, _ in points]))
        mine = quality.thresholds(target, step)
        figure.add_trace(go.Scatter(
            x=[mine.strong_share], y=[mine.expected_quality], mode="markers",
            marker={"size": 11, "symbol": "diamond"}, name=f"your target ({target:.0%})",
            showlegend=step == quality.STEPS[0]))
    figure.update_layout(
        title="Cost–quality curve: stronger-tier share vs. quality reached",
        xaxis={"title": "calls sent to the stronger tier", "tickformat": ".0%",
               "range": [0, 1]},
        yaxis={"title": "quality vs. all-strong", "tickformat": ".0%"},
        height=320, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return figure


_TARGETS = [round(0.5 + 0.02 * i, 2) for i in range(26)]


# -- the Settings page's quality controls ------------------------------------------------------
def quality_settings(db: Database, current: RouterSettings, who: str) -> None:
    """The quality target, and how far the user's thumbs have moved the thresholds (with a
    reset)."""
    st.subheader("Quality")
    target = st.slider(
        "Quality target: the share of the strongest allowed tier's quality to keep",
        min_value=0.5, max_value=1.0, value=float(current.quality_target), step=0.01,
        key="settings_quality_target",
        help="Higher sends more questions to stronger (slower or paid) tiers. "
             "AMBIENT_QUALITY_TARGET sets the default (0.95).")
    if round(target, 3) != round(current.quality_target, 3):
        settings.save(db, by=who, before=current, quality_target=target)
        st.toast(f"Quality target set to {target:.0%}.")
    found = calibration.verdicts(db, current.feedback_since)
    if not found:
        st.caption("Your thumbs have not moved any threshold yet.")
    else:
        st.dataframe(pd.DataFrame([
            {"purpose": purpose, "tier": tier, "👍": v.up, "👎": v.down,
             "threshold shift": f"{calibration.shift(v, current.quality_target):+.2f}"}
            for (purpose, tier), v in sorted(found.items())
        ]), hide_index=True)
        st.caption(
            "Each tier's thresholds move with your verdicts on its answers, at most "
            f"±{calibration.MAX_SHIFT:.2f}: approvals keep more work on it, rejections "
            "send work up sooner.")
        if pressed("Reset the adjustment", "settings_feedback_reset",
                   icon=":material/restart_alt:"):
            settings.save(db, by=who, feedback_since=utcnow().isoformat())
            st.rerun()
