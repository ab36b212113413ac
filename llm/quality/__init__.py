"""How able is a tier? Two small learned estimators and the thresholds that use them.

Public functions (other tools call them; names and signatures are fixed):

``difficulty(prompt: str) -> float``
    Before any call: the estimated probability, in [0, 1], that a weak tier's answer to
    ``prompt`` is worse than a strong tier's (label "gain": strong right and weak wrong).
    Higher = harder.

``confidence(prompt: str, answer: str, logprobs: list[float] | None = None) -> float``
    After a weak tier answered: the estimated probability, in [0, 1], that ``answer`` is
    acceptable (right). ``logprobs`` are the answer's per-token log-probabilities where the
    tier reports them; their quantiles (not only their mean) move the estimate.

``thresholds(target: float = 0.95, step: str = "local→cloud") -> Thresholds``
    The thresholds that keep ``target`` × the strong tier's quality on the calibration
    data (training splits only) for one step, ``"embedded→local"`` or ``"local→cloud"``
    (ASCII ``"->"`` works too). ``target`` is clamped to [0.5, 1.0] and rounded *up* to the
    table's 0.005 grid, so every field is monotone in it. Use:

    - ``difficulty(prompt) > t.difficulty``  → skip the weak tier, call the strong one;
    - otherwise call the weak tier; ``confidence(prompt, answer, logprobs) < t.confidence``
      → escalate to the strong tier;
    - a caller that cannot check the answer (e.g. before a streamed reply) uses
      ``difficulty(prompt) > t.difficulty_alone`` instead.

    A difficulty threshold of 1.0 means "never before the call"; a confidence threshold of
    0.0 means "never escalate"; 0.0 / 1.0 mean "always". ``t.expected_quality``,
    ``t.strong_share`` and ``t.weak_share`` are what the pair achieved on the calibration
    data; ``t.source`` names it. These are starting points: thresholds fixed on training
    data drift on new kinds of prompt (ROUTING.md, lesson 4), so the router should move
    them with live outcomes.

Everything is deterministic and runs on numpy alone: the artefact (``artefact.npz``, built
by ``python -m llm.quality.train`` from ``data/``) is read once, lazily, under a lock, and
``import llm.quality`` itself loads neither numpy nor the artefact. The data, its licences
and how it was extracted: ``data/README.md``; the replay: ``python -m bench routing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

STEPS = ("embedded→local", "local→cloud")

__all__ = ["STEPS", "Thresholds", "confidence", "difficulty", "thresholds"]


def difficulty(prompt: str) -> float:
    """Probability that the weak tier's answer to ``prompt`` is worse than the strong one's."""
    from llm.quality.model import difficulty as score

    return score(prompt)


def confidence(prompt: str, answer: str, logprobs: list[float] | None = None) -> float:
    """Probability that the weak tier's ``answer`` to ``prompt`` is acceptable."""
    from llm.quality.model import confidence as score

    return score(prompt, answer, logprobs)


@dataclass(frozen=True)
class Thresholds:
    step: str
    target: float  # the grid target actually used (the asked one, rounded up)
    difficulty: float  # before the call: difficulty above this → strong tier at once
    confidence: float  # after the weak answer: confidence below this → escalate
    difficulty_alone: float  # the difficulty threshold when no answer check follows
    expected_quality: float | None  # quality / all-strong quality on the calibration data
    strong_share: float | None  # share of prompts that ended on the strong tier there
    weak_share: float | None  # share of prompts the weak tier was asked there
    source: str  # the calibration data


def _step(step: str) -> str:
    normal = step.replace("->", "→").replace(" ", "").lower()
    if normal not in STEPS:
        raise ValueError(f"Unknown step {step!r}: use one of {', '.join(STEPS)}.")
    return normal


def thresholds(target: float = 0.95, step: str = "local→cloud") -> Thresholds:
    return _thresholds(round(min(max(float(target), 0.5), 1.0), 6), _step(step))


@lru_cache(maxsize=512)
def _thresholds(target: float, step: str) -> Thresholds:
    from llm.quality.model import artefact

    stored = artefact().meta["thresholds"][step]
    targets = stored["targets"]
    i = next((k for k, t in enumerate(targets) if t >= target - 1e-9), len(targets) - 1)
    table = stored["table"]
    cascade = ", ".join(stored.get("cascade_sets") or []) or "none"
    alone = ", ".join(sorted(stored.get("curves") or {}))
    return Thresholds(
        step=step,
        target=targets[i],
        difficulty=float(table["difficulty"][i]),
        confidence=float(table["confidence"][i]),
        difficulty_alone=float(table["difficulty_alone"][i]),
        expected_quality=table["quality"][i],
        strong_share=table["strong_share"][i],
        weak_share=table["weak_share"][i],
        source=f"training splits, out-of-fold scores; difficulty alone: {alone}; "
               f"difficulty + confidence: {cascade}",
    )
