"""The nested-CV tool's weighted rank ensembles (``bench.routing_cv``, sixth pass), on toy
scores: no data is read."""

from __future__ import annotations

import numpy as np
import pytest

from bench.routing_cv import (
    CHAR_BUCKETS,
    CHOICE,
    NUMERIC,
    SEVENTH_VARIANTS,
    SIXTH_VARIANTS,
    _weighted,
    char_ngrams,
    kind_weights,
    parse_variant,
)


def test_a_variant_names_weights_for_every_prompt_and_for_numeric_prompts() -> None:
    assert parse_variant("L+NB+NG") == ({"L": 1.0, "NB": 1.0, "NG": 1.0},) * 2
    every, numeric = parse_variant("L+NB+NG|2L+0.5NB+SNB")
    assert every == {"L": 1.0, "NB": 1.0, "NG": 1.0}
    assert numeric == {"L": 2.0, "NB": 0.5, "SNB": 1.0}
    assert SIXTH_VARIANTS[0] == "L+NB+NG"  # the shipped ensemble comes first: the baseline
    for text in SIXTH_VARIANTS:
        parse_variant(text)
    with pytest.raises(ValueError):
        parse_variant("L+XX")
    with pytest.raises(ValueError):  # specialists only score numeric prompts
        parse_variant("L+SNB")


def _toy() -> dict:
    rng = np.random.RandomState(0)
    fit_kind = np.array([0, 1] * 50)
    fit = {"length": rng.rand(100), "hand_nb": rng.rand(100), "spec_nb": rng.rand(100),
           "kind": fit_kind}
    score = {"length": np.array([0.25, 0.25]), "hand_nb": np.array([0.75, 0.75]),
             "spec_nb": np.array([0.9, 0.9]), "kind": np.array([0, NUMERIC])}
    return {"fit": fit, "score": score}


def test_weighted_ensembles_average_percentiles_with_per_kind_weights() -> None:
    c = _toy()

    def pct(values: np.ndarray, v: float) -> float:
        return float(np.interp(v, np.quantile(values, np.linspace(0, 1, 257)),
                               np.linspace(0, 1, 257)))

    fit = c["fit"]
    p_len, p_nb = pct(fit["length"], 0.25), pct(fit["hand_nb"], 0.75)
    # a specialist's percentile is among the numeric fit rows only
    p_spec = pct(fit["spec_nb"][fit["kind"] == NUMERIC], 0.9)
    got = _weighted(c, "L+NB|2L+NB+SNB")
    assert got[0] == pytest.approx((p_len + p_nb) / 2)
    assert got[1] == pytest.approx((2 * p_len + p_nb + p_spec) / 4)
    assert np.allclose(_weighted(c, "L+NB"), (p_len + p_nb) / 2)


def test_a_variant_may_name_weights_for_multiple_choice_prompts_too() -> None:
    every, numeric, choice = kind_weights("L+NB+NG||L+NB+2CNG")
    assert every == numeric == {"L": 1.0, "NB": 1.0, "NG": 1.0}
    assert choice == {"L": 1.0, "NB": 1.0, "CNG": 2.0}
    assert kind_weights("L+NB|L+SNB")[2] == {"L": 1.0, "NB": 1.0}  # left out = every prompt
    assert SEVENTH_VARIANTS[0] == "L+NB+NG"
    for text in SEVENTH_VARIANTS:
        kind_weights(text)
    for wrong in ("L+CNG", "L|L+CNG", "L||L+SNB", "L|L|L|L"):
        with pytest.raises(ValueError):
            kind_weights(wrong)


def test_a_choice_specialists_percentile_is_among_the_choice_fit_rows() -> None:
    c = _toy()
    c["fit"]["choice_ngram"] = np.random.RandomState(1).rand(100)
    c["score"]["choice_ngram"] = np.array([0.9, 0.9, 0.9])
    c["score"] = {k: np.append(v, v[-1]) if k != "choice_ngram" else v
                  for k, v in c["score"].items()}
    c["score"]["kind"] = np.array([CHOICE, NUMERIC, 2])
    fit = c["fit"]

    def pct(values: np.ndarray, v: float) -> float:
        return float(np.interp(v, np.quantile(values, np.linspace(0, 1, 257)),
                               np.linspace(0, 1, 257)))

    p_len = pct(fit["length"], c["score"]["length"][0])
    p_spec = pct(fit["choice_ngram"][fit["kind"] == CHOICE], 0.9)
    got = _weighted(c, "L||L+CNG")
    assert got[0] == pytest.approx((p_len + p_spec) / 2)
    assert got[1] == got[2] == pytest.approx(p_len)


def test_character_ngrams_are_deterministic_and_read_the_window_only() -> None:
    a = char_ngrams("What is the capital of France?")
    assert np.array_equal(a, char_ngrams("what  is the CAPITAL of france?"))
    assert len(a) == len(np.unique(a)) and a.min() >= 0 and a.max() < CHAR_BUCKETS
    assert not np.array_equal(a, char_ngrams("What is the capital of Spain?"))
    # a long document's middle is not read (features.window), its ends are
    head, tail = "Question: " + "a" * 2_000, "b" * 2_000 + " Answer:"
    assert np.array_equal(char_ngrams(head + "middle one" + tail),
                          char_ngrams(head + "another middle" + tail))
    assert not np.array_equal(char_ngrams(head + tail), char_ngrams(head + tail + " 42"))
    assert len(char_ngrams("ab")) == 0
