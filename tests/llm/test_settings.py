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
