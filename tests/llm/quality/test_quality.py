"""llm.quality: the shipped artefact, the two estimators and the threshold tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm import quality
from llm.quality import features, grading, metrics
from llm.quality.model import ARTEFACT

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


def test_difficulty_averages_the_log_odds_of_its_two_models() -> None:
    """The difficulty logit is (1 − blend) × (hand features + Naive-Bayes n-gram score)
    + blend × (hand features + one weight per hashed n-gram), recomputed here by hand."""
    import numpy as np

    from llm.quality.model import artefact, difficulty_logit

    art = artefact()
    assert 0.0 < art.d_blend < 1.0
    assert art.s_ngram.shape == art.nb_ratio.shape == (features.NGRAM_BUCKETS,)
    for prompt in (HARD, PROMPT, GREETING):
        x = features.prompt_features(prompt)
        idx, values = features.hashed_ngrams(prompt)
        nb = float(values @ art.nb_ratio[idx])
        z1 = float(((np.append(x, nb) - art.d_mean) / art.d_scale) @ art.d_w + art.d_b)
        z2 = float(((x - art.s_mean) / art.s_scale) @ art.s_w + art.s_b
                   + values @ art.s_ngram[idx])
        assert z1 != pytest.approx(z2)  # two different models, both counted
        expected = (1 - art.d_blend) * z1 + art.d_blend * z2
        assert difficulty_logit(prompt, art) == pytest.approx(expected, abs=1e-9)


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
