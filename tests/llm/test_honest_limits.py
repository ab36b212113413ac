"""Honest limits in the router: an answer that repeats its instructions or holds placeholder
text is rejected like an empty one (and escalated), and a step that needs a stronger tier
than the ones up says so before it runs."""

from __future__ import annotations

import json

import pytest

from llm.limits import StepNeed, limit_warning
from llm.prices import load_prices
from llm.router import LLMRequest, RouteError, Router, RouterSettings
from llm.validation import Instructions, check
from standins.scripted import ScriptedProvider
from store.db import Database

SYSTEM = ("You analyse competitors. Reply with only a JSON object with these fields: "
          "position: one sentence on where this competitor stands on the aspects; "
          "confidence: high, medium or low, and why, in a few words.")
SCHEMA = {"type": "object", "properties": {"position": {"type": "string"},
                                           "confidence": {"type": "string"}},
          "required": ["position", "confidence"]}


def scripted_router(db: Database, *tiers: str, allow_cloud: bool = True) -> tuple[
        Router, dict[str, ScriptedProvider]]:
    providers = {tier: ScriptedProvider(tier=tier, model="gpt-4o-mini" if tier == "cloud"
                                        else "scripted-1") for tier in tiers}
    router = Router(db, providers=providers,
                    settings=RouterSettings(health_ttl_s=0, allow_cloud=allow_cloud),
                    prices=load_prices())
    return router, providers


def analyse(**kw: object) -> LLMRequest:
    return LLMRequest(messages=[{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": 'Competitor: "Acme"'}],
                      purpose="analyze", schema=SCHEMA, max_tokens=64, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("answer", "copied"), [
    ("one sentence on where this competitor stands on the aspects", "one sentence on where"),
    ("High, medium or low", "high, medium or low"),
    ("Acme leads on price. Reply with only a JSON object with these fields.", "reply with"),
])
def test_a_copied_instruction_is_found_in_free_text(answer: str, copied: str) -> None:
    instructions = Instructions([SYSTEM])
    verdict = check(answer, "stop", None, instructions)
    assert not verdict.ok
    # The reason is shown to the user: it says what is wrong without quoting the prompt.
    assert verdict.reason == "the answer repeats its instructions instead of answering"
    assert copied in instructions.echo(answer).casefold()


@pytest.mark.parametrize("answer", [
    "Acme is the cheapest option for small teams.",
    "Medium: from their public pricing page.",
    "Acme",  # the data of the prompt (a JSON string) may be repeated
])
def test_an_answer_in_its_own_words_passes(answer: str) -> None:
    assert check(answer, "stop", None, Instructions([SYSTEM, 'Competitor: "Acme"'])).ok


def test_placeholder_text_is_no_answer() -> None:
    verdict = check("Welcome, [Your Name]! Great to meet you.", "stop", None, Instructions([]))
    assert not verdict.ok and "placeholder text (“[Your Name]”)" in verdict.reason


def test_data_quoted_in_the_prompt_is_not_instruction_text() -> None:
    business = "We sell accounting software to independent bakeries in the north"
    prompt = f"Name competitors of the business below.\nOur business: {json.dumps(business)}"
    assert Instructions([prompt]).echo(business) == ""
    assert Instructions([prompt]).echo("Name competitors of the business below") != ""


def test_an_echoed_json_answer_is_repaired_then_escalated_like_an_empty_one(
        db: Database) -> None:
    router, providers = scripted_router(db, "embedded", "local")
    echo = json.dumps({"position": "one sentence on where this competitor stands on the "
                       "aspects", "confidence": "high, medium or low"})
    providers["local"].enqueue([echo, echo])
    with pytest.raises(RouteError, match="repeats its instructions"):
        router.complete(analyse(tier="local"))  # pinned: nowhere else to go
    good = json.dumps({"position": "Cheapest plan for small teams.", "confidence": "medium"})
    router, more = scripted_router(db, "local", "cloud")
    more["local"].enqueue([echo, echo])
    more["cloud"].enqueue([good])
    result = router.complete(analyse())
    assert result.tier == "cloud" and result.data["position"] == "Cheapest plan for small teams."
    assert "repeats its instructions" in result.route_reason
    assert [a.status for a in result.attempts] == ["escalated", "escalated", "ok"]


def test_a_step_says_before_it_runs_that_only_a_weaker_tier_is_up(db: Database) -> None:
    need = StepNeed("local", "writes poor analyses")
    router, providers = scripted_router(db, "embedded", "local", "cloud")
    providers["local"].available = False
    providers["cloud"].available = False
    warning = limit_warning(router, need)
    assert warning == ("The offline model writes poor analyses; start Ollama (`ollama serve`) "
                       "or add an OpenAI key in Settings for useful results. You can still "
                       "run it.")
    providers["local"].available = True
    assert limit_warning(router, need) == ""
    assert limit_warning(router, StepNeed("embedded", "writes stilted greetings")) == ""


def test_the_cloud_turned_off_is_not_counted_as_up(db: Database) -> None:
    router, providers = scripted_router(db, "embedded", "cloud", allow_cloud=False)
    warning = limit_warning(router, StepNeed("cloud", "misses the subtle cases"))
    assert warning.startswith("The offline model misses the subtle cases")
    assert "turn cloud calls on in Settings" in warning
    with pytest.raises(ValueError, match="one of the tiers"):
        StepNeed("gpu", "is slow")
