"""Honest limits: the weakest tier that does a step well, and what to say when only a
weaker one can answer.

Every LLM-backed step declares a ``StepNeed`` beside its definition (the request it
builds). Before the step runs, the page asks ``limit_warning``: when the strongest tier
that could answer now is below the declared one, the user reads, before clicking, what
the step will be like ("The offline model writes poor analyses; start Ollama or add a
key for useful results.") and may still run it. Where the tiers stand comes from the
router's health checks (cached briefly), so asking costs no model call.

The declared tiers follow what was measured of the embedded model (SmolLM2-135M, bench
``routing`` and the issue that introduced these): it phrases a greeting or a known fact
well, and cannot analyse, suggest real names or read statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm.providers import TIER_ORDER
from llm.router import Router

TIER_WORDS = {
    "embedded": "the offline model",
    "local": "the local model",
    "cloud": "the cloud model",
}


@dataclass(frozen=True)
class StepNeed:
    """``tier``: the weakest tier that does the step well. ``weakness``: what a weaker
    tier does instead, as a verb phrase ("writes poor analyses")."""

    tier: str
    weakness: str

    def __post_init__(self) -> None:
        if self.tier not in TIER_ORDER:
            raise ValueError(f"A step needs one of the tiers {', '.join(TIER_ORDER)}, "
                             f"not {self.tier!r}.")


def _rank(tier: str | None) -> int:
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else -1


def _how_to_get(need: str, router: Router) -> str:
    """What the user can do to get a tier at least as strong as ``need``."""
    ways = []
    if _rank(need) <= _rank("local"):
        ways.append("start Ollama (`ollama serve`)")
    ways.append("add an OpenAI key in Settings" if router.settings.allow_cloud
                else "turn cloud calls on in Settings")
    return " or ".join(ways)


def limit_warning(router: Router, need: StepNeed) -> str:
    """The sentence to show before a step runs when no tier as strong as ``need.tier``
    can answer now ("" when one can)."""
    best = router.strongest_available()
    if best is not None and _rank(best) >= _rank(need.tier):
        return ""
    if best is None:
        return (f"No model can answer now, so this step will fail; "
                f"{_how_to_get(need.tier, router)}.")
    who = TIER_WORDS.get(best, f"the {best} model")
    return (f"{who[0].upper()}{who[1:]} {need.weakness}; {_how_to_get(need.tier, router)} "
            "for useful results. You can still run it.")
