"""The user's thumbs move the router's thresholds, within bounds.

Thresholds fixed on public data drift on a user's own kind of prompt (ROUTING.md, lesson
4), so every thumbs up or down under an answer is booked on the ledger row of the attempt
that gave it, and the router reads them back here, per purpose and per answering tier.

The rule (documented in the README and shown on Settings): the weak tier's success rate on
a purpose has a Beta prior centred on the quality target with the weight of
``PRIOR_WEIGHT`` answers; each thumbs up is a success and each thumbs down a failure. The
posterior mean ``m`` moves the thresholds of that tier's step up by
``shift = clip(GAIN * (m - target), -MAX_SHIFT, MAX_SHIFT)``: a tier the user keeps
approving keeps more of the work (its difficulty threshold rises, its confidence
threshold falls), a tier the user keeps rejecting hands work up sooner. With no feedback
the shift is 0; it can never move a threshold by more than ``MAX_SHIFT``. Settings can
reset it: only feedback given after the reset counts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from store.db import Database
from store.models import VERDICT_VALUES, LLMCallRow

PRIOR_WEIGHT = 8.0
GAIN = 2.0
MAX_SHIFT = 0.2
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Verdicts:
    up: int
    down: int


def shift(verdicts: Verdicts, target: float) -> float:
    """How far the thresholds of a tier's step move, from the user's verdicts on it."""
    alpha = PRIOR_WEIGHT * target + verdicts.up
    beta = PRIOR_WEIGHT * (1.0 - target) + verdicts.down
    mean = alpha / (alpha + beta)
    return max(-MAX_SHIFT, min(MAX_SHIFT, GAIN * (mean - target)))


def verdicts(db: Database, since: datetime | None = None) -> dict[tuple[str, str], Verdicts]:
    """Thumbs up and down per (purpose, answering tier), given after ``since``."""
    query = (
        select(LLMCallRow.purpose, LLMCallRow.tier, LLMCallRow.feedback, func.count())
        .where(LLMCallRow.feedback.in_(VERDICT_VALUES))  # the verdict index (store.models)
        .group_by(LLMCallRow.purpose, LLMCallRow.tier, LLMCallRow.feedback)
    )
    if since is not None:
        query = query.where(LLMCallRow.feedback_at >= since)
    found: dict[tuple[str, str], list[int]] = {}
    with db.read() as s:
        for purpose, tier, feedback, count in s.execute(query).all():
            counts = found.setdefault((purpose, tier), [0, 0])
            counts[0 if feedback else 1] += int(count)
    return {key: Verdicts(up, down) for key, (up, down) in found.items()}


class FeedbackShifts:
    """The shifts a router applies, read from the ledger at most every ``CACHE_SECONDS``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._read_at = -CACHE_SECONDS
        self._since: datetime | None = None
        self._verdicts: dict[tuple[str, str], Verdicts] = {}

    def for_tier(self, purpose: str, tier: str, target: float,
                 since: datetime | None = None) -> float:
        with self._lock:
            stale = time.monotonic() - self._read_at > CACHE_SECONDS or since != self._since
            if stale:
                try:
                    self._verdicts = verdicts(self._db, since)
                except Exception:  # feedback only tunes; a failed read must not stop a call
                    self._verdicts = {}
                self._read_at, self._since = time.monotonic(), since
            found = self._verdicts.get((purpose, tier))
        return shift(found, target) if found else 0.0

    def forget(self) -> None:
        """Read again on the next call (after new feedback or a reset)."""
        with self._lock:
            self._read_at = -CACHE_SECONDS
