"""Is an answer good enough to use? Empty, truncated, refused or schema-invalid is not.

``check`` says why an answer fails, in words the route reason can carry;
``extract_json`` salvages JSON a model wrapped in prose or a code fence (the cheap
"repair" before asking the model again).
"""

from __future__ import annotations

import json
import re
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


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    data: Any = None


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


def check(text: str, finish_reason: str, schema: dict[str, Any] | None = None) -> Verdict:
    if not text.strip():
        return Verdict(False, "the answer was empty")
    if schema is None:
        if finish_reason == "length":
            return Verdict(False, "the answer was cut off at the token limit")
        if is_refusal(text):
            return Verdict(False, "the model refused to answer")
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
    return Verdict(True, data=data)
