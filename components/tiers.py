"""Tier status tiles, shared by Home and Settings."""

from __future__ import annotations

import streamlit as st

from components.llm import router
from llm.providers.base import Health

TIER_BLURBS = {
    "embedded": "In-process llama.cpp model; always there, offline, free.",
    "local": "An Ollama server you run yourself (`ollama serve`).",
    "cloud": "OpenAI or any OpenAI-compatible endpoint; needs a key or an endpoint.",
}


def tier_tile(tier: str) -> Health:
    """The tier's status — available or not, what it is, what its health check said —
    drawn where the caller is; returns that health (Settings lists its models)."""
    routing = router()
    health = routing.health.check(tier, routing.provider(tier))
    icon = ":material/check_circle:" if health.available else ":material/cancel:"
    st.markdown(f"**{icon} {tier.capitalize()}**")
    st.caption(TIER_BLURBS.get(tier, ""))
    st.write(health.detail)
    return health


def render_tier_status() -> None:
    """One bordered tile per tier, side by side."""
    tiers = router().tiers()
    for column, tier in zip(st.columns(len(tiers)), tiers, strict=True):
        with column, st.container(border=True):
            tier_tile(tier)
