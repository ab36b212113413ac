"""Quality-aware routing replayed on held-out prompts (``python -m bench routing``).

For every held-out set, each method ranks the prompts; the top of the ranking goes to the
strong model. Reported per method and set: the strong-call share needed for 95 % of the
all-strong quality (lower is better) and APGR, the average performance gap recovered
(RouteLLM, arXiv 2406.18665; higher is better). Measures: ``llm.quality.metrics``.
``--subset N`` replays N prompts per set (seeded sample) for a quick run.

Two protocols, each row of the table says which:

- **fixed half** — the shipped artefact (``llm/quality/artefact.npz``) scored on the fixed
  hash splits of ``llm.quality.data`` (``split == "test"``/``"unseen"``), which its training
  never read;
- **five random splits** — the protocol of issue 14's goals and of the quick study
  (``ROUTING.md``): five seeded random 50/50 splits of the GSM8K and of the MMLU rows, and
  five seeded random splits of MMLU's subjects (about half held out whole). For each split
  the estimators are trained afresh by ``llm.quality.train.fit_estimators`` (the artefact's
  own recipe and configuration) on that split's training part only — plus the fixed
  training rows of LLMRouter and of the embedded outcomes, which are never scored here —
  and scored on its held-out part. Nothing is chosen by looking at held-out rows; LLMRouter's
  ``test.json`` is not used.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import Section
from llm.quality import data, metrics, thresholds, train
from llm.quality.model import (
    artefact,
    cached_prompt_features,
    confidence,
    confidence_logit,
    difficulty,
    difficulty_logit,
)

PUBLISHED = {
    "random": "0.80 / 0.68",
    "RouteLLM best (published)": "≈0.63–0.65 / ≈0.55",
}


def _sets(subset: int | None) -> dict[str, list[data.Outcome]]:
    sets = {
        "GSM8K": [o for o in data.gsm8k() if o.split == "test"],
        "MMLU": [o for o in data.mmlu() if o.split == "test"],
        "MMLU, held-out subjects": [o for o in data.mmlu() if o.split == "unseen"],
        "LLMRouter": [o for o in data.llmrouter() if o.split == "test"],
        "embedded": [o for o in data.embedded() if o.split == "test"],
    }
    if subset:
        sets = {k: random.Random(14).sample(v, min(subset, len(v))) for k, v in sets.items()}
    return {k: v for k, v in sets.items() if v}


STUDY_SPLITS = 5
STUDY_SEED = 2406  # the seeds of the random splits: STUDY_SEED + k (rows), + 100 + k (subjects)
FIXED = "fixed half (shipped artefact)"
GOALS = (  # issue 14: strong-call share for 95 % of all-strong quality, at most
    ("GSM8K", "difficulty, before the call", 0.60),
    ("MMLU", "difficulty, before the call", 0.45),
    ("MMLU, held-out subjects", "difficulty, before the call", 0.50),
    ("GSM8K", "confidence cascade (weak answer checked)", 0.35),
)
STUDY = "5 random splits, retrained per split: mean (min–max)"


def row_split(n: int, rng: np.random.RandomState) -> np.ndarray:
    """A random 50/50 split: True for the held-out half."""
    held = np.zeros(n, dtype=bool)
    held[rng.permutation(n)[: n // 2]] = True
    return held


def subject_split(groups: list[str], rng: np.random.RandomState) -> np.ndarray:
    """Hold out about half of the subjects whole (29 of 57): True for their rows."""
    subjects = sorted(set(groups))
    unseen = set(rng.permutation(subjects)[: (len(subjects) + 1) // 2].tolist())
    return np.array([g in unseen for g in groups], dtype=bool)


@dataclass
class SplitResult:
    """One split's held-out curves per (set, method)."""

    curves: dict[tuple[str, str], metrics.Curve]
    sizes: dict[str, int]


def _pick(outs: list[data.Outcome], mask: np.ndarray) -> list[data.Outcome]:
    return [o for o, m in zip(outs, mask, strict=True) if m]


def _held_out_curves(est: train.Estimators, set_name: str, outs: list[data.Outcome],
                     cache: dict, with_cascade: bool) -> dict[tuple[str, str], metrics.Curve]:
    w = np.array([o.weak for o in outs])
    s = np.array([o.strong for o in outs])
    d = est.difficulty.scores(train.prompt_rows(outs, cache))
    out = {
        (set_name, "random (expected)"): metrics.random_curve(w, s),
        (set_name, "oracle"): metrics.curve(metrics.oracle_scores(w, s), w, s),
        (set_name, "difficulty, before the call"): metrics.curve(d, w, s),
    }
    if with_cascade:
        C, LP = train.confidence_inputs(outs, cache)
        c = est.confidence.scores(C, LP)
        out[(set_name, "confidence cascade (weak answer checked)")] = metrics.curve(-c, w, s)
    return out


def study(splits: int = STUDY_SPLITS, subset: int | None = None,
          say=lambda *a: None) -> list[SplitResult]:
    """The five-split protocol (module docstring). ``subset`` draws that many rows of GSM8K
    and of MMLU (and caps LLMRouter's training rows) for a quick run."""
    gsm, mmlu = list(data.gsm8k()), list(data.mmlu())
    llmr = [o for o in data.llmrouter() if o.split == "train"]
    emb = [o for o in data.embedded() if o.split == "train"]
    if subset:
        pick = random.Random(14)
        gsm = pick.sample(gsm, min(subset, len(gsm)))
        mmlu = pick.sample(mmlu, min(subset, len(mmlu)))
        llmr = pick.sample(llmr, min(subset, len(llmr)))
    gsm_fixed_train = [o for o in gsm if o.split == "train"]
    cache: dict = {}
    results = []
    for k in range(splits):
        rng = np.random.RandomState(STUDY_SEED + k)
        g_held, m_held = row_split(len(gsm), rng), row_split(len(mmlu), rng)
        est = train.fit_estimators(_pick(gsm, ~g_held), _pick(mmlu, ~m_held), llmr, emb, cache)
        curves = _held_out_curves(est, "GSM8K", _pick(gsm, g_held), cache, with_cascade=True)
        curves |= _held_out_curves(est, "MMLU", _pick(mmlu, m_held), cache, with_cascade=False)
        # subjects: all rows of the training subjects train; GSM8K keeps its fixed half
        subj_held = subject_split([o.group for o in mmlu],
                                  np.random.RandomState(STUDY_SEED + 100 + k))
        est_s = train.fit_estimators(gsm_fixed_train, _pick(mmlu, ~subj_held), llmr, emb, cache)
        curves |= _held_out_curves(est_s, "MMLU, held-out subjects", _pick(mmlu, subj_held),
                                   cache, with_cascade=False)
        sizes = {"GSM8K": int(g_held.sum()), "MMLU": int(m_held.sum()),
                 "MMLU, held-out subjects": int(subj_held.sum())}
        results.append(SplitResult(curves, sizes))
        say(f"split {k + 1}/{splits}: " + ", ".join(
            f"{n} {curves[(n, 'difficulty, before the call')].share_for(0.95):.2f}"
            for n in sizes) + f", cascade "
            f"{curves[('GSM8K', 'confidence cascade (weak answer checked)')].share_for(0.95):.2f}")
    return results


def study_summary(results: list[SplitResult], set_name: str,
                  method: str) -> tuple[float, float, float, float, float, float] | None:
    """(mean, min, max) of the share for 95 % and of APGR over the splits."""
    curves = [r.curves[(set_name, method)] for r in results if (set_name, method) in r.curves]
    if not curves:
        return None
    share = np.array([c.share_for(0.95) for c in curves])
    apgr = np.array([c.apgr for c in curves])
    return (float(share.mean()), float(share.min()), float(share.max()),
            float(apgr.mean()), float(apgr.min()), float(apgr.max()))


def _study_cell(summary: tuple[float, ...] | None) -> str:
    if summary is None:
        return "–"
    sm, slo, shi, am, alo, ahi = summary
    return f"{sm:.2f} ({slo:.2f}–{shi:.2f}) / {am:.2f} ({alo:.2f}–{ahi:.2f})"


def _cell(c: metrics.Curve | None, interval: tuple[float, float] | None = None) -> str:
    if c is None:
        return "–"
    share = c.share_for(0.95)
    reached = f"{share:.2f}" if share < 1.0 else "1.00 (not reached)"
    if interval is not None:
        reached += f" ({interval[0]:.2f}–{interval[1]:.2f})"
    return f"{reached} / {c.apgr:.2f}"


def _interval(scores: np.ndarray, w: np.ndarray, s: np.ndarray,
              resamples: int = 200) -> tuple[float, float]:
    """Bootstrap 90 % interval of the share for 95 %: how much the figure moves with the
    sample alone (it is a first crossing of a flat curve, so it moves a lot)."""
    rng = np.random.RandomState(14)
    shares = []
    for _ in range(resamples):
        i = rng.randint(0, len(w), len(w))
        shares.append(metrics.curve(scores[i], w[i], s[i]).share_for(0.95))
    low, high = np.quantile(shares, [0.05, 0.95])
    return float(low), float(high)


def _realised(outs: list[data.Outcome], d: np.ndarray, c: np.ndarray | None, step: str,
              two_stage: bool) -> str:
    """Quality ratio and strong share at the thresholds the artefact gives for 0.95."""
    t = thresholds(0.95, step)
    w = np.array([o.weak for o in outs])
    s = np.array([o.strong for o in outs])
    if two_stage and c is not None:
        pre = d > t.difficulty
        up = pre | (~pre & (c < t.confidence))
    else:
        up = d > t.difficulty_alone
    strong = s.mean()
    ratio = np.where(up, s, w).mean() / strong if strong else 1.0
    return f"{ratio:.3f} of all-strong with {up.mean():.2f} strong"


def _timing(repeats: int) -> dict[str, tuple[float, float]]:
    """p50 / p95 in ms. "Cold": the prompt's features are computed afresh (the small cache
    of recent prompts is emptied before each call); "after difficulty": the router's order,
    difficulty(prompt) first (not timed), so confidence reuses the prompt's features."""
    rng = random.Random(14)
    sample = " ".join(o.prompt for o in data.gsm8k()[:60])
    prompt = (sample + " ") * (8000 // len(sample) + 1)
    prompt = prompt[:7968] + "\nHow many eggs are left in total?"
    answer = data.gsm8k()[0].weak_answer or ""
    answer = (answer + "\n") * 3
    logprobs = [-rng.random() for _ in range(128)]
    artefact()
    cold = cached_prompt_features.cache_clear
    out = {}
    for name, prepare, call in (
        ("difficulty, cold", cold, lambda: difficulty(prompt)),
        ("confidence, cold", cold, lambda: confidence(prompt, answer)),
        ("confidence after difficulty", lambda: difficulty(prompt),
         lambda: confidence(prompt, answer)),
        ("confidence with 128 log-probabilities, cold", cold,
         lambda: confidence(prompt, answer, logprobs)),
    ):
        for _ in range(20):
            prepare()
            call()
        times = []
        for _ in range(repeats):
            prepare()
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[name] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return out


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def run(subset: int | None = None, repeats: int = 1000,
        splits: int | None = None) -> Section:
    """``subset``: N prompts per fixed set and N GSM8K / MMLU rows for the random splits
    (2 splits unless ``splits`` says otherwise) — the quick path for tests."""
    splits = splits or (2 if subset else STUDY_SPLITS)
    art = artefact()
    sets = _sets(subset)
    steps = {"embedded": "embedded→local"}
    curves: dict[str, dict[str, metrics.Curve | None]] = {}
    intervals: dict[str, dict[str, tuple[float, float]]] = {}
    realised: dict[str, dict[str, str]] = {}
    sizes = {}
    for name, outs in sets.items():
        w = np.array([o.weak for o in outs])
        s = np.array([o.strong for o in outs])
        d = np.array([difficulty_logit(o.prompt, art) for o in outs])
        has_answers = all(o.weak_answer is not None for o in outs)
        c = np.array([confidence_logit(o.prompt, o.weak_answer or "",
                                       list(o.logprobs) if o.logprobs else None, art)
                      for o in outs]) if has_answers else None
        sizes[name] = (len(outs), float(w.mean()), float(s.mean()))
        curves[name] = {
            "random (expected)": metrics.random_curve(w, s),
            "oracle": metrics.curve(metrics.oracle_scores(w, s), w, s),
            "old fixed table (all to the weak tier)": metrics.fixed_curve(w, s, "weak"),
            "difficulty, before the call": metrics.curve(d, w, s),
            "confidence cascade (weak answer checked)":
                metrics.curve(-c, w, s) if c is not None else None,
        }
        intervals[name] = {"difficulty, before the call": _interval(d, w, s)}
        if c is not None:
            intervals[name]["confidence cascade (weak answer checked)"] = _interval(-c, w, s)
        step = steps.get(name, "local→cloud")
        dp = 1 / (1 + np.exp(-d))
        cp = 1 / (1 + np.exp(-c)) if c is not None else None
        realised[name] = {
            "difficulty alone": _realised(outs, dp, cp, step, two_stage=False),
            "two-stage": _realised(outs, dp, cp, step, two_stage=True) if c is not None else "–",
        }
    names = list(sets)
    study_names = ("GSM8K", "MMLU", "MMLU, held-out subjects")
    print(f"routing: {splits} random splits, estimators retrained on each …",
          file=sys.stderr, flush=True)
    started = time.perf_counter()
    results = study(splits, subset, say=lambda m: print("  " + m, file=sys.stderr, flush=True))
    study_seconds = time.perf_counter() - started
    headers = ["method", "held-out protocol", *[f"{n} (n={sizes[n][0]})" for n in names],
               "RouteLLM published, GSM8K / MMLU"]
    methods = list(next(iter(curves.values())))
    rows: list[list[object]] = []
    for m in methods:
        published = PUBLISHED.get(m.split(" (")[0], "")
        rows.append([m, FIXED, *[_cell(curves[n][m], intervals[n].get(m)) for n in names],
                     published])
    study_methods = ("random (expected)", "oracle", "difficulty, before the call",
                     "confidence cascade (weak answer checked)")
    for m in study_methods:
        rows.append([m, STUDY.replace("5 ", f"{splits} "),
                     *[_study_cell(study_summary(results, n, m)) if n in study_names else "–"
                       for n in names], ""])
    rows.append(["RouteLLM best (published)", "", *["" for _ in names], PUBLISHED[
        "RouteLLM best (published)"]])
    rows.append(["at the artefact's 0.95 thresholds: difficulty alone", FIXED,
                 *[realised[n]["difficulty alone"] for n in names], ""])
    rows.append(["at the artefact's 0.95 thresholds: difficulty + confidence", FIXED,
                 *[realised[n]["two-stage"] for n in names], ""])
    timing = _timing(100 if subset else repeats)
    load = _load()
    for name, (p50, p95) in timing.items():
        rows.append([f"scoring time, {name}, 8,000-char prompt: p50 / p95 (ms)", "shipped artefact",
                     f"{p50:.3f} / {p95:.3f}", *["" for _ in names[1:]], ""])
    pair = f"{data.LLMROUTER_WEAK} → {data.LLMROUTER_STRONG}"
    notes = [
        "Cells: strong-call share needed for 95 % of all-strong quality (lower is better) / "
        "APGR (higher is better; random 0.50). Exact over every cut-off; tied scores are "
        "crossed linearly (the expectation of random tie-breaking). In brackets: a bootstrap "
        "90 % interval of the share (200 resamples of the held-out rows) — the share is the "
        "first crossing of a flat curve, so it moves by ±0.05 or more with the sample alone; "
        "APGR is the steadier figure.",
        "Pairs: GSM8K and MMLU — Mixtral-8x7B-Instruct (weak) vs GPT-4-1106 (strong), "
        "RouteLLM's recorded outcomes, contaminated prompts dropped as RouteLLM does; "
        f"LLMRouter — {pair} on the held-out 30 % of LLMRouter's *training* queries "
        "(its test.json is not used); embedded — SmolLM2-135M's own graded answers "
        f"(llm/quality/data/embedded) vs the {data.LOCAL_PROXY} score as a stand-in for the "
        "local tier.",
        f"Protocol '{FIXED}': the shipped artefact, trained once on the fixed training "
        "split, scored on rows it never saw; column sizes n are for this protocol. GSM8K — a "
        "fixed hash half; MMLU — a fixed hash half of the prompts of the 28 training subjects; "
        "MMLU, held-out subjects — all prompts of 29 subjects no estimator saw; LLMRouter — a "
        "fixed hash 30 %; embedded — a fixed hash 30 % of the outcomes. Nothing here was "
        "trained, tuned or calibrated on these rows (model choices by cross-validation inside "
        "the training rows). In brackets: the bootstrap interval.",
        f"Protocol '{STUDY.replace('5 ', f'{splits} ')}' (issue 14's goals and ROUTING.md "
        f"use this one): {splits} seeded random 50/50 splits of all non-contaminated GSM8K "
        "rows and of all MMLU rows (57 subjects), and "
        f"{splits} seeded random splits of MMLU's subjects (29 of 57 held out whole, all "
        "rows of the other 28 train). For each split the estimators are retrained from "
        "scratch with the artefact's own recipe and configuration "
        "(`llm.quality.train.fit_estimators`) on that split's training part, plus the fixed "
        "training rows of LLMRouter (difficulty) and of the embedded outcomes (confidence), "
        "which are never scored here; the held-out part is scored, so every figure comes "
        "from prompts that split's estimators never saw. Cell: mean share (min–max over "
        "the splits) / mean APGR (min–max). Held out per split: GSM8K "
        + "/".join(sorted({str(r.sizes['GSM8K']) for r in results})) + ", MMLU "
        + "/".join(sorted({str(r.sizes['MMLU']) for r in results})) + ", held-out subjects "
        + "–".join(str(f(r.sizes['MMLU, held-out subjects'] for r in results))
                   for f in (min, max))
        + f" rows. Seeds {STUDY_SEED}+k (rows) and {STUDY_SEED + 100}+k (subjects); "
        f"{study_seconds:.0f} s for the {2 * splits} fits.",
        "Old fixed table: chat, narrate and summarize start on the embedded tier, extract and "
        "analyze on the local tier, and nothing escalates on quality, so every prompt stays on "
        "the weak tier; its only other setting is moving the whole purpose up (100 % strong).",
        "Confidence cascade: every prompt is first answered by the weak model (its recorded "
        "answer), and the least confident answers are escalated; the weak call is always paid.",
        "The 'at the artefact's 0.95 thresholds' rows apply `llm.quality.thresholds(0.95, step)` "
        "(calibrated on training rows) as the router would: they show how far the realised "
        "quality drifts from the target on unseen prompts (ROUTING.md, lesson 4). Step "
        "local→cloud for the public pairs, embedded→local for the embedded row.",
        "RouteLLM's published figures are for its own full GSM8K/MMLU, not for these held-out "
        "halves.",
        f"Scoring time: {100 if subset else repeats} calls each after 20 warm-up calls, one "
        "8,000-character prompt (GSM8K questions run together; the pattern and n-gram "
        "features read its first and last 1,000 characters, the counts all of it) and a "
        "9-line answer with its arithmetic; 'cold' empties the cache of recent prompts' "
        "features before each call, 'after difficulty' is the router's order (difficulty "
        "first, untimed), where confidence reuses them. Other work shares this 2-core "
        "machine (load average {load}).",
    ]
    notes[-1] = notes[-1].replace("{load}", load)
    goals, fixed_goals = [], []
    for set_name, method, goal in GOALS:
        label = method.split(',')[0].split(' (')[0]
        summary = study_summary(results, set_name, method)
        if summary is not None:
            share = summary[0]
            goals.append(f"{set_name} {label} {share:.2f} "
                         f"(goal ≤ {goal:.2f}: {'met' if share <= goal + 1e-9 else 'not met'})")
        c = curves.get(set_name, {}).get(method)
        if c is not None:
            share = c.share_for(0.95)
            fixed_goals.append(f"{set_name} {label} {share:.2f} "
                               f"({'met' if share <= goal + 1e-9 else 'not met'})")
    if fixed_goals:
        notes.insert(0, f"The same figures on the {FIXED} (one draw; not the goals' "
                     "protocol): " + "; ".join(fixed_goals) + ".")
    if goals:
        notes.insert(0, f"Issue 14's goals, judged on the means of the {splits} random "
                     "splits (the goals' own protocol: held-out prompts, estimators retrained "
                     "per split): " + "; ".join(goals) + ".")
    if subset:
        notes.insert(0, f"Quick run: --subset {subset} prompts per set (seeded sample), "
                     f"{splits} random splits of {subset} GSM8K and {subset} MMLU rows.")
    return Section(
        name="routing",
        title="Quality-aware routing replayed on held-out prompts",
        headers=headers,
        rows=rows,
        notes=notes,
    )
