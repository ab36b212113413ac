"""A safe calculator: arithmetic answered exactly, never by a model and never by ``eval``.

``calculate("17*23")`` parses the expression with ``ast`` and walks the tree itself,
allowing only numbers, ``+ - * / // % **``, parentheses and a sign in front of a number
or a bracket. Everything else — names, calls, attributes, comparisons, strings — is
refused with a sentence saying what is allowed. Sizes are bounded before the work is
done: an exponent whose result would have more than ``MAX_DIGITS`` digits, or any
intermediate result that large, is refused as too large, so ``9**9**9`` costs nothing.

People write arithmetic in several ways, so ``normalise`` first turns the usual forms
into Python's: ``^`` is a power (as on a calculator, not Python's bitwise xor), ``×``
``x`` ``times`` multiply, ``÷`` ``divided by`` divide, ``1,000`` is a thousand,
``20% of 150`` is ``20/100*150``, ``squared`` and ``cubed`` are powers.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_CHARS = 200
MAX_DIGITS = 100  # no result (or step on the way) may be longer than this
ALLOWED = "numbers, + - * / // % ** (or ^), parentheses and a leading minus"

Number = int | float
_LIMIT = 10**MAX_DIGITS


class CalculationError(ValueError):
    """An expression that cannot be calculated; the message says why, as a sentence."""


@dataclass(frozen=True)
class Calculation:
    expression: str  # as calculated, e.g. "(2 + 3) ** 2"
    value: Number

    @property
    def result(self) -> str:
        return format_number(self.value)

    def sentence(self) -> str:
        return f"{self.expression} = {self.result}"


_WORDS = (
    (r"\bto the power of\b", "**"),
    (r"\bto the power\b", "**"),
    (r"\bmultiplied by\b", "*"),
    (r"\bdivided by\b", "/"),
    (r"\btimes\b", "*"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"\bmod(?:ulo)?\b", "%"),
    (r"\bsquared\b", "**2"),
    (r"\bcubed\b", "**3"),
)
_SYMBOLS = str.maketrans({"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "^": "**",
                          "[": "(", "]": ")"})
_PERCENT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|\bpercent\b)\s*of\b", re.IGNORECASE)
_X_TIMES = re.compile(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ARITHMETIC = re.compile(r"[\d.\s+\-*/%()]+")
_LEADING_ZERO = re.compile(r"(?<![\d.])0\d")


def normalise(text: str) -> str:
    """The usual ways of writing arithmetic in Python's notation (not yet checked)."""
    expression = text.strip().translate(_SYMBOLS)
    expression = _PERCENT_OF.sub(r"(\1/100)*", expression)
    for pattern, replacement in _WORDS:
        expression = re.sub(pattern, replacement, expression, flags=re.IGNORECASE)
    expression = _X_TIMES.sub("*", expression)
    expression = _THOUSANDS.sub("", expression)
    return expression.strip().rstrip("=").strip()


def looks_arithmetic(text: str) -> bool:
    """Whether ``text`` is nothing but arithmetic: digits, operators, brackets — at least
    one number and one operator (``17*23``, ``(2+3)^2``, ``12 divided by 4``). A date such
    as ``2024-01-05`` is not (a number with a leading zero is not read as arithmetic)."""
    expression = normalise(text)
    return bool(
        expression
        and _ARITHMETIC.fullmatch(expression)
        and re.search(r"\d", expression)
        and re.search(r"[\d)]\s*[+\-*/%]", expression)  # an operator between two terms
        and not _LEADING_ZERO.search(expression)
    )


def format_number(value: Number) -> str:
    """``391``, ``2.5``, ``0.333333333333``: exact for whole numbers, 12 significant
    digits for fractions (so 0.1 + 0.2 reads 0.3)."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".12g")
    return str(value)


def _too_large(what: str) -> CalculationError:
    return CalculationError(
        f"The result of {what} is too large to calculate here (more than {MAX_DIGITS} digits)."
    )


def _checked(value: object, shown: str) -> Number:
    if isinstance(value, complex):
        raise CalculationError(f"{shown} has no real-number result.")
    assert isinstance(value, (int, float))
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        raise _too_large(shown)
    if isinstance(value, int) and abs(value) >= _LIMIT:
        raise _too_large(shown)
    return value


def _nonzero(value: Number, should_be: bool, shown: str) -> Number:
    """A float that underflowed to 0 would be a wrong answer; say so instead."""
    if should_be and value == 0:
        raise CalculationError(
            f"The result of {shown} is too small to show here (it rounds to 0)."
        )
    return value


def _power(base: Number, exponent: Number, shown: str) -> Number:
    if base == 0 and exponent < 0:
        raise CalculationError(f"{shown} divides by zero.")
    if base != 0 and exponent * math.log10(abs(base)) > MAX_DIGITS:  # before the work
        raise _too_large(shown)
    try:
        return _nonzero(_checked(base ** exponent, shown), base != 0, shown)
    except OverflowError:
        raise _too_large(shown) from None


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _not_allowed(node: ast.AST, source: str) -> CalculationError:
    piece = ast.get_source_segment(source, node) or type(node).__name__
    return CalculationError(
        f"I can only calculate with {ALLOWED}; '{piece[:40]}' is not one of those."
    )


def _value(node: ast.AST, source: str) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _not_allowed(node, source)
        return _checked(node.value, ast.get_source_segment(source, node) or "the number")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand, source))
    if isinstance(node, ast.BinOp) and (type(node.op) in _BINARY or isinstance(node.op, ast.Pow)):
        left, right = _value(node.left, source), _value(node.right, source)
        shown = ast.unparse(node)
        if isinstance(node.op, ast.Pow):
            return _power(left, right, shown)
        if right == 0 and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            raise CalculationError(f"{shown} divides by zero, which has no result.")
        try:
            value = _checked(_BINARY[type(node.op)](left, right), shown)
            if isinstance(node.op, (ast.Mult, ast.Div)):
                return _nonzero(value, left != 0 and right != 0, shown)
            return value
        except OverflowError:
            raise _too_large(shown) from None
    raise _not_allowed(node, source)


def calculate(text: str) -> Calculation:
    """The exact value of ``text``; ``CalculationError`` (a sentence) for anything else."""
    expression = normalise(text)
    if not expression:
        raise CalculationError(f"There is nothing to calculate; use {ALLOWED}.")
    if len(expression) > MAX_CHARS:
        raise CalculationError(
            f"The expression is {len(expression)} characters long; keep it to {MAX_CHARS}."
        )
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculationError(
            f"'{expression[:60]}' is not an arithmetic expression I can read; use {ALLOWED}."
        ) from None
    try:
        value = _value(tree.body, expression)
    except RecursionError:
        raise CalculationError("The expression is nested too deeply to calculate.") from None
    return Calculation(ast.unparse(tree.body), value)
