"""Who is using Ambient: the local user, or the person signed in with ``st.login``.

``AMBIENT_AUTH=oidc`` turns on sign-in the Streamlit way: ``st.login`` against the
OpenID Connect provider configured in ``.streamlit/secrets.toml`` (``[auth]``: see the
README, "Sign-in for a team"), ``st.user`` for who it is, ``st.logout`` to leave. Until
someone signs in, the app shows only the sign-in page. Without it (the default) there is
one local user, nothing to sign in to, and nothing on the page changes.

Every piece of work is filed under the user's name (``core.people.user_name``: the
e-mail address), and whether they are an admin is settled at each sign-in.
"""

from __future__ import annotations

import streamlit as st

from core.people import auth_mode, is_admin_identity, sign_in, user_name
from store.db import Database
from store.owners import LOCAL_USER

_REQUIRED = ("redirect_uri", "cookie_secret", "client_id", "client_secret",
             "server_metadata_url")
_SIGNED_IN = "_signed_in_as"


def sign_in_required() -> bool:
    return auth_mode() == "oidc"


def _missing_settings() -> list[str]:
    """The [auth] keys secrets.toml lacks (names only: the values are secrets)."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file at all
        section = None
    if not section:
        return list(_REQUIRED)
    return [key for key in _REQUIRED if not section.get(key)]


def current_user(db: Database) -> str | None:
    """The user whose work this browser tab shows, or None while nobody is signed in."""
    if not sign_in_required():
        return LOCAL_USER
    if not st.user.is_logged_in:
        return None
    claims = dict(st.user.to_dict())
    email = str(claims.get("email") or "")
    try:
        name = user_name(email)
    except ValueError as exc:  # signed in, but with no address to file work under
        st.error(str(exc), icon=":material/person_off:")
        if st.button("Sign out", key="auth_unusable_sign_out"):
            st.logout()
        st.stop()
    if st.session_state.get(_SIGNED_IN) != name:
        sign_in(db, name, admin=is_admin_identity(email, claims),
                display_name=str(claims.get("name") or "") or None)
        st.session_state[_SIGNED_IN] = name
    return name


def sign_in_page() -> None:
    """The only page anyone sees before signing in."""
    st.title("Sign in to Ambient")
    st.write("This Ambient is shared by a team. Sign in with your organisation's account to "
             "see your own conversations, tasks, jobs and costs.")
    missing = _missing_settings()
    if missing:
        st.error(
            "Sign-in is turned on (AMBIENT_AUTH=oidc), but the [auth] section of "
            f".streamlit/secrets.toml lacks {', '.join(missing)}. Add them as the README's "
            "\"Sign-in for a team\" shows, then restart Ambient.",
            icon=":material/key_off:")
        return
    if st.button("Sign in", type="primary", icon=":material/login:", key="auth_sign_in"):
        st.login()


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposed_without_sign_in() -> bool:
    """Whether this server listens beyond loopback while everyone is the local user."""
    address = st.get_option("server.address")
    return not sign_in_required() and bool(address) and address not in _LOOPBACK


def identity_bar(user: str, admin: bool, notice: str | None) -> None:
    """Who is signed in, with sign-out, at the top of the sidebar (sign-in on only), and
    why this tab's session is new when the link named another one."""
    if notice:
        st.sidebar.warning(notice, icon=":material/info:")
    if exposed_without_sign_in():
        st.sidebar.error(
            "This Ambient listens beyond this machine without sign-in, so anyone who can "
            "reach it sees and changes everything as the local user. Serve it on 127.0.0.1, "
            "or turn on sign-in (AMBIENT_AUTH=oidc; README, \"Sign-in for a team\").",
            icon=":material/public:")
    if not sign_in_required():
        return
    with st.sidebar:
        role = "admin" if admin else "member"
        st.caption(f":material/account_circle: Signed in as **{user}** ({role})")
        if st.button("Sign out", icon=":material/logout:", key="auth_sign_out"):
            st.session_state.pop(_SIGNED_IN, None)
            st.logout()
