"""The people who use Ambient, and which of them are admins.

Without sign-in (the default) there is one person, the local user, who is the admin of
their own install. With sign-in (``AMBIENT_AUTH=oidc``) a person is the signed-in e-mail
address; admins are the addresses in ``AMBIENT_ADMINS`` (comma-separated), or members of
the group named by ``AMBIENT_ADMIN_GROUP`` in the ID token's ``AMBIENT_GROUPS_CLAIM``
claim (default ``groups``). Only admins change shared settings: budgets, the privacy
mode, the cloud switch, models, the price table and the shared experts.

Whether someone is an admin is decided at each sign-in and kept on their ``users`` row,
so code far from the browser (an assistant action) can ask by session id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update

from llm.env import env_choice, env_text
from store.db import Database, utcnow
from store.models import UserRow
from store.owners import LOCAL_USER, USER_LENGTH, owner_of

AUTH_MODES = ("off", "oidc")
ADMINS_ONLY = (
    "Only an admin can change shared settings (budgets, privacy, the cloud switch, models, "
    "prices and shared experts); ask one of the admins named in AMBIENT_ADMINS."
)


def auth_mode() -> str:
    """``off`` (one local user, no sign-in) or ``oidc`` (sign-in with st.login)."""
    return env_choice("AMBIENT_AUTH", "off", AUTH_MODES)


def admin_addresses() -> frozenset[str]:
    raw = env_text("AMBIENT_ADMINS", "")
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def is_admin_identity(email: str, claims: Mapping[str, Any] | None = None) -> bool:
    """Whether a signed-in person is an admin: their address is in AMBIENT_ADMINS, or the
    admin group is in their groups claim."""
    if email.strip().lower() in admin_addresses():
        return True
    group = env_text("AMBIENT_ADMIN_GROUP")
    if not group or not claims:
        return False
    groups = claims.get(env_text("AMBIENT_GROUPS_CLAIM", "groups"))
    if isinstance(groups, str):
        groups = [groups]
    return isinstance(groups, Iterable) and group in {str(g) for g in groups}


def user_name(email: str) -> str:
    """The name work is filed under: the address in lowercase. A signed-in person can
    never be the local user (whose work is the personal install's)."""
    name = email.strip().lower()
    if not name or len(name) > USER_LENGTH or name == LOCAL_USER:
        raise ValueError(
            "The sign-in did not give a usable e-mail address, so Ambient cannot tell whose "
            "work to show. Ask whoever runs the identity provider to include the email claim."
        )
    return name


def sign_in(db: Database, name: str, *, admin: bool, display_name: str | None = None) -> None:
    """Record (or refresh) a person and whether they are an admin now."""
    with db.write() as s:
        row = s.get(UserRow, name, with_for_update=True)
        if row is None:
            s.add(UserRow(name=name, admin=admin, display_name=display_name))
        else:
            row.admin, row.last_seen_at = admin, utcnow()
            row.display_name = display_name or row.display_name


def ensure_local_user(db: Database) -> None:
    """The local user exists and is the admin of a personal install."""
    with db.read() as s:
        if s.get(UserRow, LOCAL_USER) is not None:
            return
    sign_in(db, LOCAL_USER, admin=True)


def is_admin(db: Database, session_id: str) -> bool:
    """Whether the owner of ``session_id`` may change shared settings."""
    with db.read() as s:
        owner = owner_of(s, session_id)
        if owner is None:
            return False
        return bool(s.scalar(select(UserRow.admin).where(UserRow.name == owner)))


def owner(db: Database, session_id: str) -> str | None:
    with db.read() as s:
        return owner_of(s, session_id)


def people(db: Database) -> list[str]:
    """Everyone who has used this Ambient, by name."""
    with db.read() as s:
        return list(s.scalars(select(UserRow.name).order_by(UserRow.name)).all())


def touch(db: Database, name: str) -> None:
    with db.write() as s:
        s.execute(update(UserRow).where(UserRow.name == name).values(last_seen_at=utcnow()))
