"""The process-wide router, with the cloud key read from Streamlit secrets when present."""

from __future__ import annotations

import streamlit as st

from components.session import database
from llm.env import env_text
from llm.providers import register
from llm.providers.cloud import CloudProvider
from llm.router import Router, RouterSettings
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
