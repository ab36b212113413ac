"""Fit a conversation into a model's context window by counting tokens.

The system prompt (with its extra sections, such as the activity digest) always goes in,
and so does the newest message; older messages drop out first. The result says how full
the window is, whether the count is exact (the model's own tokenizer) or an estimate,
and what was left out.

A ``ContextSpec`` is the conversation before fitting: the router keeps it with the
request, scans its full text for private data once, and fits it separately to the window
of every tier it tries (``spec.fit(count, window)``), so a fallback to a model with a
smaller window is never sent a context fitted for a bigger one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

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


def system_text(system_prompt: str, sections: Sequence[str]) -> str:
    """The system message: the prompt, then each non-blank section, a blank line apart."""
    return "\n\n".join([system_prompt.strip(), *(s.strip() for s in sections if s.strip())])


@dataclass(frozen=True)
class ContextSpec:
    """A conversation before it is fitted to any window.

    ``history`` is oldest first; ``sections`` are optional background, most important
    first (see ``fit_context``). ``total_messages`` counts the whole conversation when
    ``history`` holds only its newest part.
    """

    system_prompt: str
    sections: tuple[str, ...] = ()
    history: tuple[Turn, ...] = ()
    reserve_for_reply: int = 512  # give the request's max_tokens
    total_messages: int | None = None

    def __post_init__(self) -> None:  # lists are accepted, kept as tuples
        object.__setattr__(self, "sections", tuple(self.sections))
        object.__setattr__(self, "history", tuple(self.history))

    def messages(self) -> list[dict[str, str]]:
        """Every message, nothing left out: what a privacy scan must see."""
        system = {"role": "system", "content": system_text(self.system_prompt, self.sections)}
        return [system, *({"role": t.role, "content": t.content} for t in self.history)]

    def essential(self) -> list[dict[str, str]]:
        """What fitting never leaves out: the system prompt (without its optional
        sections) and the newest message. A window too small for these is too small."""
        messages = [{"role": "system", "content": self.system_prompt.strip()}]
        if self.history:
            messages.append({"role": self.history[-1].role, "content": self.history[-1].content})
        return messages

    def pieces(self) -> list[str]:
        """The texts the system message is joined from (prompt first, blank sections out)."""
        return [self.system_prompt.strip(), *(s.strip() for s in self.sections if s.strip())]

    def map_text(self, change: Callable[[str], str]) -> ContextSpec:
        """The same spec with ``change`` applied to every text (e.g. a redaction)."""
        return replace(
            self,
            system_prompt=change(self.system_prompt.strip()),
            sections=tuple(change(s) for s in self.pieces()[1:]),
            history=tuple(Turn(t.role, change(t.content)) for t in self.history),
        )

    def fit(self, count: TokenCounter, window: int) -> FittedContext:
        """Fit for a model whose tokens ``count`` gives and whose window is ``window``."""
        return fit_context(
            self.system_prompt, self.sections, self.history, count=count, window=window,
            reserve_for_reply=self.reserve_for_reply, total_messages=self.total_messages,
        )


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
        system = system_text(system_prompt, kept_sections)
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
