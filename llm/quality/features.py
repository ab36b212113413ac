"""Features of a prompt (before the call) and of a prompt + answer (after it).

Everything here is deterministic, needs only the standard library and numpy, and is cheap:
a handful of compiled regular expressions over the text, plus hashed word n-grams whose
bucket numbers come from ``zlib.crc32`` (Python's own ``hash`` of a string changes with
every process, so it cannot index stored weights).

The hand features are the ones that carry across datasets (ROUTING.md, lesson 2): length,
numbers and operators, the kind of question, how many constraints it stacks, options of a
multiple-choice question, code. The answer features are the ones that catch a wrong answer
in its own text (lesson 3): arithmetic in the answer's working that does not hold, a
non-integer or missing final answer, hedging, numbers of the prompt left unused, a cut-off
or looping answer, and — when the tier reports them — quantiles of the per-token
probabilities (Gupta et al., ICLR 2024), not only their mean.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

import numpy as np

# -- shared patterns ------------------------------------------------------------------
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_OPERATORS = ("+", "*", "/", "=", "^", "×", "÷", " - ", "\\frac", "\\sqrt", "\\times", "\\cdot")
_LATEX = re.compile(r"\$|\\[a-z]+\{?")
_OPTION = re.compile(r"(?m)^\s*\(?[A-J][.)]\s+\S")
_NUMBERED = re.compile(r"(?m)^\s*\d{1,2}[.)]\s+\S")
_CODE_MARKS = ("```", "def ", "return ", "class ", "import ", "{", "}", ";", "=>", "()")
_FRACTION_NUM = re.compile(r"\d[/.]\d")
_LONG_WORD = re.compile(r"[a-z]{9,}")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+")

def _words(text: str) -> set[str]:
    return set(text.split())


# Question types, constraints, negations and number words are looked up word by word in
# one pass (a dict lookup per word) instead of one regular expression each.
_QTYPE_WORDS = {
    "what_which": "what which who whom whose where when",
    "why_explain": "why explain describe discuss compare analyze analyse",
    "compute": "calculate compute solve evaluate simplify find determine",
    "prove": "prove derive justify",
    "write": "write implement create generate compose draft",
    "code": "function python code program algorithm array string list",
    "summarise": "summarize summarise summary translate",
}
_QTYPE_PHRASES = {
    "quantity": {"how many", "how much", "how long", "how far", "how old", "how fast"},
    "prove": {"show that"},
}
QTYPES = ("quantity", "what_which", "why_explain", "compute", "prove", "write", "code",
          "yes_no", "summarise", "greeting")
_CONSTRAINT_WORDS = _words(
    "if each every per then after before total remaining rest left fewer times twice thrice "
    "half quarter third double triple percent rate ratio average sum difference profit cost "
    "price discount increase decrease between respectively only must exactly except unless "
    "given"
)
_CONSTRAINT_PHRASES = {"more than", "less than", "at least", "at most"}
_NEGATION_WORDS = _words("not except least false incorrect never none")
_NUMBER_WORDS = _words(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty "
    "hundred thousand million dozen"
)
_YES_NO = _words("is are does do can could was were will would should has have")
_GREETING = {"hi", "hello", "hey", "thanks", "thank"}
_WORD_CLASS: dict[str, tuple[str, ...]] = {}
for _name, _words_of in _QTYPE_WORDS.items():
    for _w in _words_of.split():
        _WORD_CLASS[_w] = (*_WORD_CLASS.get(_w, ()), _name)
for _w in _CONSTRAINT_WORDS:
    _WORD_CLASS[_w] = (*_WORD_CLASS.get(_w, ()), "constraint")
for _w in _NEGATION_WORDS:
    _WORD_CLASS[_w] = (*_WORD_CLASS.get(_w, ()), "negation")
for _w in _NUMBER_WORDS:
    _WORD_CLASS[_w] = (*_WORD_CLASS.get(_w, ()), "number_word")
for _w in ("dollars", "dollar", "cents", "euros", "pounds"):
    _WORD_CLASS[_w] = (*_WORD_CLASS.get(_w, ()), "money")
_WORD_CLASS["percent"] = (*_WORD_CLASS["percent"], "percent")
_PHRASE_CLASS = {p: name for name, phrases in _QTYPE_PHRASES.items() for p in phrases}
_PHRASE_CLASS.update({p: "constraint" for p in _CONSTRAINT_PHRASES})
_DIGITS = str.maketrans("", "", "0123456789")
WINDOW = 2000  # characters read by the pattern features: the start and the end of a prompt
# (2,000, not 3,000, for the 2 ms scoring goal on an 8,000-character prompt: only about 2 % of
# the training prompts are longer than 2,000 characters, so the features barely move)

PROMPT_FEATURES = (
    "log_chars", "log_words", "log_lines", "log_sentences", "log_numbers", "log_distinct_numbers",
    "digit_share", "log_operators", "latex", "log_questions", "log_options", "answer_suffix",
    *(f"q_{name}" for name in QTYPES), "log_constraints", "constraints_per_sentence",
    "log_negations", "log_code", "mean_word_len", "long_word_share", "capitalised_share",
    "log_money", "log_percent", "log_fraction_numbers", "log_max_number", "log_commas",
    "log_numbered_lines", "log_word_numbers", "short_prompt",
)


def _log(x: float) -> float:
    return math.log1p(x)


def window(text: str, size: int = WINDOW) -> str:
    """``text`` itself, or its first and last ``size // 2`` characters."""
    if len(text) <= size:
        return text
    half = size // 2
    return text[:half] + "\n" + text[-half:]


def numbers_in(text: str) -> list[str]:
    """The numbers written in ``text`` (thousands separators removed), in order."""
    return [m.replace(",", "") for m in _NUMBER.findall(text)]


def prompt_features(prompt: str) -> np.ndarray:
    """The hand features of a prompt, in the order of ``PROMPT_FEATURES``.

    Counts of characters, lines, digits, question marks and commas read the whole prompt;
    the word and pattern features read ``window(prompt)`` (a long document pasted between
    the instructions and the question changes the length, not the kind of question)."""
    text = prompt or ""
    chars = len(text)
    digits = chars - len(text.translate(_DIGITS))
    part = window(text)
    lowered = part.lower()
    words = _WORD.findall(lowered)
    n_words = len(words)
    counts = dict.fromkeys(("constraint", "negation", "number_word", "money", "percent",
                            *QTYPES), 0)
    counted = Counter(words)
    for word in counted.keys() & _WORD_CLASS.keys():  # the few words that belong to a class
        times = counted[word]
        for name in _WORD_CLASS[word]:
            counts[name] += times
    for phrase, name in _PHRASE_CLASS.items():
        if phrase in lowered:
            counts[name] += lowered.count(phrase)
    letters = sum(map(len, words))
    long_words = len(_LONG_WORD.findall(lowered))
    capitalised = len(_CAPITALISED.findall(part))
    if words and words[0] in _YES_NO:
        counts["yes_no"] += 1
    if words and (words[0] in _GREETING or words[:2] in (["good", "morning"],
                                                        ["good", "evening"])):
        counts["greeting"] += 1
    numbers = numbers_in(part)
    sentences = len(_SENTENCE_END.findall(part)) + 1
    try:  # every match of _NUMBER, commas removed, is a float literal
        max_number = max((abs(float(n)) for n in numbers), default=0.0)
    except ValueError:
        max_number = 0.0
    constraints = counts["constraint"]
    values = [
        _log(chars),
        _log(n_words * chars / len(part) if part else 0),
        _log(text.count("\n")),
        _log(sentences),
        _log(len(numbers)),
        _log(len(set(numbers))),
        digits / chars if chars else 0.0,
        _log(sum(part.count(op) for op in _OPERATORS)),
        1.0 if _LATEX.search(part) else 0.0,
        _log(text.count("?")),
        _log(len(_OPTION.findall(part))),
        1.0 if text.rstrip().endswith("Answer:") else 0.0,
        *(1.0 if counts[name] else 0.0 for name in QTYPES),
        _log(constraints),
        constraints / sentences,
        _log(counts["negation"]),
        _log(sum(part.count(mark) for mark in _CODE_MARKS)),
        (letters / n_words if n_words else 0.0) / 10.0,
        long_words / n_words if n_words else 0.0,
        capitalised / n_words if n_words else 0.0,
        _log(part.count("$") + counts["money"]),
        _log(part.count("%") + counts["percent"]),
        _log(len(_FRACTION_NUM.findall(part))),
        math.log10(1.0 + min(max_number, 1e12)) / 3.0,
        _log(text.count(",")),
        _log(len(_NUMBERED.findall(part))),
        _log(counts["number_word"]),
        1.0 if n_words <= 8 else 0.0,
    ]
    return np.asarray(values, dtype=np.float64)


# -- hashed word n-grams -----------------------------------------------------------------
_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
NGRAM_BUCKETS = 1 << 18


_TOKEN_HASH: dict[str, int] = {}
_DIGIT_RUN = re.compile(r"\d+")


def _token_hash(token: str) -> int:
    value = _TOKEN_HASH.get(token)
    if value is None:
        if len(_TOKEN_HASH) > 200_000:
            _TOKEN_HASH.clear()
        value = _TOKEN_HASH[token] = zlib.crc32(token.encode("utf-8"))
    return value


def hashed_ngrams(text: str, buckets: int = NGRAM_BUCKETS) -> tuple[np.ndarray, np.ndarray]:
    """Word unigrams and bigrams of ``text`` hashed into ``buckets`` (numbers become one
    token), as (bucket indices, values); values are binary then L2-normalised.

    A token's hash is its CRC-32 (stable across processes and machines); a bigram's is
    mixed from its two tokens' hashes. Only ``window(text)`` is read: the question is at the
    start or at the end, and a long document in between would cost time, not signal.
    (Digit runs are replaced by "0" before tokenising and each distinct token is hashed
    once: the same tokens as a per-token loop, at a fraction of the Python work.)"""
    tokens = _TOKEN.findall(_DIGIT_RUN.sub("0", window(text or "").lower()))
    if not tokens:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    cache = _TOKEN_HASH
    for t in set(tokens):
        if t not in cache:
            _token_hash(t)
    try:
        h = np.fromiter(map(cache.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    except KeyError:  # the cache was cleared while filling it: hash one by one
        h = np.fromiter(map(_token_hash, tokens), dtype=np.uint64, count=len(tokens))
    pairs = (h[:-1] * np.uint64(1_000_003) + h[1:] * np.uint64(7919) + np.uint64(1)) % np.uint64(
        0xFFFFFFFB)
    idx = np.unique(np.concatenate([h, pairs]) % np.uint64(buckets)).astype(np.int64)
    values = np.full(idx.shape, 1.0 / math.sqrt(len(idx)))
    return idx, values


# -- the answer ------------------------------------------------------------------------
_CALC = re.compile(r"<<([^<>=]{1,80})=([^<>]{1,40})>>")
_NUM = r"-?\$?\d[\d,]*(?:\.\d+)?%?"
_EQUATION = re.compile(
    rf"({_NUM}(?:\s*(?:[+\-*/×÷x]|\\times|\\cdot)\s*{_NUM}){{1,6}})\s*=\s*({_NUM})"
)
_FINAL = re.compile(
    r"####\s*(" + _NUM + r")|\\boxed\{([^{}]{1,40})\}|answer is[:\s]*\$?\s*(" + _NUM + r")",
    re.I,
)
_HEDGE_WORDS = _words(
    "however assume assuming assumed assumption approximately roughly about around cannot "
    "impossible unclear sorry might may maybe perhaps probably round rounded rounding actually "
    "wait mistake error reevaluate insufficient ambiguous unfortunately estimate estimated"
)
_HEDGE_PHRASES = ("can't", "can not", "not possible", "not clear", "i think", "re-evaluate",
                  "let's re", "doesn't make sense", "does not make sense",
                  "not enough information", "but since")
_REFUSAL = re.compile(
    r"\b(?:i (?:can(?:no|')t|am unable|'m unable|am not able)|as an ai|i do not have|i don't have"
    r"|i don't know|i do not know|not sure)\b",
    re.I,
)
_LETTER = re.compile(r"(?:^|answer(?: is)?[:\s]*|\(|\b)([A-J])(?:[.):]|\s|$)")

ANSWER_FEATURES = (
    "a_log_chars", "a_log_lines", "a_length_ratio", "a_log_numbers", "a_equations",
    "a_wrong_equations", "a_any_wrong", "a_wrong_share", "a_final_marked", "a_final_missing",
    "a_final_non_integer", "a_final_negative", "a_final_in_prompt", "a_final_log_magnitude",
    "a_hedges", "a_refusal", "a_prompt_numbers_unused", "a_cut_off", "a_repetition",
    "a_letter_only", "a_many_letters", "a_empty", "a_options_in_prompt",
)
LOGPROB_FEATURES = (
    "lp_present", "lp_mean", "lp_min", "lp_q05", "lp_q10", "lp_q25", "lp_q50", "lp_share_low",
    "lp_log_tokens",
)


def _value(token: str) -> float | None:
    token = token.replace(",", "").replace("$", "").strip()
    percent = token.endswith("%")
    token = token.rstrip("%")
    try:
        value = float(token)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return value / 100 if percent else value


_EXPR_TOKEN = re.compile(r"\\times|\\cdot|[+\-*/×÷x]|-?\$?\d[\d,]*(?:\.\d+)?%?")


def _evaluate(expression: str) -> float | None:
    """The value of ``a op b op c ...`` with * and / before + and -; None if not simple."""
    tokens = _EXPR_TOKEN.findall(expression)
    terms: list[float] = []
    ops: list[str] = []
    expect_number = True
    for tok in tokens:
        if expect_number:
            value = _value(tok)
            if value is None:
                return None
            terms.append(value)
        else:
            ops.append({"\\times": "*", "\\cdot": "*", "×": "*", "x": "*", "÷": "/"}.get(tok, tok))
        expect_number = not expect_number
    if not terms or len(ops) != len(terms) - 1:
        return None
    # * and / first
    total_terms = [terms[0]]
    signs: list[str] = []
    for op, value in zip(ops, terms[1:], strict=True):
        if op == "*":
            total_terms[-1] *= value
        elif op == "/":
            if value == 0:
                return None
            total_terms[-1] /= value
        else:
            signs.append(op)
            total_terms.append(value)
    result = total_terms[0]
    for op, value in zip(signs, total_terms[1:], strict=True):
        result = result + value if op == "+" else result - value
    return result if math.isfinite(result) else None


def _close(a: float, b: float) -> bool:
    if a == b:
        return True
    scale = max(abs(a), abs(b), 1.0)
    # rounding in the working (3.33 for 10/3, 0.67 for 2/3) is not an error
    return abs(a - b) <= scale * 0.01 or abs(a - b) <= 0.01


def arithmetic_checks(answer: str) -> tuple[int, int]:
    """(equations checked, equations that do not hold) in the answer's own working:
    ``a op b = c`` chains and calculator annotations ``<<a*b=c>>``."""
    checked = wrong = 0
    for match in _CALC.finditer(answer):
        left, right = _evaluate(match.group(1)), _value(match.group(2))
        if left is not None and right is not None:
            checked += 1
            wrong += not _close(left, right)
    stripped = _CALC.sub(" ", answer)
    for match in _EQUATION.finditer(stripped):
        left, right = _evaluate(match.group(1)), _value(match.group(2))
        if left is not None and right is not None:
            checked += 1
            wrong += not _close(left, right)
    return checked, wrong


def final_answer(answer: str) -> tuple[str | None, bool]:
    """The final answer's text and whether it was marked (####, \\boxed, "answer is");
    unmarked, the last number of the answer."""
    found = None
    for match in _FINAL.finditer(answer):
        found = next(g for g in match.groups() if g is not None)
    if found is not None:
        return found.strip(), True
    numbers = numbers_in(answer)
    return (numbers[-1] if numbers else None), False


def answer_features(prompt: str, answer: str) -> np.ndarray:
    """Features of a weak tier's answer to ``prompt``, in the order of ``ANSWER_FEATURES``."""
    prompt = window(prompt or "")
    full = (answer or "").strip()
    chars = len(full)
    text = window(full)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    checked, wrong = arithmetic_checks(text)
    final, marked = final_answer(text)
    value = _value(final) if final is not None else None
    prompt_numbers = {n for n in numbers_in(prompt) if n.lstrip("-") not in {"0", "1"}}
    answer_numbers = set(numbers_in(text))
    unused = (len(prompt_numbers - answer_numbers) / len(prompt_numbers)) if prompt_numbers else 0.0
    lowered = text.lower()
    hedges = sum(1 for w in _WORD.findall(lowered) if w in _HEDGE_WORDS)
    hedges += sum(lowered.count(phrase) for phrase in _HEDGE_PHRASES)
    cut_off = bool(text) and not re.search(r"[.!?)\]}\"'`*|$\d]\s*$", text[-3:])
    repetition = 1.0 - len(set(lines)) / len(lines) if len(lines) > 1 else 0.0
    options = len(_OPTION.findall(prompt))
    letters = set(_LETTER.findall(text[:200])) if options else set()
    values = [
        _log(chars),
        _log(len(lines)),
        min(chars / (len(prompt) + 50.0), 10.0),
        _log(len(answer_numbers)),
        _log(checked),
        _log(wrong),
        1.0 if wrong else 0.0,
        wrong / checked if checked else 0.0,
        1.0 if marked else 0.0,
        1.0 if final is None else 0.0,
        1.0 if value is not None and abs(value - round(value)) > 1e-9 else 0.0,
        1.0 if value is not None and value < 0 else 0.0,
        1.0 if final is not None and final.replace(",", "") in set(numbers_in(prompt)) else 0.0,
        math.log10(1.0 + min(abs(float(value)), 1e12)) / 3.0 if value is not None else 0.0,
        _log(hedges),
        1.0 if _REFUSAL.search(text) else 0.0,
        unused,
        1.0 if cut_off else 0.0,
        repetition,
        1.0 if options and chars <= 3 and text[:1].upper() in "ABCDEFGHIJ" else 0.0,
        1.0 if len(letters) > 1 else 0.0,
        1.0 if not text else 0.0,
        1.0 if options else 0.0,
    ]
    return np.asarray(values, dtype=np.float64)


def logprob_features(logprobs: list[float] | None) -> np.ndarray:
    """Quantiles of per-token probabilities (and their mean log-probability); zeros and
    ``lp_present = 0`` when the tier reports none."""
    if not logprobs:
        return np.zeros(len(LOGPROB_FEATURES))
    lp = np.asarray(logprobs, dtype=np.float64)
    lp = np.clip(np.nan_to_num(lp, nan=-20.0, neginf=-20.0, posinf=0.0), -20.0, 0.0)
    p = np.sort(np.exp(lp))
    # linear-interpolated quantiles (numpy's default), without np.quantile's overhead
    at = np.array([0.05, 0.10, 0.25, 0.50]) * (len(p) - 1)
    below = np.floor(at).astype(int)
    above = np.minimum(below + 1, len(p) - 1)
    q05, q10, q25, q50 = p[below] + (p[above] - p[below]) * (at - below)
    return np.asarray([
        1.0,
        float(lp.mean()) / 5.0,
        float(lp.min()) / 20.0,
        q05, q10, q25, q50,
        float((p < 0.5).mean()),
        _log(len(lp)) / 5.0,
    ])
