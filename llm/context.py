"""Fit a conversation into a model's context window by counting tokens.

The system prompt (with its extra sections, such as the activity digest) always goes in,
and so does the newest message; older messages drop out first. The result says how full
the window is, whether the count is exact (the model's own tokenizer) or an estimate,
and what was left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# Chat templates wrap each message in a few special tokens (role markers, separators).
PER_MESSAGE_OVERHEAD = 4

TokenCounter = Callable[[str], tuple[int, bool]]


@dataclass(frozen=True)
class Turn:
    role: str
    content: str


@dataclass
class FittedContext:
    messages: list[dict[str, str]]
    used_tokens: int
    window: int
    reserved_for_reply: int
    exact: bool
    dropped_messages: int = 0
    truncated_newest: bool = False
    dropped_sections: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def fill(self) -> float:
        """How full the window is, counting the room kept for the reply (0..1)."""
        return min(1.0, (self.used_tokens + self.reserved_for_reply) / self.window)

    def describe(self) -> str:
        how = "" if self.exact else "about "
        text = (
            f"Context {how}{self.used_tokens:,} of {self.window:,} tokens "
            f"({self.fill:.0%} with room for the reply)"
        )
        if self.dropped_messages:
            text += f"; {self.dropped_messages:,} older messages left out"
        if self.dropped_sections:
            text += f"; {self.dropped_sections} background section(s) left out"
        if self.truncated_newest:
            text += "; your message was cut to fit"
        return "; ".join([text, *self.notes]) + "."


def fit_context(
    system_prompt: str,
    sections: Sequence[str],
    history: Sequence[Turn],
    *,
    count: TokenCounter,
    window: int,
    reserve_for_reply: int,
    total_messages: int | None = None,
) -> FittedContext:
    """Fit ``history`` (oldest first) under the system prompt and its ``sections``.

    ``sections`` are optional background, most important first; when even the newest
    message would not fit beside them, they are left out from the last one backwards.
    ``total_messages`` (if the caller loaded only the newest part of a longer history)
    makes the "left out" count honest.
    """
    kept_sections = [s.strip() for s in sections if s.strip()]
    newest_tokens = count(history[-1].content)[0] + PER_MESSAGE_OVERHEAD if history else 0
    while True:
        system = "\n\n".join([system_prompt.strip(), *kept_sections])
        system_tokens, exact = count(system)
        used = system_tokens + PER_MESSAGE_OVERHEAD
        budget = window - reserve_for_reply - used
        if budget >= min(newest_tokens, window // 4) or not kept_sections:
            break
        kept_sections.pop()
    kept: list[Turn] = []
    truncated = False
    for index, turn in enumerate(reversed(history)):
        tokens, turn_exact = count(turn.content)
        exact = exact and turn_exact
        cost = tokens + PER_MESSAGE_OVERHEAD
        if cost <= budget:
            kept.append(turn)
            budget -= cost
            used += cost
            continue
        if index == 0 and budget > PER_MESSAGE_OVERHEAD + 16:
            # The newest message alone is too long: keep its end, where the question usually is.
            room = budget - PER_MESSAGE_OVERHEAD
            share = room / max(tokens, 1)
            cut = turn.content[-max(1, int(len(turn.content) * share * 0.9)) :]
            kept.append(Turn(turn.role, cut))
            used += count(cut)[0] + PER_MESSAGE_OVERHEAD
            truncated = True
        break
    dropped = (total_messages if total_messages is not None else len(history)) - len(kept)
    messages = [{"role": "system", "content": system}]
    messages += [{"role": t.role, "content": t.content} for t in reversed(kept)]
    return FittedContext(
        messages=messages,
        used_tokens=used,
        window=window,
        reserved_for_reply=reserve_for_reply,
        exact=exact,
        dropped_messages=dropped,
        truncated_newest=truncated,
        dropped_sections=len([s for s in sections if s.strip()]) - len(kept_sections),
    )
