"""The Settings page through AppTest: tiers, policy form, and a key that never shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from llm.settings import stored
from standins.openai_server import FakeOpenAI
from store.db import get_database
from tests.conftest import ROOT

KEY = "sk-proj-THISisAsecretKEYthatMUSTneverSHOW1234567890"


@pytest.fixture
def cloud(app_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        from llm.providers import _register_builtins

        _register_builtins()  # providers read the environment when they are built
        yield fake
    _register_builtins()


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "settings.py"), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def every_text(at: AppTest) -> str:
    return str(at._tree) + " ".join(str(node.proto) for node in at._tree if hasattr(node, "proto"))


def test_the_key_is_used_but_never_shown(cloud: FakeOpenAI) -> None:
    at = page()
    assert any("API key: configured (the OPENAI_API_KEY environment variable)" in c.value
               for c in at.caption)
    at.button(key="test_cloud").click()
    at.run()
    assert any("answered in" in s.value for s in at.success)
    assert KEY not in every_text(at)
    assert cloud.chat_requests()[-1].headers["authorization"] == f"Bearer {KEY}"


def test_policy_changes_are_saved_and_bad_budgets_refused(app_env: str) -> None:
    at = page()
    at.radio[0].set_value("redact")
    at.toggle[0].set_value(False)
    at.text_input[0].input("2.5")
    submit = next(b for b in at.button if b.label == "Save")
    submit.click()
    at.run()
    saved = stored(get_database())
    assert saved["privacy_mode"] == "redact" and saved["allow_cloud"] is False
    assert saved["daily_budget_usd"] == "2.5"
    at.text_input[0].input("a lot")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert any("daily budget" in e.value for e in at.error)
    assert stored(get_database())["daily_budget_usd"] == "2.5"
