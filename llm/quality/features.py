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

import bisect
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


def answer_features(prompt: str, answer: str,
                    prompt_numbers: list[str] | None = None) -> np.ndarray:
    """Features of a weak tier's answer to ``prompt``, in the order of ``ANSWER_FEATURES``.
    ``prompt_numbers``: ``numbers_in(window(prompt))``, if the caller has it already."""
    prompt = window(prompt or "")
    full = (answer or "").strip()
    chars = len(full)
    text = window(full)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    checked, wrong = arithmetic_checks(text)
    final, marked = final_answer(text)
    value = _value(final) if final is not None else None
    all_prompt_numbers = numbers_in(prompt) if prompt_numbers is None else prompt_numbers
    prompt_numbers = {n for n in all_prompt_numbers if n.lstrip("-") not in {"0", "1"}}
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
        1.0 if final is not None and final.replace(",", "") in set(all_prompt_numbers) else 0.0,
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


# -- answer checks, second pass (issue 14, fifth pass) ------------------------------------------
# Candidates tested by ``python -m bench.routing_cv --confidence`` (inner cross-validation
# inside the training part of the bench's outer splits); ``CHECK_FEATURES`` names them all,
# the confidence model uses the subset ``llm.quality.train.CONFIDENCE_CHECKS`` names.
_MARKDOWN_TIMES = re.compile(r"\\\*|\\times|\\cdot|×")
_NUMBER_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_CURRENCY = re.compile(r"[$€£]")
# a chain "a op b = c" or "a op (b op c) = d = e" (segments of numbers, operators, parentheses
# and percent signs joined by "="); words before or after it are left outside
_SEGMENT = r"[(\-]*\d(?:[\d.()+\-*/% ]*[\d)%])?"
_CHAIN = re.compile(rf"(?<![\w.])({_SEGMENT}(?: *= *{_SEGMENT})+)")
_CALC2 = re.compile(r"<<([^<>=]{1,80})=([^<>]{1,40})>>")
_EXPR_CHARS = re.compile(r"^[\d.\s()+\-*/%]+$")
_HAS_OPERATOR = re.compile(r"\d\s*[+\-*/%]|\)\s*[+\-*/]|[*/]\s*\(")
_FINAL_LINE = re.compile(r"####([^\n]*)")
_OPERAND = re.compile(r"\d+(?:\.\d+)?")
_COMMON_CONSTANTS = {0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 24.0,
                     30.0, 31.0, 52.0, 60.0, 100.0, 365.0, 1000.0, 0.5, 0.25}
_WORD_VALUES = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "half": 0.5, "twice": 2,
    "double": 2, "triple": 3, "dozen": 12, "quarter": 0.25, "third": 1 / 3, "percent": 100,
}

CHECK_FEATURES = (
    "k_log_checked", "k_log_wrong", "k_any_wrong", "k_wrong_share", "k_final_is_last_result",
    "k_final_in_results", "k_final_unsupported", "k_final_text_extra", "k_steps_per_number",
    "k_invented_share", "k_no_working",
)


def _safe_eval(expression: str) -> float | None:
    """The value of an arithmetic expression of numbers, + - * / and parentheses ("20%" is
    0.2); None for anything else. No ``eval``: a small recursive-descent parser."""
    text = expression.replace("%", "/100").replace(" ", "")
    pos = 0

    def number() -> float | None:
        nonlocal pos
        start = pos
        while pos < len(text) and (text[pos].isdigit() or text[pos] == "."):
            pos += 1
        try:
            return float(text[start:pos]) if pos > start else None
        except ValueError:
            return None

    def factor() -> float | None:
        nonlocal pos
        if pos < len(text) and text[pos] == "-":
            pos += 1
            value = factor()
            return None if value is None else -value
        if pos < len(text) and text[pos] == "(":
            pos += 1
            value = expr()
            if value is None or pos >= len(text) or text[pos] != ")":
                return None
            pos += 1
            return value
        return number()

    def term() -> float | None:
        nonlocal pos
        value = factor()
        while value is not None and pos < len(text) and text[pos] in "*/":
            op = text[pos]
            pos += 1
            right = factor()
            if right is None or (op == "/" and right == 0):
                return None
            value = value * right if op == "*" else value / right
        return value

    def expr() -> float | None:
        nonlocal pos
        value = term()
        while value is not None and pos < len(text) and text[pos] in "+-":
            op = text[pos]
            pos += 1
            right = term()
            if right is None:
                return None
            value = value + right if op == "+" else value - right
        return value

    value = expr()
    if value is None or pos != len(text) or not math.isfinite(value):
        return None
    return value


def _normalise_working(text: str) -> str:
    text = _MARKDOWN_TIMES.sub("*", text).replace("÷", "/").replace("−", "-")
    text = re.sub(r"%\s+of\s+", "% * ", text)
    text = _CURRENCY.sub("", _NUMBER_COMMA.sub("", text))
    # "3 x 4" (a multiplication sign written as the letter x between numbers)
    return re.sub(r"(?<=[\d)])\s*x\s*(?=[\d(])", " * ", text)


def working_equations(answer: str) -> list[tuple[str, float | None, float]]:
    """The equations of an answer's working, in order: (left side, its value or None, the
    value written on the right). Calculator annotations ``<<a*b=c>>`` and written chains
    ``a * (b + c) = d`` (markdown-escaped ``\\*``, ``×``, ``x`` between numbers, percent
    and parentheses understood; units and currency signs dropped)."""
    text = _normalise_working(answer)
    found: list[tuple[int, str, float | None, float]] = []
    for match in _CALC2.finditer(text):
        right = _value(match.group(2))
        left = match.group(1).strip()
        if right is not None and _EXPR_CHARS.match(left) and _HAS_OPERATOR.search(left):
            found.append((match.start(), left, _safe_eval(left), right))
    stripped = _CALC2.sub(lambda m: " " * len(m.group(0)), text)
    for match in _CHAIN.finditer(stripped):
        segments = [part.strip() for part in match.group(1).split("=")]
        if not any(_HAS_OPERATOR.search(part) for part in segments[:-1]):
            continue
        if any(part.count("(") != part.count(")") for part in segments):
            segments = [part.strip("()") if part.count("(") != part.count(")") else part
                        for part in segments]
        right = _safe_eval(segments[-1])
        if right is None:
            continue
        for part in segments[:-1]:
            if _HAS_OPERATOR.search(part):
                found.append((match.start(), part, _safe_eval(part), right))
    found.sort(key=lambda f: f[0])
    return [(left, value, right) for _, left, value, right in found]


_WORD_BOUNDED = {w: re.compile(rf"\b{w}\b") for w in _WORD_VALUES}


def _prompt_values(prompt_numbers: list[str], prompt: str) -> list[float]:
    """The values a prompt states, sorted: its numbers (20 also as 0.2 and 0.2 as 20: percent),
    and number words ("twelve", "half", "dozen")."""
    values = set()
    for n in prompt_numbers:
        try:
            values.add(float(n))
        except ValueError:
            continue
    values |= {v * 100 for v in values if 0 < v < 1}
    lowered = prompt.lower()
    present = [w for w in _WORD_VALUES if w in lowered]  # substring first: cheap, usually few
    if present and any(_WORD_BOUNDED[w].search(lowered) for w in present):
        values |= {float(_WORD_VALUES[w]) for w in present if _WORD_BOUNDED[w].search(lowered)}
    return sorted(v for v in values if math.isfinite(v))


def _in(value: float, ordered: list[float]) -> bool:
    """Whether ``value`` is close (``_close``) to one of the sorted ``ordered``: only its two
    neighbours in the order can be."""
    i = bisect.bisect_left(ordered, value)
    return (i < len(ordered) and _close(value, ordered[i])) or (
        i > 0 and _close(value, ordered[i - 1]))


def check_features(prompt: str, answer: str,
                   prompt_numbers: list[str] | None = None) -> np.ndarray:
    """The second pass of answer checks, in the order of ``CHECK_FEATURES``: the working's
    equations re-computed (parentheses, percent, markdown-escaped operators), whether the
    final answer is the result the working arrived at, numbers the working uses that come
    from nowhere (neither the prompt, nor an earlier result, nor a common constant).
    ``prompt_numbers``: ``numbers_in(window(prompt))``, if the caller has it already."""
    prompt = window(prompt or "")
    text = window((answer or "").strip())
    equations = working_equations(text)
    checked = [(v, r) for _, v, r in equations if v is not None]
    wrong = sum(1 for v, r in checked if not _close(v, r))
    results = sorted({r for _, _, r in equations})
    final, _ = final_answer(text)
    final_value = _value(final) if final is not None else None
    if prompt_numbers is None:
        prompt_numbers = numbers_in(prompt)
    prompt_values = _prompt_values(prompt_numbers, prompt)
    known = sorted(set(prompt_values) | _COMMON_CONSTANTS)
    operands = invented = 0
    for left, _, right in equations:
        for token in _OPERAND.findall(left):
            operands += 1
            if not _in(float(token), known):
                invented += 1
        bisect.insort(known, right)
    tail = _FINAL_LINE.search(text)
    extra = 0.0
    if tail is not None:
        after = tail.group(1)
        extra = 1.0 if (len(re.findall(r"\d+(?:\.\d+)?", after)) > 1
                        or re.search(r"[A-Za-z]{3,}", after)) else 0.0
    n_prompt_numbers = len(prompt_numbers)
    values = [
        _log(len(checked)),
        _log(wrong),
        1.0 if wrong else 0.0,
        wrong / len(checked) if checked else 0.0,
        1.0 if equations and final_value is not None and _close(final_value, equations[-1][2])
        else 0.0,
        1.0 if final_value is not None and _in(final_value, results) else 0.0,
        1.0 if final_value is not None and not _in(final_value, results)
        and not _in(final_value, prompt_values) else 0.0,
        extra,
        _log(len(equations)) - _log(n_prompt_numbers),
        invented / operands if operands else 0.0,
        1.0 if not equations else 0.0,
    ]
    return np.asarray(values, dtype=np.float64)
