"""The shipped artefact (``artefact.npz``) and the two scoring functions.

The artefact is one compressed NumPy archive (``allow_pickle=False``): the weights of two
logistic regressions, the Naive-Bayes log-count ratios of the hashed word n-grams, and a
JSON document (``meta``) with the feature names, the training summary and the threshold
tables. It is read once, on the first call, under a lock; afterwards every call only reads
it, so the functions are safe to call from any thread.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from llm.quality.features import (
    answer_features,
    hashed_ngrams,
    logprob_features,
    prompt_features,
)

ARTEFACT = Path(__file__).resolve().parent / "artefact.npz"
FORMAT = 1


@dataclass(frozen=True)
class Artefact:
    d_mean: np.ndarray
    d_scale: np.ndarray
    d_w: np.ndarray
    d_b: float
    nb_ratio: np.ndarray
    c_mean: np.ndarray
    c_scale: np.ndarray
    c_w: np.ndarray
    c_b: float
    lp_mean: np.ndarray
    lp_w: np.ndarray
    meta: dict[str, Any]

    def save(self, path: Path = ARTEFACT) -> None:
        arrays = {k: np.asarray(getattr(self, k)) for k in (
            "d_mean", "d_scale", "d_w", "nb_ratio", "c_mean", "c_scale", "c_w", "lp_mean",
            "lp_w")}
        arrays["d_b"] = np.asarray([self.d_b])
        arrays["c_b"] = np.asarray([self.c_b])
        arrays["meta"] = np.frombuffer(
            json.dumps(self.meta, sort_keys=True, separators=(",", ":")).encode(), dtype=np.uint8)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path = ARTEFACT) -> Artefact:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path.name} has format {meta.get('format')}, not {FORMAT}: "
                                 "rebuild it with `python -m llm.quality.train`.")
            return cls(
                d_mean=z["d_mean"], d_scale=z["d_scale"], d_w=z["d_w"], d_b=float(z["d_b"][0]),
                nb_ratio=z["nb_ratio"].astype(np.float64), c_mean=z["c_mean"],
                c_scale=z["c_scale"], c_w=z["c_w"], c_b=float(z["c_b"][0]),
                lp_mean=z["lp_mean"], lp_w=z["lp_w"], meta=meta,
            )


_lock = threading.Lock()
_loaded: Artefact | None = None


def artefact() -> Artefact:
    """The artefact, read from disk on the first call only (thread-safe)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = Artefact.load()
    return _loaded


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@lru_cache(maxsize=32)
def cached_prompt_features(prompt: str) -> np.ndarray:
    """``prompt_features``, kept for the last few prompts: the router scores a prompt's
    difficulty, then the weak answer's confidence, and the second call reuses the first's
    work. The array is read-only."""
    x = prompt_features(prompt)
    x.setflags(write=False)
    return x


def nb_score(prompt: str, ratio: np.ndarray) -> float:
    idx, values = hashed_ngrams(prompt, buckets=len(ratio))
    return float(values @ ratio[idx]) if len(idx) else 0.0


def difficulty_features(prompt: str, ratio: np.ndarray) -> np.ndarray:
    """Hand features plus the n-gram Naive-Bayes score: the difficulty model's input."""
    return np.append(cached_prompt_features(prompt), nb_score(prompt, ratio))


def confidence_features(prompt: str, answer: str) -> np.ndarray:
    return np.concatenate([answer_features(prompt, answer), cached_prompt_features(prompt)])


def difficulty_logit(prompt: str, model: Artefact) -> float:
    x = difficulty_features(prompt, model.nb_ratio)
    return float(((x - model.d_mean) / model.d_scale) @ model.d_w + model.d_b)


def confidence_logit(prompt: str, answer: str, logprobs: list[float] | None,
                     model: Artefact) -> float:
    x = confidence_features(prompt, answer)
    z = float(((x - model.c_mean) / model.c_scale) @ model.c_w + model.c_b)
    lp = logprob_features(logprobs)
    if lp[0]:  # reported: the answer's token probabilities move it, centred on a typical answer
        z += float((lp[1:] - model.lp_mean) @ model.lp_w)
    return z


def difficulty(prompt: str) -> float:
    return _sigmoid(difficulty_logit(prompt, artefact()))


def confidence(prompt: str, answer: str, logprobs: list[float] | None = None) -> float:
    return _sigmoid(confidence_logit(prompt, answer, logprobs, artefact()))
