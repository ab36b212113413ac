"""Settings the user changes in the app, stored in the database and applied to the router.

The environment (AMBIENT_PRIVACY_MODE, AMBIENT_DAILY_BUDGET_USD, ...) gives the defaults;
what an admin saves on the Settings page wins, for every session and every replica that
shares the database. Each value is validated before it is stored, and every change of a
shared setting — these, the price table, the shared experts — is recorded with who made
it, when, and the value before and after (``record_change``, ``changes``), in the same
transaction as the change itself.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from llm.prices import format_usd
from llm.providers import TIER_ORDER
from llm.router import PRIVACY_MODES, LLMRequest, RouterSettings
from store.db import Database, utcnow
from store.models import SettingChangeRow, SettingRow
from store.owners import LOCAL_USER

KEYS = ("privacy_mode", "allow_cloud", "daily_budget_usd", "session_budget_usd",
        "user_daily_budget_usd", "models", "quality_target", "feedback_since")
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
    if key == "user_daily_budget_usd":
        return _budget("daily budget per user", value)
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


def save(db: Database, *, by: str = LOCAL_USER, before: RouterSettings | None = None,
         **values: Any) -> dict[str, Any]:
    """Validate and store ``values`` (all or nothing) as changed by ``by``; returns what
    is stored now. Each value that differs from what was in force (the stored value, else
    ``before``'s, the environment's default) is recorded as a change."""
    clean = {key: validate(key, value) for key, value in values.items()}
    defaults = _in_force(before) if before is not None else {}
    with db.write() as s:
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        for key, value in clean.items():
            row = s.get(SettingRow, key)
            old = row.value if row is not None else defaults.get(key)
            if old != value:
                _audit(s, by, key, old, value)
            statement = insert(SettingRow).values(key=key, value=value, updated_at=utcnow())
            s.execute(statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "updated_at": utcnow()}
            ))
    return stored(db)


def _in_force(settings: RouterSettings) -> dict[str, Any]:
    """``settings`` as the stored values would spell them (for an audit's "before")."""
    budget = settings.budget
    amount = (lambda value: None if value is None else str(value))  # noqa: E731
    return {
        "privacy_mode": settings.privacy_mode, "allow_cloud": settings.allow_cloud,
        "daily_budget_usd": amount(budget.daily_usd),
        "session_budget_usd": amount(budget.session_usd),
        "user_daily_budget_usd": amount(budget.user_daily_usd),
        "models": dict(settings.models), "quality_target": settings.quality_target,
    }


# -- who changed what ----------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    when: datetime
    user: str
    key: str
    old: Any
    new: Any


def _audit(s: Session, by: str, key: str, old: Any, new: Any) -> None:
    s.add(SettingChangeRow(created_at=utcnow(), user=by, key=key, old_value=old,
                           new_value=new))


def record_change(db: Database, by: str, key: str, old: Any, new: Any) -> None:
    """Record a change of a shared setting kept outside this table (the price table, a
    shared expert's file), right after it was made."""
    with db.write() as s:
        _audit(s, by, key, old, new)


def changes(db: Database, limit: int = 200) -> list[Change]:
    """The newest changes of shared settings, newest first."""
    with db.read() as s:
        rows = s.scalars(select(SettingChangeRow)
                         .order_by(SettingChangeRow.id.desc()).limit(limit)).all()
    return [Change(r.created_at, r.user, r.key, r.old_value, r.new_value) for r in rows]


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
    if "user_daily_budget_usd" in saved:
        amount = saved["user_daily_budget_usd"]
        budget = dataclasses.replace(
            budget, user_daily_usd=None if amount is None else Decimal(amount)
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


def shown(value: Any, limit: int = 160) -> str:
    """A stored value as one short line for the change log ("no cap" for a cleared cap)."""
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
