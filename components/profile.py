"""What the assistant knows about the user, for greetings and the accent colour."""

from __future__ import annotations

import re

import streamlit as st

from components.session import database, session_id
from core.memory import facts, scope_for

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_NAME = re.compile(r"^[a-zA-Z]{3,20}$")


def css_colour(value: str | None) -> str | None:
    """A colour safe to put in CSS: a hex code or a plain colour word, else None."""
    if not value:
        return None
    value = value.strip().replace(" ", "")
    return value if _HEX.match(value) or _NAME.match(value) else None


def known_facts() -> dict[str, str]:
    return facts(database(), scope_for(database(), session_id()))


def accent_bar(colour: str | None) -> None:
    """A thin bar in the user's favourite colour (nothing if none is known)."""
    safe = css_colour(colour)
    if safe:
        st.html(f'<div style="height:6px;border-radius:3px;background:{safe};"></div>')
