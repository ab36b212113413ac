"""Memory: short facts the user asked the assistant to keep (their name, a favourite colour).

Facts are key-value pairs in a *scope* — ``user:<name>`` for one person (every tab of
theirs reads the same facts), or ``global`` for facts everyone shares. Keys are
normalised to lowercase words joined by underscores, so "Favourite Colour" and
"favourite colour" are the same fact. The assistant reads them through ``facts_digest``,
one line per fact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.db import Database, utcnow
from store.models import MemoryRow
from store.owners import LOCAL_USER, owner_of

KEY_LIMIT = 60
VALUE_LIMIT = 500
FACTS_LIMIT = 100  # per scope: every fact goes into every prompt
GLOBAL_SCOPE = "global"
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Fact:
    scope: str
    key: str
    value: str
    updated_at: datetime | None = None


def scope_for(db: Database, session_id: str) -> str:
    """The memory of the user who owns ``session_id``."""
    with db.read() as s:
        return f"user:{owner_of(s, session_id) or LOCAL_USER}"


def normalise_key(key: str) -> str:
    """``"  Favourite Colour!"`` → ``"favourite_colour"``; a readable ValueError if unusable."""
    words = _WORD.findall(str(key).lower())
    normalised = "_".join(words)
    if not normalised:
        raise ValueError(
            "A fact needs a name made of letters or digits, such as 'name' or "
            "'favourite_colour'."
        )
    if len(normalised) > KEY_LIMIT:
        raise ValueError(
            f"The fact's name '{normalised[:40]}…' is {len(normalised)} characters long; "
            f"keep it to {KEY_LIMIT} or fewer."
        )
    return normalised


def normalise_value(key: str, value: str) -> str:
    """Whitespace collapsed to single spaces, so each fact stays one line of the digest."""
    cleaned = " ".join(str(value).split())
    if not cleaned:
        raise ValueError(f"There is nothing to remember for '{key}': the value is empty.")
    if len(cleaned) > VALUE_LIMIT:
        raise ValueError(
            f"The value for '{key}' is {len(cleaned)} characters long; keep it to "
            f"{VALUE_LIMIT} or fewer."
        )
    return cleaned


def _upsert(s: Session, scope: str, key: str, value: str) -> None:
    """One statement on SQLite and PostgreSQL, so two sessions saving at once cannot clash."""
    now = utcnow()
    dialect = s.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
        statement = insert(MemoryRow).values(scope=scope, key=key, value=value, updated_at=now)
        s.execute(statement.on_conflict_do_update(
            index_elements=[MemoryRow.scope, MemoryRow.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        ))
        return
    row = s.get(MemoryRow, (scope, key), with_for_update=True)
    if row is None:
        s.add(MemoryRow(scope=scope, key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def remember(db: Database, scope: str, key: str, value: str) -> Fact:
    """Store ``value`` under ``key`` (replacing what was there) and return the stored fact."""
    key = normalise_key(key)
    value = normalise_value(key, value)
    with db.write() as s:
        known = s.get(MemoryRow, (scope, key)) is not None
        if not known:
            count = s.scalar(
                select(func.count()).select_from(MemoryRow).where(MemoryRow.scope == scope)
            ) or 0
            if count >= FACTS_LIMIT:
                raise ValueError(
                    f"{FACTS_LIMIT} facts are already remembered; forget one before adding "
                    "another."
                )
        _upsert(s, scope, key, value)
        row = s.get(MemoryRow, (scope, key), populate_existing=True)
        assert row is not None
        return Fact(scope, row.key, row.value, row.updated_at)


def forget(db: Database, scope: str, key: str) -> bool:
    """Remove the fact; False when nothing was remembered under that key."""
    try:
        key = normalise_key(key)
    except ValueError:
        return False
    with db.write() as s:
        removed = s.execute(
            delete(MemoryRow).where(MemoryRow.scope == scope, MemoryRow.key == key)
        ).rowcount
    return bool(removed)


def facts(db: Database, scope: str) -> dict[str, str]:
    """Every fact in ``scope``, sorted by key."""
    with db.read() as s:
        rows = s.execute(
            select(MemoryRow.key, MemoryRow.value)
            .where(MemoryRow.scope == scope)
            .order_by(MemoryRow.key)
        ).all()
    return {key: value for key, value in rows}


def facts_digest(known: Mapping[str, str]) -> str:
    """The facts as the model reads them, or "" when there are none."""
    if not known:
        return ""
    lines = [f"- {key}: {value}" for key, value in sorted(known.items())]
    return "Things the user told you to remember:\n" + "\n".join(lines)
