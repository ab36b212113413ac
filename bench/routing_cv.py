"""Nested cross-validation of the difficulty ensemble's variants (issue 14, fourth pass).

    python -m bench.routing_cv [--outer N] [--inner K]

Not a bench section: the tool that chose ``llm.quality.train.DIFFICULTY_COMPONENTS``. It
reads only the *training* part of each of the first N outer random splits of
``python -m bench routing`` (the same seeds), never their held-out part, and never
LLMRouter's ``test.json``:

- rows protocol: K-fold cross-validation over the outer split's GSM8K + MMLU training rows
  (LLMRouter's training rows always in the fit), out-of-fold scores pooled per outer split;
- subject protocol: K folds grouped by subject over the outer split's training subjects
  (GSM8K's fixed training half and LLMRouter's training rows always in the fit), each
  fold's share averaged.

Every component is fitted once per inner fold and every combination is scored from those
fits (each component's percentile from the CDF of the inner fold's training rows). The
printed figure is the strong-call share for 95 % of all-strong quality, mean over the outer
splits, with APGR; the choice rule is the lowest mean of the three shares.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.routing import STUDY_SEED, _pick, row_split, subject_split
from llm.quality import data, logistic, metrics, train
from llm.quality.model import prompt_kind

NAMES = {"L": "length", "H": "hand", "NB": "hand_nb", "NG": "ngram", "B": "blend"}
VARIANTS = (("B",), ("L",), ("H",), ("NB",), ("NG",), ("L", "H", "NG"), ("L", "NB", "NG"),
            ("L", "H", "NB", "NG"), ("L", "NB"), ("L", "H"), ("H", "NG"), ("NB", "NG"),
            ("L", "B"), ("L", "NG"))


def _components(fit_rows: train.Rows, score_rows: train.Rows) -> dict:
    y = fit_rows.y_gain
    weight = train.balanced_weights(fit_rows.dataset, y)
    model = train.fit_difficulty(fit_rows, components=("length", "hand", "hand_nb", "ngram",
                                                       "blend"), by_kind=False)
    hand = logistic.fit(fit_rows.X, y, l2=train.L2_DIFFICULTY, weight=weight)
    out = {}
    for name, rows in (("fit", fit_rows), ("score", score_rows)):
        scores = model.component_scores(rows)
        scores["hand"] = hand.decision(rows.X)
        out[name] = {**scores, "kind": prompt_kind(rows.X), "dataset": rows.dataset,
                     "weak": rows.weak, "strong": rows.strong}
    return out


def _percentile(fit: np.ndarray, score: np.ndarray, fit_kind: np.ndarray | None,
                score_kind: np.ndarray | None) -> np.ndarray:
    levels = np.linspace(0.0, 1.0, train.CDF_POINTS)
    if fit_kind is None:
        return np.interp(score, np.quantile(fit, levels), levels)
    out = np.zeros(len(score))
    for k in np.unique(score_kind):
        source = fit[fit_kind == k] if np.sum(fit_kind == k) >= 20 else fit
        m = score_kind == k
        out[m] = np.interp(score[m], np.quantile(source, levels), levels)
    return out


def _ensemble(c: dict, variant: tuple[str, ...], by_kind: bool) -> np.ndarray:
    fit, score = c["fit"], c["score"]
    if len(variant) == 1:
        return score[NAMES[variant[0]]]
    kinds = (fit["kind"], score["kind"]) if by_kind else (None, None)
    return np.mean([_percentile(fit[NAMES[v]], score[NAMES[v]], *kinds) for v in variant],
                   axis=0)


def run(outer: int = 3, inner: int = 3, say=print) -> list[tuple[str, dict]]:
    gsm, mmlu = list(data.gsm8k()), list(data.mmlu())
    llmr = [o for o in data.llmrouter() if o.split == "train"]
    gsm_fixed_train = [o for o in gsm if o.split == "train"]
    cache: dict = {}
    fits: list[tuple[str, int, dict]] = []
    started = time.perf_counter()
    for k in range(outer):
        rng = np.random.RandomState(STUDY_SEED + k)
        g_held, m_held = row_split(len(gsm), rng), row_split(len(mmlu), rng)
        pool = _pick(gsm, ~g_held) + _pick(mmlu, ~m_held)  # the outer training part only
        fold = np.random.RandomState(900 + k).randint(0, inner, len(pool))
        for f in range(inner):
            fit = [o for o, q in zip(pool, fold, strict=True) if q != f] + llmr
            score = [o for o, q in zip(pool, fold, strict=True) if q == f]
            fits.append(("rows", k, _components(train.prompt_rows(fit, cache),
                                                train.prompt_rows(score, cache))))
            say(f"outer {k} rows fold {f}: {time.perf_counter() - started:.0f} s")
        held = subject_split([o.group for o in mmlu],
                             np.random.RandomState(STUDY_SEED + 100 + k))
        seen = _pick(mmlu, ~held)  # the outer training subjects only
        order = np.random.RandomState(950 + k).permutation(sorted({o.group for o in seen}))
        subject_fold = {s: i % inner for i, s in enumerate(order)}
        for f in range(inner):
            fit = gsm_fixed_train + [o for o in seen if subject_fold[o.group] != f] + llmr
            score = [o for o in seen if subject_fold[o.group] == f]
            fits.append(("subjects", k, _components(train.prompt_rows(fit, cache),
                                                    train.prompt_rows(score, cache))))
            say(f"outer {k} subjects fold {f}: {time.perf_counter() - started:.0f} s")
    table = []
    for variant in VARIANTS:
        for by_kind in ((False, True) if len(variant) > 1 else (False,)):
            cells = {}
            for key, protocol, dataset in (("GSM8K", "rows", "gsm8k"), ("MMLU", "rows", "mmlu"),
                                           ("MMLU subj.", "subjects", "mmlu")):
                shares, apgrs = [], []
                for k in range(outer):
                    these = [c for p, kk, c in fits if p == protocol and kk == k]
                    curves = []
                    if protocol == "rows":  # pooled out-of-fold scores
                        parts = [(_ensemble(c, variant, by_kind), c["score"])
                                 for c in these]
                        m = [s["dataset"] == dataset for _, s in parts]
                        curves.append(metrics.curve(
                            np.concatenate([e[mm] for (e, _), mm in zip(parts, m, strict=True)]),
                            np.concatenate([s["weak"][mm] for (_, s), mm in
                                            zip(parts, m, strict=True)]),
                            np.concatenate([s["strong"][mm] for (_, s), mm in
                                            zip(parts, m, strict=True)])))
                    else:  # each grouped fold on its own
                        curves = [metrics.curve(_ensemble(c, variant, by_kind),
                                                c["score"]["weak"], c["score"]["strong"])
                                  for c in these]
                    shares += [c.share_for(0.95) for c in curves]
                    apgrs += [c.apgr for c in curves]
                cells[key] = (float(np.mean(shares)), float(np.mean(apgrs)))
            name = "+".join(variant) + (" per-kind" if by_kind else "")
            table.append((name, cells))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing_cv",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--outer", type=int, default=3)
    parser.add_argument("--inner", type=int, default=3)
    args = parser.parse_args(argv)
    table = run(args.outer, args.inner, say=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{'variant':22s} {'GSM8K':>12s} {'MMLU':>12s} {'MMLU subj.':>12s} {'mean share':>10s}")
    for name, cells in table:
        mean = np.mean([cells[k][0] for k in ("GSM8K", "MMLU", "MMLU subj.")])
        print(f"{name:22s} " + " ".join(f"{cells[k][0]:.3f}/{cells[k][1]:.3f}"
                                        for k in ("GSM8K", "MMLU", "MMLU subj."))
              + f" {mean:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
