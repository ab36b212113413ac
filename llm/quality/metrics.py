"""Replay measures of a router on recorded outcomes (RouteLLM, arXiv 2406.18665).

A router gives each prompt a score; the prompts with the highest scores go to the strong
model. Sweeping the cut-off traces quality against the share of strong calls:

- ``share_for(target)`` — the smallest share of strong calls whose quality reaches
  ``target`` × the all-strong quality (RouteLLM's "calls needed for x % of GPT-4");
- ``apgr`` — average performance gap recovered: the area under
  PGR(share) = (quality(share) − weak) / (strong − weak) over shares 0…1, here integrated
  exactly over every cut-off (RouteLLM samples 10 cut-offs).

Tied scores are split evenly (the curve is linear across a tie), which is the expected
result of breaking ties at random: a method that gives every prompt the same score scores
like random routing, not like a lucky order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    share: np.ndarray  # strong-call share at each cut-off, 0 … 1
    quality: np.ndarray  # mean score at that share
    weak: float
    strong: float

    def share_for(self, target: float = 0.95) -> float:
        """Smallest strong share reaching ``target`` × all-strong quality (1.0 if never)."""
        goal = target * self.strong
        reached = np.nonzero(self.quality >= goal - 1e-12)[0]
        if not len(reached):
            return 1.0
        i = int(reached[0])
        if i == 0:
            return 0.0
        x0, x1 = self.share[i - 1], self.share[i]
        q0, q1 = self.quality[i - 1], self.quality[i]
        return float(x0 + (x1 - x0) * (goal - q0) / (q1 - q0)) if q1 != q0 else float(x1)

    def quality_at(self, share: float) -> float:
        return float(np.interp(share, self.share, self.quality))

    @property
    def apgr(self) -> float:
        gap = self.strong - self.weak
        if abs(gap) < 1e-12:
            return float("nan")
        pgr = (self.quality - self.weak) / gap
        return float(np.sum((pgr[1:] + pgr[:-1]) * np.diff(self.share)) / 2)


def curve(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> Curve:
    """The quality–share curve of sending the highest ``scores`` to the strong model."""
    scores = np.asarray(scores, dtype=np.float64)
    weak = np.asarray(weak, dtype=np.float64)
    strong = np.asarray(strong, dtype=np.float64)
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    delta = (strong - weak)[order]
    sorted_scores = scores[order]
    # cut-offs only between different scores: a tie is crossed linearly
    ends = np.nonzero(np.diff(sorted_scores) != 0)[0] + 1
    cuts = np.concatenate([[0], ends, [n]]) if n else np.array([0])
    gained = np.concatenate([[0.0], np.cumsum(delta)])[cuts]
    base = float(weak.sum())
    return Curve(
        share=cuts / max(n, 1),
        quality=(base + gained) / max(n, 1),
        weak=float(weak.mean()) if n else 0.0,
        strong=float(strong.mean()) if n else 0.0,
    )


def random_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """Random routing, in expectation: a straight line from all-weak to all-strong."""
    w, s = float(np.mean(weak)), float(np.mean(strong))
    return Curve(share=np.array([0.0, 1.0]), quality=np.array([w, s]), weak=w, strong=s)


def oracle_scores(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """What a perfect router would score: the strong model's gain on each prompt."""
    return np.asarray(strong, dtype=np.float64) - np.asarray(weak, dtype=np.float64)


def fixed_curve(weak: np.ndarray, strong: np.ndarray, tier: str = "weak") -> Curve:
    """A fixed table: every prompt of the purpose goes to one tier. Its only other
    setting is moving the whole purpose to the other tier, so its curve is a step."""
    w, s = float(np.mean(weak)), float(np.mean(strong))
    if tier == "strong":
        return Curve(share=np.array([1.0, 1.0]), quality=np.array([s, s]), weak=w, strong=s)
    return Curve(share=np.array([0.0, 1.0 - 1e-9, 1.0]), quality=np.array([w, w, s]),
                 weak=w, strong=s)
