"""Tier status tiles, shared by Home and Settings."""

from __future__ import annotations

import streamlit as st

from llm.providers import get_provider, registered_tiers

TIER_BLURBS = {
    "embedded": "In-process llama.cpp model; always there, offline, free.",
    "local": "An Ollama server you run yourself (`ollama serve`).",
    "cloud": "OpenAI or any OpenAI-compatible endpoint; needs a key or an endpoint.",
}


def render_tier_status() -> None:
    tiers = registered_tiers()
    for column, tier in zip(st.columns(len(tiers)), tiers, strict=True):
        health = get_provider(tier).health()
        with column, st.container(border=True):
            icon = ":material/check_circle:" if health.available else ":material/cancel:"
            st.markdown(f"**{icon} {tier.capitalize()}**")
            st.caption(TIER_BLURBS.get(tier, ""))
            st.write(health.detail)
