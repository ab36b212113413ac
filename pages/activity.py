import streamlit as st

from components.session import database, session_id
from core.events import digest, recent_events

st.title("Activity")
st.caption(
    "What the assistant knows you did in this session: meaningful events only — pages "
    "opened, steps completed, forms submitted, jobs, errors."
)
events = recent_events(database(), session_id(), limit=50)
if not events:
    st.info("Nothing recorded yet. Open a page or send a chat message.")
else:
    st.dataframe(
        [
            {"when (UTC)": e.created_at, "what": e.kind.replace("_", " "), "page": e.page,
             "summary": e.summary}
            for e in reversed(events)
        ],
        hide_index=True,
        width="stretch",
    )
with st.expander("What the assistant receives", expanded=False):
    st.code(digest(events[-12:]), language="text")
