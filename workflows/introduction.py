"""The Introduction workflow: the assistant introduces itself and learns who the user is.

Both model steps are chat a small model phrases well (``INTRODUCTION_NEEDS``). The user's
name and colour reach the model as JSON strings (data, not instructions), the colour by
its name ("orange", not "#ff8800", which a model can only repeat), and the welcome opens
with a line from the facts themselves, so the name is right whatever the model writes.
"""

from __future__ import annotations

import json
import re

from core.experts import load_expert
from llm.limits import StepNeed
from llm.router import LLMRequest, Origin

STEPS = ("meet", "name", "colour", "welcome")
INTRODUCTION_NEEDS = StepNeed("embedded", "writes stilted greetings")
INTRODUCTION = (
    "Hello! I'm Ambient's assistant. I live in the sidebar on every page: I see the steps "
    "you take, answer what Ambient knows from its own data, and can add tasks, open pages "
    "or start jobs for you. What should I call you?"
)
"""The introduction when no model can write one, or writes none worth showing."""
# A few colours a person would name, to call a picked hex code by its nearest name.
COLOUR_NAMES = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128),
    "red": (220, 30, 30), "orange": (255, 140, 0), "yellow": (245, 220, 40),
    "green": (40, 160, 60), "teal": (47, 125, 109), "blue": (40, 90, 220),
    "navy": (20, 30, 110), "purple": (130, 50, 170), "pink": (240, 120, 180),
    "brown": (130, 80, 40),
}


def colour_name(value: str) -> str:
    """The nearest plain name of a colour given as ``#rrggbb`` (or ``#rgb``); a colour
    given by name comes back as it is."""
    text = (value or "").strip()
    digits = text.lstrip("#")
    if not text.startswith("#") or len(digits) not in (3, 6):
        return text
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    try:
        rgb = tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return text
    return min(COLOUR_NAMES, key=lambda name: sum(
        (a - b) ** 2 for a, b in zip(COLOUR_NAMES[name], rgb, strict=True)))


def introduction_request(origin: Origin) -> LLMRequest:
    expert = load_expert()
    ask = ("Introduce yourself to a new user of Ambient in two or three friendly sentences, "
           "then ask for their name.")
    return LLMRequest(
        messages=[
            {"role": "system", "content": expert.system_prompt},
            {"role": "user", "content": ask},
        ],
        purpose="chat", expert=expert.name, origin=origin, max_tokens=120, temperature=0.6,
        instructions=(expert.system_prompt, ask),
    )


def welcome_line(name: str, colour: str) -> str:
    """The welcome's first line, from the facts the user gave."""
    return f"Welcome, {name}! Your favourite colour, {colour_name(colour)}, is now your accent."


GREETING_SENTENCES = 2  # what greeting_request asks for
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def greeting_text(raw: str) -> str:
    """The greeting as shown: at most the sentences it was asked for (the embedded model
    often runs on for four or five: bench/RESULTS.md, "steps")."""
    sentences = [s for s in _SENTENCE_END.split((raw or "").strip()) if s]
    return " ".join(sentences[:GREETING_SENTENCES])


def greeting_request(name: str, colour: str, origin: Origin) -> LLMRequest:
    expert = load_expert()
    ask = ("The two fields below are what the user told you (JSON strings). Welcome them "
           "by name in one or two warm sentences.")
    return LLMRequest(
        messages=[
            {"role": "system", "content": expert.system_prompt},
            {"role": "user", "content": f"{ask}\nName: {json.dumps(name, ensure_ascii=False)}"
             f"\nFavourite colour: {json.dumps(colour_name(colour), ensure_ascii=False)}"},
        ],
        purpose="chat", expert=expert.name, origin=origin, max_tokens=80, temperature=0.6,
        instructions=(expert.system_prompt, ask),
    )
