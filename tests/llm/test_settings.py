"""Saved settings change what the router does (asserted on its decisions, not a UI)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from llm.providers import get_provider
from llm.providers.cloud import CloudProvider
from llm.providers.ollama import OllamaProvider
from llm.router import LLMRequest, Router, RouterSettings
from llm.settings import SettingsError, router_settings, save, stored
from standins.ollama_server import FakeOllama
from standins.openai_server import FakeOpenAI
from store.db import Database


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOllama, FakeOpenAI]]:
    with FakeOllama() as ollama, FakeOpenAI() as cloud:
        yield ollama, cloud


def routed(db: Database, ollama: FakeOllama, cloud: FakeOpenAI) -> Router:
    return Router(
        db,
        providers={
            "embedded": get_provider("embedded"),
            "local": OllamaProvider(host=ollama.host, timeout=5),
            "cloud": CloudProvider(api_key="sk-test", base_url=cloud.base_url, timeout=5),
        },
        settings=router_settings(db, RouterSettings()),
    )


def ask(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=[{"role": "user", "content": text}], max_tokens=24, **kw)


def test_choosing_another_local_model_is_what_ollama_is_asked_for(
    db: Database, fakes: tuple[FakeOllama, FakeOpenAI]
) -> None:
    ollama, cloud = fakes
    routed(db, ollama, cloud).complete(ask("Hi", purpose="analyze"))
    assert ollama.requests_to("/api/chat")[-1].body["model"] == "gemma2:2b"
    save(db, models={"local": "llama3.2:1b"})
    result = routed(db, ollama, cloud).complete(ask("Hi", purpose="analyze"))
    assert ollama.requests_to("/api/chat")[-1].body["model"] == "llama3.2:1b"
    assert result.model.startswith("llama3.2:1b")


def test_privacy_mode_and_cloud_switch_change_the_route(
    db: Database, fakes: tuple[FakeOllama, FakeOpenAI]
) -> None:
    ollama, cloud = fakes
    private = ask("Mail ann@example.com the plan", tier="cloud")
    assert routed(db, ollama, cloud).complete(private).tier != "cloud"
    save(db, privacy_mode="redact")
    result = routed(db, ollama, cloud).complete(private)
    assert result.tier == "cloud" and "placeholders" in result.route_reason
    assert "ann@example.com" not in cloud.all_raw_text()
    save(db, allow_cloud=False)
    off = routed(db, ollama, cloud).complete(ask("Hi", expert_tier="cloud", expert="X"))
    assert off.tier != "cloud" and "turned off" in off.route_reason


def test_budgets_are_validated_and_applied(db: Database) -> None:
    save(db, daily_budget_usd="2.50", session_budget_usd=None)
    settings = router_settings(db, RouterSettings())
    assert settings.budget.daily_usd == Decimal("2.50") and settings.budget.session_usd is None
    for bad in ("-1", "lots", "99999999"):
        with pytest.raises(SettingsError, match="daily budget"):
            save(db, daily_budget_usd=bad)
    assert stored(db)["daily_budget_usd"] == "2.50"  # a refused value changes nothing


def test_unknown_or_malformed_settings_are_refused(db: Database) -> None:
    with pytest.raises(SettingsError, match="no setting called"):
        save(db, temperature=3)
    with pytest.raises(SettingsError, match="Privacy mode"):
        save(db, privacy_mode="share everything")
    with pytest.raises(SettingsError, match="Models"):
        save(db, models={"gpu": "x"})


def test_every_change_of_a_shared_setting_is_recorded_with_who_and_before_and_after(
    db: Database,
) -> None:
    from llm.settings import changes, record_change

    base = RouterSettings()
    save(db, by="ann@example.com", before=base, daily_budget_usd="2.50")
    save(db, by="ann@example.com", before=base, daily_budget_usd="2.50")  # no change
    save(db, by="carol@example.com", before=base, privacy_mode="redact",
         user_daily_budget_usd="0.10")
    record_change(db, "ann@example.com", "prices", {"gpt-4o": 2.5}, {"gpt-4o": 3.0})
    found = [(c.user, c.key, c.old, c.new) for c in reversed(changes(db))]
    assert found == [
        ("ann@example.com", "daily_budget_usd", str(base.budget.daily_usd), "2.50"),
        ("carol@example.com", "privacy_mode", "keep_local", "redact"),
        ("carol@example.com", "user_daily_budget_usd", None, "0.10"),
        ("ann@example.com", "prices", {"gpt-4o": 2.5}, {"gpt-4o": 3.0}),
    ]
    assert router_settings(db, base).budget.user_daily_usd == Decimal("0.10")
