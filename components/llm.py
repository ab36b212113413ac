"""The process-wide router (the cloud key read from Streamlit secrets when present), and
the pieces every LLM-backed step shows: the honest-limits warning before it runs, the
answer streamed with the seconds counting, and the caption that marks the model's words."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from components.events import record
from components.session import database
from llm.env import env_text
from llm.limits import StepNeed, limit_warning
from llm.providers import register
from llm.providers.cloud import CloudProvider
from llm.router import LLMRequest, RouteError, Router, RouterSettings
from llm.settings import router_settings


def secret(name: str) -> str | None:
    """A value from ``.streamlit/secrets.toml`` (or Community Cloud's secrets), if any."""
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets file at all is the normal case on a laptop
        return None
    return str(value) if value else None


def cloud_key_source() -> str | None:
    """Where the cloud key comes from (never the key itself)."""
    if secret("OPENAI_API_KEY"):
        return "Streamlit secrets"
    if env_text("OPENAI_API_KEY"):
        return "the OPENAI_API_KEY environment variable"
    return None


@st.cache_resource(show_spinner=False)
def _router() -> Router:
    key = secret("OPENAI_API_KEY")
    if key:
        register(
            "cloud",
            lambda: CloudProvider(api_key=key, base_url=secret("OPENAI_BASE_URL")),
        )
    return Router(database(), settings=RouterSettings.from_env())


def router() -> Router:
    """The shared router, with the settings saved on the Settings page applied (one small
    query a run, so a change made in another session or replica takes effect too)."""
    shared = _router()
    shared.settings = router_settings(database(), _env_settings())
    return shared


@st.cache_resource(show_spinner=False)
def _env_settings() -> RouterSettings:
    return RouterSettings.from_env()


def limit_note(need: StepNeed) -> str:
    """Before an LLM-backed step: a warning when only a weaker tier than the step needs
    can answer now (the step still runs when asked). Returns the sentence shown, or ""."""
    warning = limit_warning(router(), need)
    if warning:
        st.warning(warning, icon=":material/speed:")
    return warning


def stream_with_elapsed(pieces: Iterable[str], waiting: str) -> str:
    """A model's answer streamed onto the page under a spinner that counts the seconds
    (a slow first token is never a silent wait); returns the text, stripped."""
    with st.spinner(waiting, show_time=True):
        text = st.write_stream(pieces)
    return str(text).strip()


def model_caption(tier: str | None, model: str | None, what: str = "commentary") -> None:
    """The line that marks text as the model's, and which model wrote it."""
    who = " · ".join(x for x in (tier, model) if x) or "a model"
    st.caption(f":material/smart_toy: The model's {what} ({who}): its own words, not "
               "checked against the data.")


def ask_for_text(request: LLMRequest, waiting: str, fallback: str) -> str:
    """Stream a model's answer to ``request`` with the seconds counting, and return it; when
    no model answers, or its answer is unusable (empty, cut off, a repeat of its
    instructions: the router's note), say why and return ``fallback`` instead."""
    try:
        # Closed on the way out: a run cut short mid-answer stops the call there and then.
        with router().stream(request) as stream:
            text = stream_with_elapsed((p for p in stream if isinstance(p, str)), waiting)
    except RouteError as exc:
        st.warning(f"{exc} Ambient answers without the model.")
        record("error_shown", str(exc))
        return fallback
    result = stream.result
    if result is not None and not result.validated:
        why = result.note.removeprefix("Note: ")
        st.warning(f"The model's answer was not used: {why} Ambient answers without it.")
        return fallback
    return text
