"""Team mode through AppTest (issue #16): AMBIENT_AUTH=oidc with st.user as Streamlit
fills it after st.login (the browser journey with a real provider is in
tests/e2e/test_team_sign_in.py). Before sign-in only the sign-in page; members see the
shared settings read-only; admins change them, and see who changed what; Costs shows a
member only their own calls."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.experts import expert_template, experts_for
from core.sessions import ensure_session
from llm.ledger import CallRecord, book
from llm.settings import changes, stored
from store.db import get_database
from tests.apptest import new_app
from tests.conftest import ROOT

ANN, BOB = "ann@example.com", "bob@example.com"


@pytest.fixture
def team(app_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AMBIENT_AUTH", "oidc")
    monkeypatch.setenv("AMBIENT_ADMINS", f"{ANN}, someone@example.com")
    return app_env


def signed_in(script: str, email: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=60)
    at.user = {"is_logged_in": True, "email": email, "name": email.split("@")[0].title()}
    at.run()
    assert not at.exception
    return at


def test_before_sign_in_there_is_only_the_sign_in_page(team: str) -> None:
    at = new_app()
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to Ambient"]
    assert not at.sidebar.chat_input  # no chat, no page, nothing of anyone's
    # No [auth] in secrets.toml: a sentence naming the missing keys (never their values).
    assert any("cookie_secret" in e.value and "server_metadata_url" in e.value
               for e in at.error)


def test_the_sidebar_says_who_is_signed_in_with_sign_out(team: str) -> None:
    at = new_app()
    at.user = {"is_logged_in": True, "email": "Bob@Example.com"}
    at.run()
    assert not at.exception
    assert any(f"Signed in as **{BOB}** (member)" in c.value for c in at.sidebar.caption)
    assert at.sidebar.button(key="auth_sign_out").label == "Sign out"


def test_a_member_sees_the_shared_settings_without_a_widget_to_change_them(team: str) -> None:
    at = signed_in("settings.py", BOB)
    assert any("Only admins change these settings" in i.value for i in at.info)
    assert not at.text_input and not at.radio and not at.toggle and not at.slider
    assert not at.button and not at.selectbox
    assert "$1.00" in str(at.table[0].value.to_dict())  # the team's budget, as it is
    experts = signed_in("experts.py", BOB)
    assert [b.label for b in experts.button] == ["Save my expert"]  # no shared Save/Create


def test_a_member_keeps_experts_of_their_own_that_nobody_else_sees(
    team: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.experts

    prompts = tmp_path / "prompts"
    shutil.copytree(core.experts.PROMPTS_DIR, prompts,
                    ignore=shutil.ignore_patterns(core.experts.PEOPLE))
    monkeypatch.setattr(core.experts, "PROMPTS_DIR", prompts)
    at = signed_in("experts.py", BOB)
    at.text_input(key="own_expert_slug").input("scout")
    at.text_area(key="own_expert_text").input(expert_template("Bob's scout"))
    next(b for b in at.button if b.label == "Save my expert").click()
    at.run()
    assert not at.exception and not at.error
    bobs, _ = experts_for(BOB)
    assert bobs["mine:scout"].name == "Bob's scout (yours)"
    assert "mine:scout" not in experts_for(ANN)[0]
    assert not (prompts / "scout.md").exists()  # the shared experts are untouched


def test_an_admin_changes_a_budget_and_the_change_is_recorded(team: str) -> None:
    at = signed_in("settings.py", ANN)
    at.text_input(key="policy_user").input("0.20")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception
    assert stored(get_database())["user_daily_budget_usd"] == "0.20"
    [change] = changes(get_database())
    assert (change.user, change.key, change.old, change.new) == (
        ANN, "user_daily_budget_usd", None, "0.20")
    activity = signed_in("activity.py", ANN)
    assert "user_daily_budget_usd" in str(activity.table[0].value.to_dict())
    member = signed_in("activity.py", BOB)
    assert not member.table and not any("Changes to shared" in s.value
                                        for s in member.subheader)


def book_for(user: str, cost_nusd: int) -> None:
    db = get_database()
    sid = ensure_session(db, None, user)
    book(db, CallRecord(request_id=f"r-{user}", attempt=1, purpose="chat", tier="cloud",
                        provider="openai", model="gpt-4o-mini", status="ok", route_reason="",
                        session_id=sid, cost_nusd=cost_nusd, prompt_tokens=10,
                        completion_tokens=10))


def test_costs_show_a_member_their_own_calls_and_an_admin_everyones(team: str) -> None:
    book_for(ANN, 7_000_000)  # $0.007
    book_for(BOB, 3_000_000)  # $0.003
    bob = signed_in("costs.py", BOB)
    spend = next(m for m in bob.metric if m.label == "Spend").value
    assert spend == "$0.003"
    assert not any(s.label == "Person" for s in bob.selectbox)
    ann = signed_in("costs.py", ANN)
    assert next(m for m in ann.metric if m.label == "Spend").value == "$0.01"
    person = next(s for s in ann.selectbox if s.label == "Person")
    assert set(person.options) >= {ANN, BOB}
    person.set_value(BOB)
    ann.run()
    assert next(m for m in ann.metric if m.label == "Spend").value == "$0.003"
