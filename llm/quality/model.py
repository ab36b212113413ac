"""The shipped artefact (``artefact.npz``) and the two scoring functions.

The artefact is one compressed NumPy archive (``allow_pickle=False``): the weights of the
difficulty components (logistic regressions; the Naive-Bayes log-count ratios of the
hashed word n-grams), the empirical CDFs that turn each component's score into a
percentile, the confidence model, and a JSON document (``meta``) with the feature names,
the components of the difficulty ensemble, the training summary and the threshold tables.
The archive is written with fixed member dates, so the same weights give the same bytes.
It is read once, on the first call, under a lock; afterwards every call only reads it, so
the functions are safe to call from any thread.
"""

from __future__ import annotations

import io
import json
import math
import threading
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from llm.quality.features import (
    PROMPT_FEATURES,
    answer_features,
    check_features,
    hashed_ngrams,
    logprob_features,
    numbers_in,
    prompt_features,
    window,
)

ARTEFACT = Path(__file__).resolve().parent / "artefact.npz"
FORMAT = 4  # 4: the confidence model reads features.CHECK_FEATURES too (fifth pass)
# The difficulty ensemble's possible components (``meta["difficulty_components"]`` names the
# ones in use): each gives a score, higher = harder, turned into a percentile of the
# training rows' scores (of the prompt's kind, when ``meta["cdf_by_kind"]``).
COMPONENTS = ("length", "hand", "hand_nb", "ngram", "blend")


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
    d_blend: float  # share of the second model in the "blend" component (0 … 1)
    h_mean: np.ndarray  # hand features alone (a third logistic regression)
    h_scale: np.ndarray
    h_w: np.ndarray
    h_b: float
    cdf: np.ndarray  # (components in use, kinds, quantiles): each one's training quantiles
    p_a: float  # difficulty logit = p_a × (mean percentile) + p_b  (p_a > 0)
    p_b: float
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
            "c_scale", "c_w", "lp_mean", "lp_w", "h_mean", "h_scale", "h_w", "cdf")}
        arrays["h_b"] = np.asarray([self.h_b])
        arrays["p_ab"] = np.asarray([self.p_a, self.p_b])
        arrays["nb_ratio"] = arrays["nb_ratio"].astype(np.float32)
        arrays["s_ngram"] = np.asarray(self.s_ngram, dtype=np.float32)
        arrays["d_b"] = np.asarray([self.d_b])
        arrays["s_b"] = np.asarray([self.s_b])
        arrays["d_blend"] = np.asarray([self.d_blend])
        arrays["c_b"] = np.asarray([self.c_b])
        arrays["meta"] = np.frombuffer(
            json.dumps(self.meta, sort_keys=True, separators=(",", ":")).encode(), dtype=np.uint8)
        # like np.savez_compressed, but with fixed member dates: byte-for-byte reproducible
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(arrays):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(arrays[name]), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, buffer.getvalue())

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
                lp_mean=z["lp_mean"], lp_w=z["lp_w"], h_mean=z["h_mean"],
                h_scale=z["h_scale"], h_w=z["h_w"], h_b=float(z["h_b"][0]), cdf=z["cdf"],
                p_a=float(z["p_ab"][0]), p_b=float(z["p_ab"][1]), meta=meta,
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
    """The confidence model's input: answer features, prompt features, answer checks
    (``meta["confidence_features"]`` names the columns)."""
    numbers = numbers_in(window(prompt or ""))  # read by both answer feature sets
    return np.concatenate([answer_features(prompt, answer, numbers), cached_prompt_features(prompt),
                           check_features(prompt, answer, numbers)])


KINDS = ("choice", "numeric", "text")


def prompt_kind(x: np.ndarray) -> int:
    """The kind of prompt, from its hand features: 0 multiple choice (two or more options,
    or ends with "Answer:"), 1 numeric (two or more numbers: word problems, arithmetic),
    2 other text. Works on one feature row or on a matrix of them."""
    names = PROMPT_FEATURES
    options, suffix = x[..., names.index("log_options")], x[..., names.index("answer_suffix")]
    numbers = x[..., names.index("log_numbers")]
    choice = (options >= math.log1p(2)) | (suffix == 1.0)
    return np.where(choice, 0, np.where(numbers >= math.log1p(2), 1, 2))


def component_scores(x: np.ndarray, idx: np.ndarray, values: np.ndarray,
                     model: Artefact) -> dict[str, float]:
    """Every difficulty component's raw score (higher = harder) for one prompt, from its hand
    features ``x`` and hashed n-grams (``idx``, ``values``)."""
    nb = float(values @ model.nb_ratio[idx]) if len(idx) else 0.0
    ngram = float(values @ model.s_ngram[idx]) if len(idx) else 0.0
    z1 = float(((np.append(x, nb) - model.d_mean) / model.d_scale) @ model.d_w + model.d_b)
    z2 = float(((x - model.s_mean) / model.s_scale) @ model.s_w + model.s_b + ngram)
    return {
        "length": float(x[0]),
        "hand": float(((x - model.h_mean) / model.h_scale) @ model.h_w + model.h_b),
        "hand_nb": z1,
        "ngram": z2,
        "blend": (1.0 - model.d_blend) * z1 + model.d_blend * z2,
    }


def percentile(value: float, quantiles: np.ndarray) -> float:
    """The empirical CDF stored as ``quantiles`` (equally spaced levels 0 … 1), read at
    ``value`` by linear interpolation; 0 below the lowest, 1 above the highest."""
    return float(np.interp(value, quantiles, np.linspace(0.0, 1.0, len(quantiles))))


def mean_percentile(prompt: str, model: Artefact) -> float:
    """The rank ensemble: each component's score as a percentile of the training rows'
    scores (of the prompt's kind, if the CDFs are per kind), averaged."""
    x = cached_prompt_features(prompt)
    idx, values = hashed_ngrams(prompt, buckets=len(model.nb_ratio))
    scores = component_scores(x, idx, values, model)
    kind = int(prompt_kind(x)) if model.meta.get("cdf_by_kind") else 0
    names = model.meta["difficulty_components"]
    return sum(percentile(scores[n], model.cdf[i, kind]) for i, n in enumerate(names)) / len(names)


def difficulty_logit(prompt: str, model: Artefact) -> float:
    """The log-odds of ``difficulty``: the ensemble's mean percentile, mapped by a logistic
    calibration fitted on the training rows (monotone: it ranks prompts as the mean
    percentile does)."""
    return model.p_a * mean_percentile(prompt, model) + model.p_b


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
