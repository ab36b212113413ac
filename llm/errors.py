"""The small set of errors every provider turns its client's exceptions into.

``str(error)`` is always a sentence a user can act on: what happened, and what to do.
"""

from __future__ import annotations


class LLMError(Exception):
    """Base class. ``tier`` and ``provider`` say who failed."""

    kind = "error"

    def __init__(self, message: str, *, tier: str = "", provider: str = "") -> None:
        super().__init__(message)
        self.tier = tier
        self.provider = provider


class Unreachable(LLMError):
    """The tier's server or model could not be reached or loaded."""

    kind = "unreachable"


class ModelMissing(LLMError):
    kind = "model_missing"


class AuthFailed(LLMError):
    kind = "auth"


class RateLimited(LLMError):
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class TimedOut(LLMError):
    kind = "timeout"


class ContextTooLong(LLMError):
    kind = "context_too_long"


class BadOutput(LLMError):
    """The model answered, but not with something usable (invalid JSON, empty, refused)."""

    kind = "bad_output"
