import pandas as pd
import streamlit as st

from components.session import admin_here, database, session_id
from core.events import digest, recent_events
from llm.settings import changes, shown

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
    # Plain text: a code block's highlighter cost the browser on every visit, even closed.
    st.text(digest(events[-12:]), width="stretch")

if admin_here():  # who changed which shared setting, for the admins
    st.subheader("Changes to shared settings")
    changed = changes(database())
    if not changed:
        st.caption("Nobody has changed a budget, the privacy mode, the cloud switch, a model, "
                   "the prices or a shared expert yet.")
    else:
        st.table(pd.DataFrame(
            [{"when (UTC)": f"{c.when:%Y-%m-%d %H:%M:%S}", "who": c.user, "setting": c.key,
              "before": shown(c.old), "after": shown(c.new)} for c in changed[:50]]
        ).set_index("when (UTC)"))
