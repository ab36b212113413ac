import streamlit as st

from components.buttons import pressed, submitted
from components.events import record
from components.session import database, session_id
from core.memory import facts, forget, remember, scope_for

st.title("Memory")
st.caption(
    "Facts the assistant remembers about you and reads before every answer. It adds them "
    "when you tell it (\"my name is Ann\"); here you can see, change and forget them."
)
db, scope = database(), scope_for(database(), session_id())
known = facts(db, scope)

if not known:
    st.info("Nothing remembered yet. Tell the assistant your name, or add a fact below.")
for key, value in known.items():
    left, middle, right = st.columns([2, 5, 1], vertical_alignment="bottom")
    left.markdown(f"**{key.replace('_', ' ')}**")
    edited = middle.text_input(f"Value of {key}", value, key=f"fact_{key}",
                               label_visibility="collapsed")
    if edited != value:
        try:
            remember(db, scope, key, edited)
        except ValueError as exc:
            st.error(str(exc))
        else:
            record("form_submitted", f"Changed the remembered {key}")
            st.rerun()
    if pressed("Forget", f"forget_{key}", where=right, icon=":material/delete:"):
        forget(db, scope, key)
        record("form_submitted", f"Forgot the remembered {key}")
        st.rerun()

with st.form("add_fact"):
    st.markdown("**Add a fact**")
    key_col, value_col = st.columns([2, 5])
    new_key = key_col.text_input("What", placeholder="favourite colour")
    new_value = value_col.text_input("Value", placeholder="green")
    if submitted("Remember", "add_fact_submit", icon=":material/add:"):
        try:
            fact = remember(db, scope, new_key, new_value)
        except ValueError as exc:
            st.error(str(exc))
            record("error_shown", str(exc))
        else:
            record("form_submitted", f"Remembered {fact.key}")
            st.rerun()
