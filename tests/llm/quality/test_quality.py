"""llm.quality: the shipped artefact, the two estimators and the threshold tables."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llm import quality
from llm.quality import features, grading, metrics
from llm.quality.model import ARTEFACT, FORMAT

ROOT = Path(__file__).resolve().parents[3]

HARD = (
    "A store sells pencils at $0.35 each and notebooks at $2.75 each. Maria buys 3 times as "
    "many pencils as notebooks and spends $27.20 in total, then returns 2 notebooks and uses "
    "the refund plus 15% of her remaining budget of $48 to buy pens at $1.20 each. If each "
    "pen weighs 12.5 grams and she already had 4 pens, how many grams do all her pens weigh?"
)
GREETING = "Hi! How are you today?"
PROMPT = "Tom has 3 boxes with 12 apples each. He eats 5 apples. How many apples are left?"
RIGHT = "Tom has 3 * 12 = 36 apples.\nAfter eating 5, he has 36 - 5 = 31 apples.\n#### 31"
WRONG = "Tom has 3 * 12 = 38 apples.\nAfter eating 5, he has 38 - 5 = 34 apples.\n#### 34"


def test_the_artefact_is_small_and_loads_offline() -> None:
    """In a fresh interpreter with every socket connection refused: the estimators load
    from the repository alone, and nothing heavy (torch, scikit-learn) comes along."""
    assert ARTEFACT.stat().st_size <= 10 * 1024 * 1024
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in this test')\n"
        "socket.socket.connect = refuse\nsocket.create_connection = refuse\n"
        "import sys\n"
        "import llm.quality\n"
        "assert 'numpy' not in sys.modules, 'import llm.quality should stay light'\n"
        "from llm.quality import difficulty, confidence, thresholds\n"
        "print(difficulty('What is 2 + 2?'), confidence('What is 2 + 2?', '4'))\n"
        "print(thresholds(0.95, 'local->cloud'))\n"
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("prompt", ["", GREETING, HARD, "x" * 9000, "1 + 1 = " * 2000])
def test_difficulty_is_a_deterministic_probability(prompt: str) -> None:
    first = quality.difficulty(prompt)
    assert 0.0 <= first <= 1.0
    assert quality.difficulty(prompt) == first


def test_multi_step_arithmetic_is_harder_than_a_greeting() -> None:
    assert quality.difficulty(HARD) > quality.difficulty(GREETING)


@pytest.mark.parametrize("answer", ["", RIGHT, WRONG, "I'm not sure.", "B" * 9000])
def test_confidence_is_a_deterministic_probability(answer: str) -> None:
    first = quality.confidence(PROMPT, answer)
    assert 0.0 <= first <= 1.0
    assert quality.confidence(PROMPT, answer) == first
    assert quality.confidence(PROMPT, answer, [-0.1, -2.0, -0.01]) == quality.confidence(
        PROMPT, answer, [-0.1, -2.0, -0.01])


def test_confidence_drops_when_the_answers_own_arithmetic_is_wrong() -> None:
    assert features.arithmetic_checks(RIGHT) == (2, 0)
    assert features.arithmetic_checks(WRONG) == (2, 2)
    assert quality.confidence(PROMPT, WRONG) < quality.confidence(PROMPT, RIGHT)


PAREN_PROMPT = ("Katerina uses 8 gemstones of one inch each in a necklace 25 inches long and fills "
                "the rest with beads a quarter of an inch long. How many beads does she use?")
PAREN_RIGHT = ("The beads fill 25 - (8 \\* 1) = 17 inches.\n"
               "She uses 17 / (1/4) = 68 beads.\n#### 68")
PAREN_WRONG = ("The beads fill 25 - (8 \\* 1) = 17 inches.\n"
               "She uses 17 / (1/4) = 4.25 beads.\n#### 4.25")


def test_the_working_is_re_computed_with_parentheses_percent_and_markdown_operators() -> None:
    """The first check reads neither a parenthesis nor a markdown-escaped ``\\*``, so it
    sees no wrong step in PAREN_WRONG; the second pass re-computes every step."""
    assert features.arithmetic_checks(PAREN_WRONG)[1] == 0
    assert [(v, r) for _, v, r in features.working_equations(PAREN_RIGHT)] == [
        (17.0, 17.0), (68.0, 68.0)]
    assert [(v, r) for _, v, r in features.working_equations(PAREN_WRONG)] == [
        (17.0, 17.0), (68.0, 4.25)]
    assert features.working_equations("20% of 50 = 10, 3 x 4 = 12 and x = 2 * (3 + 4) = 14")\
        == [("20% * 50", 10.0, 10.0), ("3 * 4", 12.0, 12.0), ("2 * (3 + 4)", 14.0, 14.0)]
    # a chain: every step must equal the last value
    assert [(v, r) for _, v, r in features.working_equations("2 + 3 = 6 - 1 = 4")] == [
        (5.0, 4.0), (5.0, 4.0)]
    names = features.CHECK_FEATURES
    right = dict(zip(names, features.check_features(PAREN_PROMPT, PAREN_RIGHT), strict=True))
    wrong = dict(zip(names, features.check_features(PAREN_PROMPT, PAREN_WRONG), strict=True))
    assert (right["k_any_wrong"], wrong["k_any_wrong"]) == (0.0, 1.0)
    assert wrong["k_wrong_share"] == 0.5
    assert quality.confidence(PAREN_PROMPT, PAREN_WRONG) < quality.confidence(PAREN_PROMPT,
                                                                            PAREN_RIGHT)


def test_the_final_answer_is_checked_against_the_working() -> None:
    """The final answer should be the result the working arrived at; a number that is
    neither a result of the working nor a number of the prompt is unsupported, and so is an
    operand that comes from nowhere."""
    names = features.CHECK_FEATURES

    def checks(answer: str) -> dict[str, float]:
        return dict(zip(names, features.check_features(PROMPT, answer), strict=True))

    assert checks(RIGHT)["k_final_is_last_result"] == 1.0
    assert checks(RIGHT)["k_final_unsupported"] == 0.0
    jumped = RIGHT.replace("#### 31", "#### 29")
    assert checks(jumped)["k_final_is_last_result"] == 0.0
    assert checks(jumped)["k_final_in_results"] == 0.0
    assert checks(jumped)["k_final_unsupported"] == 1.0
    assert checks(RIGHT + " apples, or 2 dozen")["k_final_text_extra"] == 1.0
    assert checks(RIGHT)["k_final_text_extra"] == 0.0
    assert checks(RIGHT)["k_invented_share"] == 0.0
    invented = "Tom has 3 * 17 = 51 apples.\nAfter eating 5, he has 51 - 5 = 46.\n#### 46"
    assert checks(invented)["k_invented_share"] == 0.25  # 17 of (3, 17, 51, 5)
    assert checks("#### 31")["k_no_working"] == 1.0
    assert checks(RIGHT)["k_no_working"] == 0.0


def test_token_logprobs_change_confidence() -> None:
    sure = [-0.01] * 40
    unsure = [-0.01] * 20 + [-2.5] * 20
    without = quality.confidence(PROMPT, RIGHT)
    with_sure = quality.confidence(PROMPT, RIGHT, sure)
    with_unsure = quality.confidence(PROMPT, RIGHT, unsure)
    assert with_sure != without and with_unsure != without
    assert with_unsure < with_sure
    assert quality.confidence(PROMPT, RIGHT, []) == without  # none reported: text only


@pytest.mark.parametrize("step", ["embedded→local", "local→cloud", "local->cloud"])
def test_thresholds_are_monotone_in_the_target(step: str) -> None:
    targets = [0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0]
    found = [quality.thresholds(t, step) for t in targets]
    for lower, higher in zip(found, found[1:], strict=False):
        assert higher.difficulty <= lower.difficulty
        assert higher.difficulty_alone <= lower.difficulty_alone
        assert higher.confidence >= lower.confidence
    for t in found:
        assert 0.0 <= t.difficulty <= 1.0 and 0.0 <= t.confidence <= 1.0
        assert 0.0 <= t.difficulty_alone <= 1.0 and t.source
    assert quality.thresholds(0.951, step).target == 0.955  # rounded up, never down


def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown step"):
        quality.thresholds(0.95, "cloud→moon")


def test_replay_measures_on_a_toy_set() -> None:
    weak = [1, 0, 0, 1]
    strong = [1, 1, 1, 0]
    perfect = metrics.curve(metrics.oracle_scores(weak, strong), weak, strong)
    assert perfect.share_for(0.95) == pytest.approx(0.2125)  # 0.95 × 0.75 reached at 0.2125
    assert metrics.random_curve(weak, strong).apgr == pytest.approx(0.5)
    tied = metrics.curve([0.3] * 4, weak, strong)
    assert tied.apgr == pytest.approx(0.5)  # no information: random in expectation


def test_grading_uses_each_tasks_metric() -> None:
    options = [("A", "red"), ("B", "blue"), ("C", "green")]
    assert grading.grade("em_mc", "B. blue", "B", options) == 1.0
    assert grading.grade("em_mc", "The answer is (C)", "B", options) == 0.0
    assert grading.grade("GSM8K", "so 6 + 4 = 10\n#### 10", "... \n#### 10") == 1.0
    assert grading.grade("MATH", "\\boxed{0.5}", "\\boxed{1/2}") == 1.0
    assert grading.grade("f1_score", "Paris", "paris") == 1.0
    assert grading.grade("code_eval", "def f(): pass", "assert f() is None") is None


def test_concurrent_first_calls_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(quality.difficulty, [HARD] * 16))
    assert len(set(results)) == 1


def _by_hand(prompt: str, art) -> float:
    """The ensemble's mean percentile, recomputed from the artefact's arrays without
    ``llm.quality.model``'s helpers: each component's raw score, its place among the stored
    training quantiles (linear between neighbours), averaged."""
    import numpy as np

    x = features.prompt_features(prompt)
    idx, values = features.hashed_ngrams(prompt)
    nb = float(values @ art.nb_ratio[idx])
    z1 = float(((np.append(x, nb) - art.d_mean) / art.d_scale) @ art.d_w + art.d_b)
    z2 = float(((x - art.s_mean) / art.s_scale) @ art.s_w + art.s_b + values @ art.s_ngram[idx])
    raw = {"length": math.log1p(len(prompt)),
           "hand": float(((x - art.h_mean) / art.h_scale) @ art.h_w + art.h_b),
           "hand_nb": z1, "ngram": z2,
           "blend": (1 - art.d_blend) * z1 + art.d_blend * z2}
    kind = 0
    if art.meta["cdf_by_kind"]:
        options = len(re.findall(r"(?m)^\s*\(?[A-J][.)]\s+\S", features.window(prompt)))
        numbers = len(features.numbers_in(features.window(prompt)))
        kind = 0 if options >= 2 or prompt.rstrip().endswith("Answer:") else (
            1 if numbers >= 2 else 2)
    total = 0.0
    for i, name in enumerate(art.meta["difficulty_components"]):
        q = art.cdf[i, kind]
        v = raw[name]
        if v <= q[0]:
            p = 0.0
        elif v >= q[-1]:
            p = 1.0
        else:
            j = int(np.searchsorted(q, v, side="right"))  # q[j-1] <= v < q[j]
            p = (j - 1 + (v - q[j - 1]) / (q[j] - q[j - 1])) / (len(q) - 1)
        total += p
    return total / len(art.meta["difficulty_components"])


def test_difficulty_is_the_calibrated_mean_of_the_components_percentiles() -> None:
    """difficulty = sigmoid(p_a × mean percentile + p_b), the mean percentile recomputed by
    hand from the stored quantiles, for prompts of each kind."""
    from llm.quality.model import artefact, difficulty_logit, mean_percentile

    art = artefact()
    names = art.meta["difficulty_components"]
    assert len(names) >= 2 and "length" in names  # a rank ensemble with prompt length
    assert art.p_a > 0  # the calibration keeps the ensemble's order
    mc = "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth\nAnswer:"
    for prompt in (HARD, PROMPT, GREETING, mc, "x" * 9000):
        by_hand = _by_hand(prompt, art)
        assert 0.0 <= by_hand <= 1.0
        assert mean_percentile(prompt, art) == pytest.approx(by_hand, abs=1e-9)
        assert difficulty_logit(prompt, art) == pytest.approx(
            art.p_a * by_hand + art.p_b, abs=1e-9)
        assert quality.difficulty(prompt) == pytest.approx(
            1 / (1 + math.exp(-(art.p_a * by_hand + art.p_b))), abs=1e-12)


def test_the_stored_cdfs_are_monotone_and_cover_every_component() -> None:
    import numpy as np

    from llm.quality.model import COMPONENTS, artefact

    art = artefact()
    names = art.meta["difficulty_components"]
    assert set(names) <= set(COMPONENTS)
    kinds = 3 if art.meta["cdf_by_kind"] else 1
    assert art.cdf.shape[:2] == (len(names), kinds) and art.cdf.shape[2] >= 100
    assert np.all(np.isfinite(art.cdf))
    assert np.all(np.diff(art.cdf, axis=2) >= 0)  # quantiles never decrease
    assert np.all(art.cdf[:, :, -1] > art.cdf[:, :, 0])  # and are not one point


def test_length_moves_the_score() -> None:
    """The length component alone ranks longer prompts higher, and in the shipped ensemble
    a longer prompt of the same words scores higher than a shorter one."""
    from dataclasses import replace

    from llm.quality.model import artefact, mean_percentile

    art = artefact()
    i = art.meta["difficulty_components"].index("length")
    alone = replace(art, cdf=art.cdf[i:i + 1], meta={**art.meta, "difficulty_components":
                                                     ["length"]})
    sentence = "Tom has 3 boxes with 12 apples each and gives 2 to each of his 4 friends. "
    prompts = [sentence * k + "How many apples are left?" for k in (1, 2, 4, 8)]
    scores = [mean_percentile(p, alone) for p in prompts]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    # moving only the length component's CDF moves the full ensemble's score
    shifted = art.cdf.copy()
    shifted[i] += 1.0
    assert mean_percentile(HARD, replace(art, cdf=shifted)) < mean_percentile(HARD, art)


def test_training_and_run_time_scoring_agree(tmp_path) -> None:
    """A small fit: the vectorised scores (the bench's random splits) equal the per-prompt
    scores of an artefact saved and loaded; saving twice gives the same bytes."""
    import random

    import numpy as np

    from llm.quality import data, train
    from llm.quality.model import Artefact, difficulty_logit

    pick = random.Random(3)
    rows = [pick.sample([o for o in ds() if o.split == "train"], 60)
            for ds in (data.gsm8k, data.mmlu, data.llmrouter)]
    dm = train.fit_difficulty(train.prompt_rows(rows[0] + rows[1] + rows[2]))
    test = pick.sample(data.gsm8k(), 8) + pick.sample(data.mmlu(), 8)
    vectorised = dm.logits(train.prompt_rows(test))
    ng = dm.ngram_fitted
    assert ng is not None
    art = Artefact(
        d_mean=dm.fitted.mean, d_scale=dm.fitted.scale, d_w=dm.fitted.dense, d_b=dm.fitted.bias,
        nb_ratio=dm.ratio, s_mean=ng.mean, s_scale=ng.scale, s_w=ng.dense, s_b=ng.bias,
        s_ngram=ng.sparse, d_blend=dm.blend, h_mean=dm.hand.mean, h_scale=dm.hand.scale,
        h_w=dm.hand.dense, h_b=dm.hand.bias, cdf=dm.cdf, p_a=dm.p_a, p_b=dm.p_b,
        c_mean=np.zeros(2), c_scale=np.ones(2), c_w=np.zeros(2), c_b=0.0,
        lp_mean=np.zeros(2), lp_w=np.zeros(2),
        meta={"format": FORMAT, "difficulty_components": list(dm.components),
              "cdf_by_kind": dm.by_kind})
    path = tmp_path / "a.npz"
    art.save(path)
    first = path.read_bytes()
    art.save(path)
    assert path.read_bytes() == first
    loaded = Artefact.load(path)
    per_prompt = [difficulty_logit(o.prompt, loaded) for o in test]
    # n-gram weights are stored as float32: equal up to that rounding
    assert per_prompt == pytest.approx(list(vectorised), abs=1e-5)


def test_the_ngram_weights_move_difficulty() -> None:
    """Without its n-gram weights the second model scores a word problem differently."""
    from dataclasses import replace

    import numpy as np

    from llm.quality.model import artefact, difficulty_logit

    art = artefact()
    idx, _ = features.hashed_ngrams(HARD)
    assert np.count_nonzero(art.s_ngram[idx]) > 0
    blind = replace(art, s_ngram=np.zeros_like(art.s_ngram))
    assert difficulty_logit(HARD, blind) != pytest.approx(difficulty_logit(HARD, art), abs=1e-6)
