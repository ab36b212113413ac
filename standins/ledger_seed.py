"""A realistic cost ledger, fast: ``seed_ledger(db, rows=100_000)`` for the Costs page's
tests and the UI benchmark.

Requests are shaped like the router's: each starts on its purpose's tier (a few are
pinned to the cloud, a few must stay local because of personal data), about one in twelve
answers fails validation and escalates, the odd local call errors out and the odd cloud
call is refused by the budget; the answering attempt carries the all-cloud counterfactual.
Costs come from the real price table. Everything is drawn from one seeded ``random.Random``
and written with one executemany in one transaction (100,000 rows in a few seconds).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import insert

from llm.prices import load_prices
from store.db import Database, utcnow
from store.models import LLMCallRow

PURPOSES = (("chat", 45), ("narrate", 20), ("summarize", 10), ("extract", 15), ("analyze", 10))
START = {"chat": "embedded", "narrate": "embedded", "summarize": "embedded",
         "extract": "local", "analyze": "local"}
HIGHER = {"embedded": "local", "local": "cloud", "cloud": None}
MODELS = {
    "embedded": (("llama.cpp", "SmolLM2-135M-Instruct", 1),),
    "local": (("ollama", "gemma2:2b", 3), ("ollama", "qwen2.5:7b", 1)),
    "cloud": (("openai", "gpt-4o-mini", 4), ("openai", "gpt-4o", 1)),
}
LATENCY_MS = {"embedded": (150, 2_500), "local": (400, 7_000), "cloud": (350, 4_000)}
PAGES = ("Home", "Tasks", "Competitive analysis", "Introduction", "Long job", None)
EXPERTS = ("Assistant", "SEO analyst", "Editor", None)
PRIVATE = ("an email address", "a phone number", "a payment card number and an email address")
NO_FINDINGS = "No personal data or secrets found."
VALIDATION = ("not valid JSON", "an empty answer", "a refusal", "missing 'urls'")


def _pick(rng: random.Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rng.choices(weighted, cum_weights=_CUMULATIVE[weighted])[0]


_CUMULATIVE = {
    options: list(accumulate(o[-1] for o in options))
    for options in (PURPOSES, *MODELS.values())
}


def seed_ledger(
    db: Database, rows: int = 100_000, days: int = 30, seed: int = 0,
    *, now: datetime | None = None,
) -> int:
    """Insert ``rows`` ledger rows spread over the ``days`` before ``now``; returns ``rows``."""
    rng = random.Random(seed)
    prices = load_prices()
    now = now or utcnow()
    span_s = days * 86_400
    sessions = [f"seed{seed:04x}-session-{i:04d}" for i in range(max(rows // 500, 1))]
    out: list[dict[str, Any]] = []
    request = 0
    while len(out) < rows:
        request += 1
        purpose = _pick(rng, PURPOSES)[0]
        start = START[purpose]
        roll = rng.random()
        private = roll < 0.04
        if private:
            privacy = (f"The prompt contains {rng.choice(PRIVATE)}, so it stays on this "
                       "machine (no cloud).")
        else:
            privacy = NO_FINDINGS
        if not private and roll > 0.95:
            start, why = "cloud", "Pinned to the cloud tier."
        else:
            why = f"Starting on {start}: {purpose} starts on the {start} tier."
        common = {
            "request_id": f"{seed:04x}{request:028x}",
            "session_id": rng.choice(sessions),
            "user": None,
            "page": rng.choice(PAGES),
            "workflow": "competitive_analysis" if purpose == "analyze" else None,
            "purpose": purpose,
            "expert": rng.choice(EXPERTS),
        }
        when = now - timedelta(seconds=rng.uniform(60, span_s))
        tier: str | None = start
        attempt = 0
        while tier and len(out) < rows:
            attempt += 1
            provider, model, _ = _pick(rng, MODELS[tier])
            prompt = int(rng.lognormvariate(6, 0.8)) + 20
            completion = int(rng.lognormvariate(4.5, 0.9)) + 5
            low, high = LATENCY_MS[tier]
            latency = int(rng.triangular(low, high, low * 2))
            reason = f"{privacy} {why}"
            status, error, next_tier = "ok", None, None
            outcome = rng.random()
            if tier == "cloud" and outcome < 0.02:
                status = "blocked"
                error = reason = (
                    "The daily cloud budget of $1.00 would be exceeded: this call may cost up "
                    f"to ${rng.uniform(0.001, 0.02):.4f} and $0.0000 is left today."
                )
                prompt = completion = 0
                latency = None
            elif tier == "local" and outcome < 0.02:
                status, next_tier = "error", None if private else HIGHER[tier]
                error = ("Ollama is not running at http://127.0.0.1:11434; start it with "
                         "ollama serve.")
                reason = f"local failed: {error} It rests for 60 s."
                completion, latency = 0, rng.randint(5, 50)
            elif HIGHER[tier] and outcome < 0.08:
                status, next_tier = "escalated", HIGHER[tier]
                if private and next_tier == "cloud":
                    next_tier = None
                    status = "ok"
                    reason += f" Note: {rng.choice(VALIDATION)} and no stronger tier is available."
                else:
                    reason = (f"The {tier} answer failed validation ({rng.choice(VALIDATION)}); "
                              f"escalating to {next_tier}.")
            if tier == "cloud" and status == "ok":
                reason += f" Reserved up to ${rng.uniform(0.0005, 0.01):.4f} of the cloud budget."
            cost = prices.cost_nusd(tier, model, prompt, completion)
            answered = status == "ok"
            out.append({
                **common,
                "created_at": when,
                "attempt": attempt,
                "tier": tier,
                "provider": provider,
                "model": model,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "usage_source": "reported" if tier != "embedded" else "estimated",
                "cost_nusd": cost if status != "blocked" else 0,
                "counterfactual_nusd": (
                    prices.counterfactual_nusd(prompt, completion) if answered else 0
                ),
                "reserved_nusd": 0,
                "latency_ms": latency,
                "ttft_ms": None if latency is None else int(latency * rng.uniform(0.1, 0.4)),
                "status": status,
                "route_reason": reason,
                "error_text": error,
            })
            when += timedelta(milliseconds=(latency or 0) + 5)
            tier = next_tier
    out.sort(key=lambda row: row["created_at"])  # ids follow time, as in a real ledger
    with db.write() as s:
        s.execute(insert(LLMCallRow.__table__), out)
    return len(out)


def seed_history(db: Database, messages: int = 5_000, events: int = 20_000) -> str:
    """A new session with ``messages`` chat messages (alternating user and assistant,
    "Message number N ...") and ``events`` interaction events ("Completed step N"), in
    one transaction; returns the session id."""
    from core.conversation import active_conversation
    from core.sessions import ensure_session
    from store.models import EventRow, MessageRow

    sid = ensure_session(db, None)
    conversation = active_conversation(db, sid)
    now = utcnow()
    with db.write() as s:
        s.execute(insert(MessageRow), [
            {"session_id": sid, "conversation_id": conversation,
             "role": "user" if i % 2 == 0 else "assistant",
             "content": f"Message number {i} about competitor analysis and link graphs.",
             "status": "ok", "created_at": now}
            for i in range(messages)
        ])
        s.execute(insert(EventRow), [
            {"session_id": sid, "kind": "step_completed", "page": "Tasks",
             "summary": f"Completed step {i}", "created_at": now}
            for i in range(events)
        ])
    return sid
