"""Tier status tiles, shared by Home and Settings."""

from __future__ import annotations

import streamlit as st

from components.llm import router

TIER_BLURBS = {
    "embedded": "In-process llama.cpp model; always there, offline, free.",
    "local": "An Ollama server you run yourself (`ollama serve`).",
    "cloud": "OpenAI or any OpenAI-compatible endpoint; needs a key or an endpoint.",
}


def render_tier_status() -> None:
    routing = router()
    tiers = routing.tiers()
    for column, tier in zip(st.columns(len(tiers)), tiers, strict=True):
        health = routing.health.check(tier, routing.provider(tier))
        with column, st.container(border=True):
            icon = ":material/check_circle:" if health.available else ":material/cancel:"
            st.markdown(f"**{icon} {tier.capitalize()}**")
            st.caption(TIER_BLURBS.get(tier, ""))
            st.write(health.detail)
