"""The safe calculator: exact answers, no ``eval``, bounded work, a sentence for the rest;
and the same calculator as an action the planner may propose."""

from __future__ import annotations

import time

import pytest

from assistant.actions import Outcome, Proposal, execute
from assistant.calculator import CalculationError, calculate, looks_arithmetic
from store.db import Database
from tests.assistant.conftest import action_events, context


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("17*23", "17 * 23 = 391"),
        ("17 × 23", "17 * 23 = 391"),
        ("17 x 23", "17 * 23 = 391"),
        ("17 times 23", "17 * 23 = 391"),
        ("(2+3)^2", "(2 + 3) ** 2 = 25"),
        ("2**10", "2 ** 10 = 1024"),
        ("7 // 2", "7 // 2 = 3"),
        ("-7 % 3", "-7 % 3 = 2"),
        ("10 / 4", "10 / 4 = 2.5"),
        ("12 ÷ 4", "12 / 4 = 3"),
        ("1/3", "1 / 3 = 0.333333333333"),
        ("0.1 + 0.2", "0.1 + 0.2 = 0.3"),
        ("-(2 - 5) * 3", "-(2 - 5) * 3 = 9"),
        ("1,000 * 3", "1000 * 3 = 3000"),
        ("20% of 150", "20 / 100 * 150 = 30"),
        ("3 squared", "3 ** 2 = 9"),
        ("2 ** -2", "2 ** (-2) = 0.25"),
        ("17*23=", "17 * 23 = 391"),
        ("2 ** 300", "2 ** 300 = " + str(2**300)),
    ],
)
def test_arithmetic_is_exact(text: str, shown: str) -> None:
    assert calculate(text).sentence() == shown


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1/0", "1 / 0 divides by zero, which has no result."),
        ("5 // 0", "5 // 0 divides by zero, which has no result."),
        ("5 % 0", "5 % 0 divides by zero, which has no result."),
        ("0 ** -1", "0 ** (-1) divides by zero."),
        ("9**9**9", "too large to calculate here (more than 100 digits)"),
        ("10**100", "too large to calculate here"),
        ("2.5 ** 100000", "too large to calculate here"),
        ("1e308 * 10", "too large to calculate here"),
        ("2 ** -100000", "too small to show here"),
        ("(-8) ** (1/3)", "has no real-number result"),
        ("sqrt(16)", "'sqrt(16)' is not one of those"),
        ("__import__('os').system('true')", "is not one of those"),
        ("().__class__", "is not one of those"),
        ("True + 1", "'True' is not one of those"),
        ("'a' * 3", "is not one of those"),
        ("1 if 1 else 2", "is not one of those"),
        ("2 < 3", "is not one of those"),
        ("1, 2", "is not one of those"),
        ("lambda: 1", "is not one of those"),
        ("(1", "is not an arithmetic expression I can read"),
        ("2 +", "is not an arithmetic expression I can read"),
        ("", "There is nothing to calculate"),
        ("1+" * 150 + "1", "characters long; keep it to 200"),
    ],
)
def test_anything_else_is_a_clear_sentence(text: str, says: str) -> None:
    with pytest.raises(CalculationError) as refused:
        calculate(text)
    assert says in str(refused.value)
    assert str(refused.value).endswith(".")


def test_huge_powers_are_refused_before_any_work() -> None:
    started = time.monotonic()
    for text in ("9**9**9**9", "99999**99999", "(10**99)**(10**99)", "2**2**2**2**2**2"):
        with pytest.raises(CalculationError, match="too large"):
            calculate(text)
    assert time.monotonic() - started < 0.5


def test_no_eval_is_used() -> None:
    import inspect

    import assistant.calculator as module

    source = inspect.getsource(module)
    assert "eval(" not in source.replace('mode="eval"', "") and "exec(" not in source


@pytest.mark.parametrize("text", ["17*23", "17 * 23 =", "(2+3)^2", "3 times 4", "12/25"])
def test_what_looks_like_arithmetic(text: str) -> None:
    assert looks_arithmetic(text)


@pytest.mark.parametrize("text", ["hello", "5", "-5", "2024-01-05", "1.5e3 * 2", "a + b",
                                  "what is 2+2", ""])
def test_what_does_not(text: str) -> None:
    assert not looks_arithmetic(text)


def test_the_calculate_action_runs_for_the_planner(db: Database, sid: str) -> None:
    ctx = context(db, sid)
    assert execute(ctx, Proposal("calculate", {"expression": "17*23"})) == Outcome(
        True, "17 * 23 = 391"
    )
    refused = execute(ctx, Proposal("calculate", {"expression": "1/0"}))
    assert refused == Outcome(False, "1 / 0 divides by zero, which has no result.")
    assert [e["message"] for e in action_events(db, sid)] == [
        "17 * 23 = 391", "1 / 0 divides by zero, which has no result."
    ]


def test_the_planner_may_propose_it_for_arithmetic_among_other_words(
    db: Database, sid: str
) -> None:
    from assistant.planner import may_ask_for_action
    from assistant.turn import ChatTurn
    from core.conversation import history
    from tests.assistant.test_planner import plan_json, scripted_router

    text = "What is 17*23 in euros, if a euro is one unit?"
    assert may_ask_for_action(text)
    router, _ = scripted_router(
        db, plan_json({"name": "calculate", "args": {"expression": "17*23"}}),
        "It is 391 units, so 391 euros.",
    )
    "".join(ChatTurn(db, sid, text, router=router).stream())
    reply = history(db, sid)[-1]
    assert reply.meta["actions"][0] == {"ok": True, "message": "17 * 23 = 391", "effect": None}
