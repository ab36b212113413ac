"""Grading an answer against LLMRouter ground truth with each task's own, simple metric.

- ``em_mc`` (multiple choice): the option letter the answer gives (or the option whose text
  it repeats) equals the ground-truth letter;
- ``GSM8K`` / ``MATH`` (numbers and short math answers): the final answer (``\\boxed{}``,
  ``####``, "the answer is", else the last number) equals the reference after light
  normalisation;
- ``f1_score`` (Natural Questions, TriviaQA): SQuAD's token F1 of answer vs reference;
- ``commongen_coverage``: the share of the given concepts the sentence uses.

Code tasks (``code_eval``: MBPP, HumanEval) need their tests executed; they are not graded
here (``GRADED_METRICS`` leaves them out).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from fractions import Fraction

from llm.quality.features import final_answer, numbers_in

GRADED_METRICS = ("em_mc", "GSM8K", "MATH", "f1_score", "commongen_coverage")


def reference_answer(metric: str, ground_truth: str) -> str:
    """The short reference answer in a ground-truth field (GSM8K keeps the whole solution,
    MATH the solution with a ``\\boxed{}`` answer)."""
    if metric == "GSM8K" and "####" in ground_truth:
        return ground_truth.rsplit("####", 1)[1].strip()
    if metric == "MATH" and "\\boxed" in ground_truth:
        return _last_boxed(ground_truth) or ground_truth.strip()
    return ground_truth.strip()


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j].strip()
    return None


def _math_norm(text: str) -> str:
    text = text.strip().strip("$").strip()
    text = re.sub(r"\\(?:left|right|!|,|;|displaystyle)", "", text)
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    text = text.replace("dfrac", "frac").replace("tfrac", "frac").replace(" ", "")
    text = text.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text) else text
    text = text.rstrip(".")
    try:
        value = Fraction(text)
        return str(value)
    except (ValueError, ZeroDivisionError):
        return text


def _number(text: str | None) -> Fraction | None:
    if text is None:
        return None
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".").rstrip("%")
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        found = numbers_in(text)
        if found:
            try:
                return Fraction(found[-1])
            except (ValueError, ZeroDivisionError):
                return None
        return None


def choose_letter(answer: str, options: list[tuple[str, str]]) -> str | None:
    """The option an answer picks: a label on its own ("B", "B.", "(B)", "answer is B"),
    else the one option whose text it contains."""
    labels = [label for label, _ in options]
    if not labels:
        return None
    text = answer.strip()
    pattern = "|".join(re.escape(label) for label in labels)
    patterns = (
        rf"(?i:answer(?: is)?|option)[:\s]*\(?({pattern})\b",
        rf"^\(?({pattern})(?:[.):]|\s|$)",
        rf"\(({pattern})\)",
        rf"\b({pattern})[.)](?:\s|$)",
    )
    for regex in patterns:
        match = re.search(regex, text)
        if match:
            return match.group(1)
    lowered = text.lower()
    hits = [label for label, option in options if option and str(option).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def _squad_tokens(text: str) -> list[str]:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def f1(answer: str, reference: str) -> float:
    pred, gold = _squad_tokens(answer), _squad_tokens(reference)
    if not pred or not gold:
        return float(pred == gold)
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def grade(metric: str, answer: str, ground_truth: str,
          options: list[tuple[str, str]] | None = None) -> float | None:
    """The answer's score in [0, 1] under the task's metric; None for an ungraded metric."""
    answer = answer or ""
    if metric == "em_mc":
        return float(choose_letter(answer, options or []) == ground_truth.strip())
    if metric == "GSM8K":
        final, _ = final_answer(answer)
        got, want = _number(final), _number(reference_answer(metric, ground_truth))
        return float(got is not None and got == want)
    if metric == "MATH":
        want = reference_answer(metric, ground_truth)
        got = _last_boxed(answer)
        if got is None:
            got, _ = final_answer(answer)
        if got is None:
            return 0.0
        return float(_math_norm(got) == _math_norm(want))
    if metric == "f1_score":
        return f1(answer, ground_truth)
    if metric == "commongen_coverage":
        concepts = [c.strip().lower() for c in ground_truth.split(",") if c.strip()]
        words = set(re.findall(r"[a-z]+", answer.lower()))
        if not concepts:
            return 0.0
        used = sum(any(w.startswith(c[: max(3, len(c) - 2)]) for w in words) for c in concepts)
        return used / len(concepts)
    return None
