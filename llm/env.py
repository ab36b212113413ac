"""Settings read from environment variables, one parser per kind of value.

Each function returns ``default`` when the variable is unset or blank, and raises a
``ValueError`` whose message names the variable, says what it holds and what it should
hold, so a typo in a deployment's environment is one readable sentence at start-up rather
than a stack trace from deep inside a provider.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from decimal import Decimal, InvalidOperation
from typing import overload

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_NO_CAP = ("none", "off")


@overload
def env_text(name: str) -> str | None: ...
@overload
def env_text(name: str, default: str) -> str: ...
def env_text(name: str, default: str | None = None) -> str | None:
    """The variable's value without surrounding spaces, or ``default`` if unset or blank."""
    raw = os.environ.get(name, "").strip()
    return raw or default


def env_bool(name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off, in any case."""
    raw = env_text(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError(
        f"{name}={raw!r} is neither on nor off; set it to one of {', '.join(_TRUE)} or "
        f"{', '.join(_FALSE)}."
    )


@overload
def env_int(name: str, default: int, *, minimum: int | None = None) -> int: ...
@overload
def env_int(name: str, default: None = None, *, minimum: int | None = None) -> int | None: ...
def env_int(name: str, default: int | None = None, *, minimum: int | None = None) -> int | None:
    """A whole number, at least ``minimum`` when one is given."""
    raw = env_text(name)
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number; set it to e.g. "
                         f"{default if default is not None else 4}, or unset it.") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={raw!r} is too small; set it to {minimum} or more.")
    return value


@overload
def env_float(name: str, default: float, *, positive: bool = False) -> float: ...
@overload
def env_float(name: str, default: None = None, *, positive: bool = False) -> float | None: ...
def env_float(name: str, default: float | None = None, *,
              positive: bool = False) -> float | None:
    """A finite number; above zero when ``positive``."""
    raw = env_text(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name}={raw!r} is not a number; set it to e.g. "
                         f"{default if default is not None else 1.5}, or unset it.")
    if positive and value <= 0:
        raise ValueError(f"{name}={raw!r} must be a number above zero.")
    return value


def env_usd(name: str, default: Decimal | str | None) -> Decimal | None:
    """An amount of US dollars ("1.50", "$1.50"); "none" or "off" mean no amount (no cap).

    ``default`` applies when the variable is unset or blank, and may itself be "none".
    """
    raw = env_text(name)
    if raw is None:
        if default is None or str(default).strip().lower() in ("", *_NO_CAP):
            return None
        return Decimal(str(default))
    if raw.lower() in _NO_CAP:
        return None
    try:
        value = Decimal(raw.removeprefix("$").replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name}={raw!r} is not an amount of dollars; set it to e.g. 1.00, "
                         "or to none for no cap.")
    return value


def env_choice(name: str, default: str, choices: Collection[str]) -> str:
    """One of ``choices``, spelled exactly."""
    raw = env_text(name)
    if raw is None:
        return default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")
    return raw
