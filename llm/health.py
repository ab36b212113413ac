"""Which tiers can answer right now: health checks cached briefly, cool-down after failures.

A tier that fails ``cooldown_after`` times in a row is skipped for ``cooldown_s``
seconds; after that one call is let through, and a success closes the circuit again.
A tier that says when to come back (HTTP 429 with ``Retry-After``) rests at least that
long at once, so the next turns do not knock on a door that asked for quiet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from llm.providers.base import Health, Provider


@dataclass
class _TierState:
    health: Health | None = None
    checked_at: float = float("-inf")
    failures: int = 0
    cooling_until: float = float("-inf")
    last_error: str = ""
    resting_because: str = "it failed repeatedly"


class TierHealth:
    def __init__(
        self,
        ttl_s: float = 15.0,
        cooldown_after: int = 3,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.cooldown_after = cooldown_after
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._states: dict[str, _TierState] = {}
        self._lock = threading.Lock()

    def _state(self, tier: str) -> _TierState:
        return self._states.setdefault(tier, _TierState())

    def cooling_for(self, tier: str) -> float:
        """Seconds left in the tier's cool-down (0 when it may be tried)."""
        with self._lock:
            return max(0.0, self._state(tier).cooling_until - self._clock())

    def resting_reason(self, tier: str) -> str:
        """Why the tier rests, for a sentence ("" when it does not)."""
        seconds = self.cooling_for(tier)
        if not seconds:
            return ""
        with self._lock:
            why = self._state(tier).resting_because
        return f"{why} and rests for {seconds:.0f} s more."

    def check(self, tier: str, provider: Provider) -> Health:
        """The provider's health, from the cache when it is fresh."""
        with self._lock:
            state = self._state(tier)
            if state.health is not None and self._clock() - state.checked_at < self.ttl_s:
                return state.health
        health = provider.health()  # outside the lock: it may take a network round trip
        with self._lock:
            state.health, state.checked_at = health, self._clock()
        return health

    def record_failure(self, tier: str, error: str, retry_after: float | None = None) -> bool:
        """Count a failure; returns True when this one put the tier into cool-down.

        ``retry_after``: the tier asked not to be called again for that many seconds.
        """
        with self._lock:
            state = self._state(tier)
            state.failures += 1
            state.last_error = error
            state.checked_at = float("-inf")  # re-check health next time
            now = self._clock()
            if retry_after is not None and retry_after > 0:
                state.cooling_until = max(state.cooling_until, now + retry_after)
                state.resting_because = "it asked to be called again later (rate limit)"
                state.failures = 0
                return True
            if state.failures >= self.cooldown_after:
                state.cooling_until = now + self.cooldown_s
                state.resting_because = "it failed repeatedly"
                state.failures = 0
                return True
            return False

    def record_success(self, tier: str) -> None:
        with self._lock:
            state = self._state(tier)
            state.failures = 0
            state.cooling_until = float("-inf")

    def forget(self) -> None:
        with self._lock:
            self._states.clear()
