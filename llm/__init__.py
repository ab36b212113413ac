"""Ambient's LLM layer: providers, context fitting, privacy — no Streamlit in here.

Public surface: ``get_provider`` and the request/reply types; everything else is reached
through its module (``llm.context``, ``llm.errors``, ``llm.privacy``).
"""

from llm.errors import LLMError
from llm.providers import get_provider, registered_tiers
from llm.providers.base import ChatRequest, Reply, ReplyStream, Usage

__all__ = [
    "ChatRequest",
    "LLMError",
    "Reply",
    "ReplyStream",
    "Usage",
    "get_provider",
    "registered_tiers",
]
