"""Settings the user changes in the app, stored in the database and applied to the router.

The environment (AMBIENT_PRIVACY_MODE, AMBIENT_DAILY_BUDGET_USD, ...) gives the defaults;
what the user saves on the Settings page wins, for every session and every replica that
shares the database. Each value is validated before it is stored.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from llm.prices import format_usd
from llm.providers import TIER_ORDER
from llm.router import PRIVACY_MODES, LLMRequest, RouterSettings
from store.db import Database, utcnow
from store.models import SettingRow

KEYS = ("privacy_mode", "allow_cloud", "daily_budget_usd", "session_budget_usd", "models",
        "quality_target", "feedback_since")
MAX_BUDGET = Decimal("10000")


class SettingsError(ValueError):
    """A value that cannot be saved; the message says which and why."""


def _budget(name: str, value: Any) -> str | None:
    if value in (None, "", "none"):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise SettingsError(f"The {name} must be an amount in dollars, like 2.50.") from exc
    if not amount.is_finite() or amount < 0 or amount > MAX_BUDGET:
        raise SettingsError(f"The {name} must be between $0 and {format_usd(MAX_BUDGET)}.")
    return str(amount)


def validate(key: str, value: Any) -> Any:
    if key == "privacy_mode":
        if value not in PRIVACY_MODES:
            raise SettingsError(f"Privacy mode must be one of {', '.join(PRIVACY_MODES)}.")
        return value
    if key == "allow_cloud":
        return bool(value)
    if key == "daily_budget_usd":
        return _budget("daily budget", value)
    if key == "session_budget_usd":
        return _budget("session budget", value)
    if key == "quality_target":
        try:
            target = float(value)
        except (TypeError, ValueError) as exc:
            raise SettingsError("The quality target must be a share, like 0.95.") from exc
        if not 0.5 <= target <= 1.0:
            raise SettingsError("The quality target must be between 50 % and 100 % of the "
                                "strongest allowed tier's quality.")
        return round(target, 3)
    if key == "feedback_since":
        if value is None:
            return None
        try:
            return datetime.fromisoformat(str(value)).replace(tzinfo=None).isoformat()
        except ValueError as exc:
            raise SettingsError("The feedback reset must be a date and time.") from exc
    if key == "models":
        if not isinstance(value, dict) or not all(
            tier in TIER_ORDER and isinstance(model, str) and 0 < len(model.strip()) <= 200
            for tier, model in value.items()
        ):
            raise SettingsError("Models must be a tier → model name mapping.")
        return {tier: model.strip() for tier, model in value.items()}
    raise SettingsError(f"There is no setting called {key!r}.")


def stored(db: Database) -> dict[str, Any]:
    with db.read() as s:
        return {row.key: row.value for row in s.scalars(select(SettingRow)).all()}


def save(db: Database, **values: Any) -> dict[str, Any]:
    """Validate and store ``values`` (all or nothing); returns what is stored now."""
    clean = {key: validate(key, value) for key, value in values.items()}
    with db.write() as s:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        for key, value in clean.items():
            statement = insert(SettingRow).values(key=key, value=value, updated_at=utcnow())
            s.execute(statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "updated_at": utcnow()}
            ))
    return stored(db)


def router_settings(db: Database, base: RouterSettings) -> RouterSettings:
    """``base`` (from the environment) with the user's saved settings applied."""
    saved = stored(db)
    budget = base.budget
    if "daily_budget_usd" in saved:
        amount = saved["daily_budget_usd"]
        budget = dataclasses.replace(budget, daily_usd=None if amount is None else Decimal(amount))
    if "session_budget_usd" in saved:
        amount = saved["session_budget_usd"]
        budget = dataclasses.replace(
            budget, session_usd=None if amount is None else Decimal(amount)
        )
    return dataclasses.replace(
        base,
        privacy_mode=saved.get("privacy_mode", base.privacy_mode),
        allow_cloud=saved.get("allow_cloud", base.allow_cloud),
        budget=budget,
        models={**base.models, **saved.get("models", {})},
        quality_target=float(saved.get("quality_target", base.quality_target)),
        feedback_since=(datetime.fromisoformat(saved["feedback_since"])
                        if saved.get("feedback_since") else base.feedback_since),
    )


def tier_probe(tier: str) -> LLMRequest:
    """The smallest useful request, pinned to ``tier``: Settings' "Test" button sends it."""
    return LLMRequest(messages=[{"role": "user", "content": "Reply with the word OK."}],
                      tier=tier, max_tokens=8)
