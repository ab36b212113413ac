"""Plain statements about the user, understood without a model.

"My name is Ann", "call me Bob", "my favourite colour is green", "remember that my team
is Growth", "forget my team", "add a task to call Acme": the cheapest tier of all is a
rule. These become the same
validated action proposals the model would make (``remember_fact``, ``forget_fact``,
``add_task``),
so they run through the same registry, checks and log. Anything else goes to the
model-based planner.
"""

from __future__ import annotations

import re

from assistant.actions import Proposal

_END = r"(?=[.,!?;\n]|\s+and\b|$)"
_NAME = re.compile(
    r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+"
    r"(?P<value>[^\W\d_][\w'\-]*(?:\s+[^\W\d_][\w'\-]*){0,2}?)" + _END,
    re.IGNORECASE,
)
_FAVOURITE = re.compile(
    r"\bmy\s+(?P<key>favou?rite\s+[a-z]+)\s+is\s+(?P<value>[^.,!?;\n]{1,60}?)" + _END,
    re.IGNORECASE,
)
_REMEMBER = re.compile(
    r"\bremember\s+(?:that\s+)?my\s+(?P<key>[a-z][a-z ]{1,30}?)\s+is\s+"
    r"(?P<value>[^.!?;\n]{1,80}?)" + _END,
    re.IGNORECASE,
)
_FORGET = re.compile(r"\bforget\s+(?:about\s+)?my\s+(?P<key>[a-z][a-z ]{1,30}?)" + _END,
                     re.IGNORECASE)
_ADD_TASK = re.compile(
    r"\b(?:add|create|make|put)\s+(?:a\s+|an\s+|the\s+|new\s+)*(?:task|to-?do)\s*"
    r"(?:to|called|named|saying|:)?\s+(?P<title>[^\n]{2,200}?)\s*"
    r"(?:\s+(?:to|on|in)\s+(?:my|the)\s+(?:list|tasks|to-?do list))?[.!]*$",
    re.IGNORECASE,
)
_SPELLING = {"favorite": "favourite", "color": "colour"}


def _key(text: str) -> str:
    words = [_SPELLING.get(w, w) for w in text.lower().split()]
    return "_".join(words)


def _name(value: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in value.split())


def rule_proposals(text: str) -> list[Proposal]:
    """Proposals for the plain statements in ``text`` (the user's own message only)."""
    found: list[Proposal] = []
    for match in _NAME.finditer(text):
        found.append(Proposal("remember_fact", {"key": "name", "value": _name(match["value"])}))
    for pattern in (_FAVOURITE, _REMEMBER):
        for match in pattern.finditer(text):
            found.append(Proposal("remember_fact", {"key": _key(match["key"]),
                                                    "value": match["value"].strip()}))
    for match in _ADD_TASK.finditer(text.strip()):
        title = match["title"].strip()
        found.append(Proposal("add_task", {"title": title[:1].upper() + title[1:]}))
    for match in _FORGET.finditer(text):
        found.append(Proposal("forget_fact", {"key": _key(match["key"])}))
    unique: list[Proposal] = []
    for proposal in found:
        if proposal not in unique:
            unique.append(proposal)
    return unique
