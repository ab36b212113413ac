"""A form that asks which column plays which role when a file's headers do not say."""

from __future__ import annotations

import streamlit as st

from components.buttons import submitted
from linkgraph.load import MappingNeeded


def column_mapping_form(error: MappingNeeded, key: str, state_key: str) -> None:
    """Show why the file needs a mapping and one picker per role, preset to the guess;
    the chosen ``{role: column}`` goes to ``st.session_state[state_key]`` for the next
    run to load the file with."""
    st.warning(str(error))
    with st.form(key):
        chosen = {role: st.selectbox(f"Column for {role}", error.columns,
                                     index=error.columns.index(guess) if guess in error.columns
                                     else 0, key=f"{key}_{role}")
                  for role, guess in dict(error.suggestion).items()}
        if use := submitted("Use this mapping", f"{key}_submit"):
            with use.redo_if_cut_short():  # until the mapping is kept
                st.session_state[state_key] = chosen
            st.rerun()
