"""The Introduction workflow: the assistant introduces itself and learns who the user is."""

from __future__ import annotations

from core.experts import load_expert
from llm.router import LLMRequest, Origin

STEPS = ("meet", "name", "colour", "welcome")


def introduction_request(origin: Origin) -> LLMRequest:
    expert = load_expert()
    return LLMRequest(
        messages=[
            {"role": "system", "content": expert.system_prompt},
            {"role": "user", "content": "Introduce yourself to a new user of Ambient in two "
             "or three friendly sentences, then ask for their name."},
        ],
        purpose="chat", expert=expert.name, origin=origin, max_tokens=120, temperature=0.6,
    )


def greeting_request(name: str, colour: str, origin: Origin) -> LLMRequest:
    expert = load_expert()
    return LLMRequest(
        messages=[
            {"role": "system", "content": expert.system_prompt},
            {"role": "user", "content": f"The user's name is {name} and their favourite colour "
             f"is {colour}. Welcome them by name in one or two sentences."},
        ],
        purpose="chat", expert=expert.name, origin=origin, max_tokens=80, temperature=0.6,
    )
