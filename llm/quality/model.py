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
FORMAT = 2


@dataclass(frozen=True)
class Artefact:
    d_mean: np.ndarray
    d_scale: np.ndarray
    d_w: np.ndarray
    d_b: float
    nb_ratio: np.ndarray
    s_mean: np.ndarray  # the second difficulty model: hand features + n-gram weights
    s_scale: np.ndarray
    s_w: np.ndarray
    s_b: float
    s_ngram: np.ndarray  # its weight of each hashed n-gram bucket
    d_blend: float  # share of the second model in the difficulty logit (0 … 1)
    c_mean: np.ndarray
    c_scale: np.ndarray
    c_w: np.ndarray
    c_b: float
    lp_mean: np.ndarray
    lp_w: np.ndarray
    meta: dict[str, Any]

    def save(self, path: Path = ARTEFACT) -> None:
        arrays = {k: np.asarray(getattr(self, k)) for k in (
            "d_mean", "d_scale", "d_w", "nb_ratio", "s_mean", "s_scale", "s_w", "c_mean",
            "c_scale", "c_w", "lp_mean", "lp_w")}
        arrays["nb_ratio"] = arrays["nb_ratio"].astype(np.float32)
        arrays["s_ngram"] = np.asarray(self.s_ngram, dtype=np.float32)
        arrays["d_b"] = np.asarray([self.d_b])
        arrays["s_b"] = np.asarray([self.s_b])
        arrays["d_blend"] = np.asarray([self.d_blend])
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
                nb_ratio=z["nb_ratio"].astype(np.float64), s_mean=z["s_mean"],
                s_scale=z["s_scale"], s_w=z["s_w"], s_b=float(z["s_b"][0]),
                s_ngram=z["s_ngram"].astype(np.float64), d_blend=float(z["d_blend"][0]),
                c_mean=z["c_mean"],
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
    """Hand features plus the n-gram Naive-Bayes score: the first difficulty model's input."""
    return np.append(cached_prompt_features(prompt), nb_score(prompt, ratio))


def confidence_features(prompt: str, answer: str) -> np.ndarray:
    return np.concatenate([answer_features(prompt, answer), cached_prompt_features(prompt)])


def difficulty_logit(prompt: str, model: Artefact) -> float:
    """A blend of two logistic regressions on the same prompt: (1) hand features plus one
    Naive-Bayes n-gram score, (2) hand features plus a weight per hashed n-gram. Both
    estimate the same probability; their log-odds are averaged with ``d_blend``."""
    x = cached_prompt_features(prompt)
    idx, values = hashed_ngrams(prompt, buckets=len(model.nb_ratio))
    nb = float(values @ model.nb_ratio[idx]) if len(idx) else 0.0
    z1 = float(((np.append(x, nb) - model.d_mean) / model.d_scale) @ model.d_w + model.d_b)
    if model.d_blend <= 0.0:
        return z1
    ngram = float(values @ model.s_ngram[idx]) if len(idx) else 0.0
    z2 = float(((x - model.s_mean) / model.s_scale) @ model.s_w + model.s_b + ngram)
    return (1.0 - model.d_blend) * z1 + model.d_blend * z2


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
