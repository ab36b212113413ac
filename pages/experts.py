import streamlit as st

from components.buttons import submitted
from components.events import record
from components.session import admin_here, database, user_here
from core.experts import (
    DEFAULT_EXPERT,
    ExpertError,
    expert_slugs,
    expert_template,
    load_experts,
    personal_folder,
    read_expert_text,
    save_expert,
)
from llm.settings import record_change


def _save(slug: str | None, text: str, new_slug: str = "") -> None:
    """Save a submitted form: ``slug`` None means a new expert, named ``new_slug``. The file
    is written first (no yield point between the click and the write); on success the page
    runs again, so the list and the preview are fresh. On failure nothing is written and
    the text stays."""
    form, slug = ("edit", slug) if slug else ("new", new_slug)
    try:
        before = read_expert_text(slug) if form == "edit" else None
        expert = save_expert(slug, text, overwrite=form == "edit")
    except ExpertError as exc:
        st.session_state.expert_outcome = (form, False, str(exc))
        record("error_shown", f"Could not save the expert {slug.strip() or '(no name)'}: {exc}")
        return
    if before != text:  # the experts are shared: who changed which, old → new
        record_change(database(), user_here(), f"expert:{expert.slug}", before, text)
    st.session_state.expert_outcome = (form, True, f"Saved {expert.name} ({expert.slug}.md).")
    record("form_submitted", f"Saved the expert {expert.name}")
    if form == "new":  # picked, and the form emptied, before the next run draws them
        st.session_state.expert_created = expert.slug
    st.rerun()


def _show_outcome(form: str) -> None:
    if st.session_state.get("expert_outcome", ("",))[0] == form:
        _, ok, message = st.session_state.pop("expert_outcome")
        (st.success if ok else st.error)(message)


st.title("Experts")
st.caption(
    "An expert is a system prompt with settings — the tier it starts on, its temperature, "
    "what it is for — kept as a Markdown file in prompts/. Pick one in the sidebar chat; "
    "read, edit or write one here."
)
experts, problems = load_experts()
for problem in problems:
    st.warning(problem, icon=":material/warning:")

if created := st.session_state.pop("expert_created", None):
    st.session_state.expert_pick = created
    for key in ("expert_new_slug", "expert_new_text"):
        st.session_state.pop(key, None)
slugs = expert_slugs()
if DEFAULT_EXPERT in slugs:
    st.session_state.setdefault("expert_pick", DEFAULT_EXPERT)
slug = st.selectbox(
    "Expert",
    slugs,
    format_func=lambda s: experts[s].name if s in experts else f"{s}.md (cannot be loaded)",
    key="expert_pick",
)
if expert := experts.get(slug):
    st.markdown(f"**{expert.name}** — {expert.description}")
    st.caption(
        f"tier {expert.tier} · temperature {expert.temperature:g} · purpose {expert.purpose}"
    )
    # Plain text, not a highlighted code block: highlighting the prompt as Markdown cost
    # the browser about 0.4 s on every visit of this page (bench/RESULTS.md, "pages").
    with st.container(border=True, key="expert_prompt"):
        st.text(expert.system_prompt, width="stretch")
elif slug is None:
    st.info("There are no experts yet. Write the first one below.")

if not admin_here():  # shared experts: admins write them; everyone reads, picks, and
    st.info("Only admins edit or create the shared experts; you can read and pick them, "
            "and keep experts of your own below.", icon=":material/lock:")
    slug = None  # … keeps experts of their own, which only they see in the sidebar
    own = personal_folder(user_here())
    yours, _ = load_experts(own) if own.is_dir() else ({}, [])
    st.subheader("Your experts")
    st.caption(", ".join(f"{e.name} ({s})" for s, e in yours.items())
               or "None yet: write one here, and pick it in the sidebar.")
    st.session_state.setdefault("own_expert_text", expert_template("My expert"))
    with st.form("own_expert"):
        own_slug = st.text_input("File name", key="own_expert_slug", placeholder="my_scout",
                                 help="2 to 40 lowercase letters, digits and underscores; "
                                      "the same name again replaces it.")
        own_text = st.text_area("The whole file", height=360, key="own_expert_text")
        if submitted("Save my expert", "own_expert_save", type="primary"):
            try:
                saved = save_expert(own_slug, own_text, directory=own, overwrite=True)
            except ExpertError as exc:
                st.error(str(exc))
            else:
                record("form_submitted", f"Saved a personal expert, {saved.name}")
                st.rerun()
try:
    text = read_expert_text(slug) if slug else None
except ExpertError as exc:
    st.error(str(exc))
    text = None
if text is not None:
    with st.form("edit_expert"):
        st.subheader("Edit")
        edited = st.text_area("The whole file", text, height=360, key=f"expert_text_{slug}")
        if submitted("Save", "expert_save", type="primary"):
            _save(slug, edited)
    _show_outcome("edit")

if admin_here():
    st.session_state.setdefault("expert_new_text", expert_template("My expert"))
    with st.form("new_expert"):
        st.subheader("New expert")
        new_slug = st.text_input(
            "File name",
            key="expert_new_slug",
            placeholder="market_scout",
            help="2 to 40 lowercase letters, digits and underscores: prompts/<name>.md",
        )
        new_text = st.text_area("The whole file", height=360, key="expert_new_text")
        if submitted("Create", "expert_create"):
            _save(None, new_text, new_slug)
    _show_outcome("new")
