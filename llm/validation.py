"""Is an answer good enough to use? Empty, truncated, refused, schema-invalid, a repeat
of its own instructions or placeholder text is not.

``check`` says why an answer fails, in words the route reason can carry;
``extract_json`` salvages JSON a model wrapped in prose or a code fence (the cheap
"repair" before asking the model again).

A small model that cannot do a task often hands the task back: it copies a line of its
instructions ("up to 8 company or product names", "one sentence on where this
competitor stands") or a template's blank ("[Your name]"). That is no answer, however
well formed: ``Instructions`` finds such echoes, in free text and in every string of a
JSON answer. Only instruction text counts: data quoted in a prompt (JSON strings) is
left out, so an answer may repeat the user's words, a competitor's name or a URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema

_REFUSAL = re.compile(
    r"^\s*(?:I'?m sorry,?\s*(?:but\s*)?)?(?:as an ai(?: language model)?,?\s*)?"
    r"I\s*(?:can(?:no|')t|cannot|am (?:not able|unable)|won'?t)\s+"
    r"(?:help|assist|comply|do that|provide|answer|fulfil)",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_QUOTED = re.compile(r'"(?:[^"\\\n]|\\.)*"')  # a JSON string in a prompt: data
_PARTS = re.compile(r"[\n.;!?]+|(?<!\d):|\s[-–—]\s")  # lines, sentences, "label — text"
# "[Your name]", "<company name>", "[Insert a figure]", "{{name}}", lorem ipsum; not a
# Markdown link ("[your Costs page](...)").
_PLACEHOLDER = re.compile(
    r"[\[<{]\s*(?:insert|your|company|product|competitor|name|placeholder|todo|tbd|x{2,})\b"
    r"[^\]>}\n]{0,60}[\]>}](?!\()|\blorem ipsum\b|\{\{[^}\n]{0,60}\}\}",
    re.IGNORECASE,
)
ECHO_RUN = 8
"""This many words in a row copied from the instructions is an echo, wherever they are."""
ECHO_PART = 4
"""A line, sentence or JSON string of at least this many words, all of them a passage of
the instructions, is an echo (so is one of three words that is a whole instruction line,
like "Real names only")."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    data: Any = None


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _strings(value: Any) -> Iterator[str]:
    """Every string value in a JSON value (not the keys: they are the schema's)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


class Instructions:
    """The instruction text of a request, to recognise an answer that repeats it.

    ``texts`` are the prompts as sent; JSON strings in them (the data the step quoted)
    are cut out, and a copied passage never spans a cut."""

    def __init__(self, texts: Iterable[str]) -> None:
        segments: list[list[str]] = []
        lines: set[str] = set()
        for text in texts:
            for piece in _QUOTED.split(text or ""):
                segments.append(_words(piece))
                lines.update(" ".join(w) for w in map(_words, _PARTS.split(piece)) if w)
        self._joined = " " + " | ".join(" ".join(words) for words in segments) + " "
        self._lines = lines
        self._runs = {tuple(words[i : i + ECHO_RUN]) for words in segments
                      for i in range(len(words) - ECHO_RUN + 1)}

    def __bool__(self) -> bool:
        return bool(self._lines)

    def echo(self, text: str) -> str:
        """The first passage of ``text`` copied from the instructions ("" if none)."""
        if not self:
            return ""
        for part in _PARTS.split(text):
            words = _words(part)
            if not words:
                continue
            phrase = " ".join(words)
            if (len(words) >= ECHO_PART and f" {phrase} " in self._joined) or (
                    len(words) >= 3 and phrase in self._lines):
                return part.strip(" *_#>-–—\t")
            for i in range(len(words) - ECHO_RUN + 1):
                if tuple(words[i : i + ECHO_RUN]) in self._runs:
                    return " ".join(words[i : i + ECHO_RUN])
        return ""


def placeholder_text(text: str) -> str:
    """Template text a model left unfilled ("[Your name]", "<company>", lorem ipsum)."""
    found = _PLACEHOLDER.search(text)
    return found.group(0) if found else ""


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


def echo_reason(texts: Iterable[str], instructions: Instructions | None) -> str:
    """Why answer texts are no answer (they repeat the instructions or hold placeholder
    text), or "" when they are not."""
    for text in texts:
        # What was copied is not quoted: the reason is shown to the user, and instruction
        # text must not reach the page this way either.
        if instructions and instructions.echo(text):
            return "the answer repeats its instructions instead of answering"
        blank = placeholder_text(text)
        if blank:
            return f"the answer holds placeholder text ({_quote(blank)})"
    return ""


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.match(text[:300]))


def extract_json(text: str) -> Any:
    """Parse JSON from ``text``, tolerating a code fence, prose around it, trailing commas."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    error: Exception | None = None
    for candidate in candidates:
        for variant in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(variant)
            except json.JSONDecodeError as exc:
                error = exc
    raise ValueError(f"not valid JSON ({error})")


def check(text: str, finish_reason: str, schema: dict[str, Any] | None = None,
          instructions: Instructions | None = None) -> Verdict:
    """Whether an answer can be used. With ``instructions``, an answer (any string of a
    JSON answer) that repeats them, or that holds placeholder text, fails like an empty one."""
    if not text.strip():
        return Verdict(False, "the answer was empty")
    if schema is None:
        if finish_reason == "length":
            return Verdict(False, "the answer was cut off at the token limit")
        if is_refusal(text):
            return Verdict(False, "the model refused to answer")
        echoed = echo_reason([text], instructions)
        if echoed:
            return Verdict(False, echoed)
        return Verdict(True)
    try:
        data = extract_json(text)
    except ValueError as exc:
        cut = " (it was cut off at the token limit)" if finish_reason == "length" else ""
        return Verdict(False, f"the answer was {exc}{cut}")
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        return Verdict(False, f"the JSON does not match the schema at {where}: {exc.message}")
    echoed = echo_reason(_strings(data), instructions)
    if echoed:
        return Verdict(False, echoed)
    return Verdict(True, data=data)
