import streamlit as st

from components.buttons import pressed, submitted
from components.cards import step_card
from components.events import record
from components.llm import ask_for_text
from components.profile import accent_bar, css_colour
from components.session import database, session_id
from core.conversation import add_message
from core.exports import markdown_text
from core.memory import remember, scope_for
from llm.router import Origin
from workflows.introduction import (
    INTRODUCTION,
    STEPS,
    greeting_request,
    greeting_text,
    introduction_request,
    welcome_line,
)
from workflows.runs import complete_step, get_run, restart

db, sid = database(), session_id()
run = get_run(db, sid, "introduction", STEPS)
origin = Origin(session_id=sid, page="Introduction", workflow="introduction")

st.title("Introduction")
st.caption("Meet the assistant. It will remember your name and favourite colour.")
WRITING = "The assistant is writing…"


with step_card(run, "meet", "Meet the assistant"):
    intro = run.step_data("meet")
    if intro:
        st.markdown(intro)
    elif hello := pressed("Say hello", "intro_hello", icon=":material/waving_hand:"):
        with hello.redo_if_cut_short():  # the reply streams: a cut-short run asks again
            intro = ask_for_text(introduction_request(origin), WRITING, INTRODUCTION)
        if intro:
            add_message(db, sid, "assistant", intro, meta={"source": "introduction"})
            complete_step(db, run, "meet", intro, stay_open=True)
            record("step_completed", "The assistant introduced itself")
            st.rerun()

with step_card(run, "name", "Your name"), st.form("intro_name"):
    name = st.text_input("What should I call you?", value=run.step_data("name") or "",
                         max_chars=60)
    if submitted("Remember my name", "intro_name_submit", disabled=not run.done("meet")):
        try:
            fact = remember(db, scope_for(db, sid), "name", name)
        except ValueError as exc:
            st.error(str(exc))
        else:
            complete_step(db, run, "name", fact.value)
            record("step_completed", f"Told the assistant their name ({fact.value})")
            st.rerun()

with step_card(run, "colour", "Your favourite colour"), st.form("intro_colour"):
    picked = st.color_picker("Pick it", value=run.step_data("colour") or "#2f7d6d")
    if submitted("Remember my colour", "intro_colour_submit", disabled=not run.done("name")):
        fact = remember(db, scope_for(db, sid), "favourite_colour", picked)
        complete_step(db, run, "colour", fact.value)
        record("step_completed", f"Told the assistant their favourite colour ({picked})")
        st.rerun()

with step_card(run, "welcome", "All set"):
    if run.done("colour"):
        accent_bar(css_colour(run.step_data("colour")))
        welcome = run.step_data("welcome")
        st.markdown(markdown_text(welcome_line(run.step_data("name"), run.step_data("colour"))))
        if welcome:
            st.markdown(welcome)
        elif not run.done("welcome") and (
                hear := pressed("Hear from the assistant", "intro_welcome")):
            with hear.redo_if_cut_short():
                welcome = greeting_text(ask_for_text(
                    greeting_request(run.step_data("name"), run.step_data("colour"), origin),
                    WRITING, ""))
            complete_step(db, run, "welcome", welcome, stay_open=True)
            record("step_completed", "Finished the introduction")
            st.rerun()
    else:
        st.caption("Tell the assistant your name and colour first.")

if pressed("Start the introduction again", "intro_restart", icon=":material/restart_alt:"):
    restart(db, sid, "introduction", STEPS)
    st.rerun()
