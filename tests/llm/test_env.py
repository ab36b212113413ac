"""One parser per kind of environment variable: unset or blank means the default, anything
else is either understood or refused with a sentence that names the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm.env import env_bool, env_choice, env_float, env_int, env_text, env_usd

NAME = "AMBIENT_TEST_SETTING"


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.delenv(NAME, raising=False)
    return lambda value: monkeypatch.setenv(NAME, value)


def test_unset_or_blank_means_the_default(setenv) -> None:  # noqa: ANN001
    for value in (None, "", "   "):
        if value is not None:
            setenv(value)
        assert env_text(NAME) is None and env_text(NAME, "x") == "x"
        assert env_bool(NAME, True) is True and env_bool(NAME, False) is False
        assert env_int(NAME) is None and env_int(NAME, 7) == 7
        assert env_float(NAME, 2.5) == 2.5
        assert env_usd(NAME, "1.00") == Decimal("1.00") and env_usd(NAME, "none") is None
        assert env_choice(NAME, "a", ("a", "b")) == "a"


def test_text_is_stripped(setenv) -> None:  # noqa: ANN001
    setenv("  http://127.0.0.1:11434 \n")
    assert env_text(NAME) == "http://127.0.0.1:11434"


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), ("YES", True), ("On", True),
    ("0", False), ("false", False), ("No", False), ("off", False),
])
def test_booleans_in_the_usual_spellings(setenv, raw: str, expected: bool) -> None:  # noqa: ANN001
    setenv(raw)
    assert env_bool(NAME, not expected) is expected


@pytest.mark.parametrize(("parse", "raw", "words"), [
    (lambda: env_bool(NAME, True), "maybe", "neither on nor off"),
    (lambda: env_int(NAME, 4), "four", "not a whole number"),
    (lambda: env_int(NAME, 4), "2.5", "not a whole number"),
    (lambda: env_int(NAME, 4, minimum=1), "0", "1 or more"),
    (lambda: env_float(NAME, 60.0), "soon", "not a number"),
    (lambda: env_float(NAME, 60.0), "nan", "not a number"),
    (lambda: env_float(NAME, 60.0), "inf", "not a number"),
    (lambda: env_float(NAME, 60.0, positive=True), "0", "above zero"),
    (lambda: env_float(NAME, 60.0, positive=True), "-1", "above zero"),
    (lambda: env_usd(NAME, "1.00"), "a lot", "not an amount of dollars"),
    (lambda: env_usd(NAME, "1.00"), "-5", "not an amount of dollars"),
    (lambda: env_usd(NAME, "1.00"), "Infinity", "not an amount of dollars"),
    (lambda: env_choice(NAME, "keep_local", ("keep_local", "redact")), "cloud", "one of"),
])
def test_bad_values_are_refused_with_a_sentence_naming_the_variable(
    setenv, parse, raw: str, words: str  # noqa: ANN001
) -> None:
    setenv(raw)
    with pytest.raises(ValueError) as refused:
        parse()
    message = str(refused.value)
    assert message.startswith(NAME) and words in message and message.endswith(".")
    assert repr(raw) in message


def test_numbers(setenv) -> None:  # noqa: ANN001
    setenv(" 8_192 ")
    assert env_int(NAME, 4096, minimum=1) == 8192
    setenv("-3")
    assert env_int(NAME, 4) == -3
    setenv("2.5")
    assert env_float(NAME, 60.0, positive=True) == 2.5


@pytest.mark.parametrize(("raw", "expected"), [
    ("0.25", Decimal("0.25")), ("$1.50", Decimal("1.50")), ("1,000", Decimal("1000")),
    ("0", Decimal(0)), ("none", None), ("OFF", None), ("None", None),
])
def test_money_and_no_cap(setenv, raw: str, expected: Decimal | None) -> None:  # noqa: ANN001
    setenv(raw)
    assert env_usd(NAME, "1.00") == expected


def test_a_choice_is_spelled_exactly(setenv) -> None:  # noqa: ANN001
    setenv("redact")
    assert env_choice(NAME, "keep_local", ("keep_local", "redact")) == "redact"
    setenv("Redact")
    with pytest.raises(ValueError, match="must be one of keep_local, redact, not 'Redact'"):
        env_choice(NAME, "keep_local", ("keep_local", "redact"))
