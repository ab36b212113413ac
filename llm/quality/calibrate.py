"""Threshold tables: from a quality target to the difficulty and confidence thresholds.

Built at training time (``build_step``) from out-of-fold scores on training rows, stored in
the artefact, and read at run time by ``llm.quality.thresholds``.

The policy the thresholds drive, for one step (weak tier → strong tier):

1. before the call, a prompt with ``difficulty(prompt) > difficulty`` goes straight up;
2. otherwise the weak tier answers, and an answer with
   ``confidence(prompt, answer, logprobs) < confidence`` is escalated.

Quality is the share of right answers (or the mean graded score) relative to sending
everything to the strong tier. For each calibration set the (difficulty, confidence)
pairs on a grid are walked greedily from "never go up" (1.0, 0.0) towards "always"
(0.0, 1.0): each move lowers the difficulty threshold or raises the confidence threshold,
whichever buys the most quality per unit of cost, where cost = strong calls
+ ``WEAK_CALL_COST`` × weak calls. A target maps to the first point of that path that
reaches it, so both thresholds are monotone in the target. ``difficulty_alone`` — for a
caller with no answer check — is the highest threshold that reaches the target on every
calibration set of the step (the most cautious of them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

WEAK_CALL_COST = 0.1  # one weak-tier call, in strong-tier calls (latency more than money)
TARGETS = [round(0.5 + 0.005 * i, 3) for i in range(101)]  # 0.500 … 1.000
GRID = 81


def _grid(values: np.ndarray, descending: bool) -> np.ndarray:
    qs = np.unique(np.quantile(values, np.linspace(0, 1, GRID)))
    if descending:
        return np.concatenate([[1.0], qs[::-1], [0.0]])
    return np.concatenate([[0.0], qs, [1.0]])


def _outcome(d: np.ndarray, c: np.ndarray | None, w: np.ndarray, s: np.ndarray, td: float,
             tc: float) -> tuple[float, float, float]:
    """(quality ratio, strong share, weak share) of the two-stage policy at (td, tc)."""
    pre = d > td
    up = pre | (~pre & (c < tc)) if c is not None else pre
    quality = float(np.where(up, s, w).mean())
    strong = float(s.mean())
    ratio = quality / strong if strong > 0 else 1.0
    return ratio, float(up.mean()), float((~pre).mean())


def difficulty_curve(d: np.ndarray, w: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
    grid = _grid(d, descending=True)
    rows = [_outcome(d, None, w, s, float(t), 0.0) for t in grid]
    return {"threshold": [round(float(t), 6) for t in grid],
            "quality": [round(r[0], 5) for r in rows], "share": [round(r[1], 5) for r in rows]}


def confidence_curve(c: np.ndarray, w: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
    grid = _grid(c, descending=False)
    d = np.zeros_like(c)
    rows = [_outcome(d, c, w, s, 1.0, float(t)) for t in grid]
    return {"threshold": [round(float(t), 6) for t in grid],
            "quality": [round(r[0], 5) for r in rows], "share": [round(r[1], 5) for r in rows]}


def greedy_path(d: np.ndarray, c: np.ndarray, w: np.ndarray, s: np.ndarray,
                lookahead: int = 6) -> list[dict[str, float]]:
    td_grid = _grid(d, descending=True)
    tc_grid = _grid(c, descending=False)
    i = j = 0

    def point(i: int, j: int) -> dict[str, float]:
        q, strong, weak = _outcome(d, c, w, s, float(td_grid[i]), float(tc_grid[j]))
        return {"difficulty": round(float(td_grid[i]), 6),
                "confidence": round(float(tc_grid[j]), 6),
                "quality": round(q, 5), "strong_share": round(strong, 5),
                "weak_share": round(weak, 5), "cost": strong + WEAK_CALL_COST * weak}

    path = [point(0, 0)]
    while i < len(td_grid) - 1 or j < len(tc_grid) - 1:
        here = path[-1]
        best = None
        for k in range(1, lookahead + 1):
            for ni, nj in ((i + k, j), (i, j + k)):
                if ni >= len(td_grid) or nj >= len(tc_grid):
                    continue
                cand = point(ni, nj)
                dq = cand["quality"] - here["quality"]
                dc = cand["cost"] - here["cost"]
                gain = dq / dc if dc > 1e-12 else (np.inf if dq >= 0 else -np.inf)
                key = (gain, -k)
                if best is None or key > best[0]:
                    best = (key, ni, nj, cand)
        assert best is not None
        _, i, j, cand = best
        path.append(cand)
    return path


def _first(path: list[dict[str, float]], target: float) -> dict[str, float]:
    for p in path:
        if p["quality"] >= target - 1e-12:
            return p
    return path[-1]


def _alone(curve: dict[str, list[float]], target: float) -> float:
    for t, q in zip(curve["threshold"], curve["quality"], strict=True):
        if q >= target - 1e-12:
            return t
    return 0.0


def build_step(step: str, difficulty_sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
               cascade_sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
               ) -> dict[str, Any]:
    """The stored table for one step.

    ``difficulty_sets``: name → (difficulty scores, weak scores, strong scores);
    ``cascade_sets``: name → (difficulty, confidence, weak, strong) where answers exist."""
    curves: dict[str, Any] = {}
    for name, (d, w, s) in difficulty_sets.items():
        curves[name] = {"n": int(len(d)), "weak": round(float(w.mean()), 5),
                        "strong": round(float(s.mean()), 5),
                        "difficulty": difficulty_curve(d, w, s)}
    paths = {}
    for name, (d, c, w, s) in cascade_sets.items():
        curves.setdefault(name, {"n": int(len(d)), "weak": round(float(w.mean()), 5),
                                 "strong": round(float(s.mean()), 5),
                                 "difficulty": difficulty_curve(d, w, s)})
        curves[name]["confidence"] = confidence_curve(c, w, s)
        paths[name] = greedy_path(d, c, w, s)
    # one cascade set per step today; with several, the most cautious point is kept
    table: dict[str, list[float]] = {k: [] for k in (
        "difficulty", "confidence", "difficulty_alone", "quality", "strong_share",
        "weak_share")}
    for target in TARGETS:
        alone = min(_alone(c["difficulty"], target) for c in curves.values())
        table["difficulty_alone"].append(alone)
        if paths:
            points = [_first(p, target) for p in paths.values()]
            table["difficulty"].append(min(p["difficulty"] for p in points))
            table["confidence"].append(max(p["confidence"] for p in points))
            table["quality"].append(min(p["quality"] for p in points))
            table["strong_share"].append(max(p["strong_share"] for p in points))
            table["weak_share"].append(max(p["weak_share"] for p in points))
        else:
            table["difficulty"].append(alone)
            table["confidence"].append(0.0)
            table["quality"].append(None)
            table["strong_share"].append(None)
            table["weak_share"].append(None)
    return {"step": step, "targets": TARGETS, "table": table, "curves": curves,
            "paths": {k: [{kk: vv for kk, vv in p.items() if kk != "cost"} for p in v]
                      for k, v in paths.items()},
            "cascade_sets": sorted(cascade_sets), "difficulty_sets": sorted(difficulty_sets)}
