"""Per-user daily cloud budgets beside the team's, their 80 %/100 % notices, and the
budget webhook (issue #16), with the real openai client against the fake OpenAI server.

The numbers: a call of 300 three-byte words reserves 316 prompt tokens and 10 completion
tokens of gpt-4o-mini (53,400 nano-USD) and really costs 300 + 6 tokens (48,600): each
person's cap of $0.0003 fits five calls at once, the team's $0.0005 nine, so twenty calls
at once from two people reach 80 % of the team's budget and of at least one person's,
and some are refused.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from core.conversation import history
from core.narration import deliver_budget_alerts
from core.sessions import ensure_session
from llm import alerts
from llm.ledger import Budget
from llm.prices import NANO, load_prices
from llm.providers.cloud import CloudProvider
from llm.router import LLMRequest, Origin, RouteError, Router, RouterSettings
from standins.openai_server import FakeOpenAI
from store.db import Database
from store.models import BudgetAlertRow, LLMCallRow

ANN, BOB = "ann@example.com", "bob@example.com"
USER_CAP, TEAM_CAP = Decimal("0.0003"), Decimal("0.0005")
PROMPT = "ab " * 300


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


class Receiver:
    """A webhook receiver on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        bodies: list[dict] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                size = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/t0ken-SECRET"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def unanswering_webhook() -> Iterator[str]:
    """A port that accepts connections and never answers: every try waits its timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/t0ken-SECRET"


def team_router(db: Database, fake: FakeOpenAI) -> Router:
    cloud = CloudProvider(api_key="sk-test-key", base_url=fake.base_url, timeout=10)
    budget = Budget(daily_usd=TEAM_CAP, session_usd=None, user_daily_usd=USER_CAP)
    return Router(db, providers={"cloud": cloud}, settings=RouterSettings(budget=budget),
                  prices=load_prices())


def ask(sid: str) -> LLMRequest:
    return LLMRequest(messages=[{"role": "user", "content": PROMPT}], tier="cloud",
                      max_tokens=10, origin=Origin(session_id=sid))


def spent_nusd(db: Database, *conditions: object) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.coalesce(func.sum(LLMCallRow.cost_nusd), 0)).where(
            LLMCallRow.tier == "cloud", LLMCallRow.status == "ok", *conditions)) or 0)


def recorded_alerts(db: Database) -> list[tuple[str, int]]:
    with db.read() as s:
        return sorted(s.execute(select(BudgetAlertRow.scope, BudgetAlertRow.threshold)).all())


def blocked_by(db: Database, words: str, *conditions: object) -> int:
    """Calls refused with a reason that starts with ``words`` (whose budget refused it)."""
    with db.read() as s:
        return s.scalar(select(func.count()).where(
            LLMCallRow.status == "blocked", LLMCallRow.route_reason.startswith(words),
            *conditions)) or 0


def twenty_calls_from_two_people(db: Database, fake: FakeOpenAI) -> dict[str, list[str]]:
    router = team_router(db, fake)
    sessions = {ANN: ensure_session(db, None, ANN), BOB: ensure_session(db, None, BOB)}
    outcomes: dict[str, list[str]] = {ANN: [], BOB: []}
    lock = threading.Lock()

    def call(user: str) -> None:
        started = time.monotonic()
        try:
            router.complete(ask(sessions[user]))
            result = "ok"
        except RouteError:
            result = "refused"
        with lock:
            outcomes[user].append(f"{result} in {time.monotonic() - started:.1f} s")

    threads = [threading.Thread(target=call, args=(user,))
               for _ in range(10) for user in (ANN, BOB)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_twenty_concurrent_calls_from_two_people_overshoot_neither_cap(
    db: Database, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver() as receiver:
        monkeypatch.setenv("AMBIENT_BUDGET_WEBHOOK", receiver.url)
        outcomes = twenty_calls_from_two_people(db, openai_fake)
        alerts.wait_for_webhooks()

    assert sum(len(v) for v in outcomes.values()) == 20
    oks = {user: sum(o.startswith("ok") for o in done) for user, done in outcomes.items()}
    # Neither person's cap nor the team's is overshot, and every cap was in play.
    for user in (ANN, BOB):
        assert spent_nusd(db, LLMCallRow.user == user) <= USER_CAP * NANO
    team_spent = spent_nusd(db)
    assert team_spent <= TEAM_CAP * NANO
    assert sum(oks.values()) >= 9 and sum(oks.values()) < 20
    assert len(openai_fake.chat_requests()) == sum(oks.values())

    # Each threshold of each budget: once, exactly when it was reached.
    found = recorded_alerts(db)
    assert len(found) == len(set(found))
    assert ("team", 80) in found and team_spent * 100 >= TEAM_CAP * NANO * 80
    used_up = blocked_by(db, "The daily cloud budget") > 0 or team_spent >= TEAM_CAP * NANO
    assert (("team", 100) in found) == used_up
    for user in (ANN, BOB):
        spent = spent_nusd(db, LLMCallRow.user == user)
        assert ((f"user:{user}", 80) in found) == (spent * 100 >= USER_CAP * NANO * 80)
        used_up = (blocked_by(db, "Your daily cloud budget", LLMCallRow.user == user) > 0
                   or spent >= USER_CAP * NANO)
        assert ((f"user:{user}", 100) in found) == used_up
    assert any(scope.startswith("user:") and t == 80 for scope, t in found)
    assert any(t == 100 for _, t in found)  # some call was refused: a budget was used up

    # The notices reach each person's chat once; a second look finds nothing new.
    for user in (ANN, BOB):
        sid = ensure_session(db, None, user)
        with db.read() as s:
            theirs = s.scalars(select(BudgetAlertRow.message)
                               .where(BudgetAlertRow.user == user)).all()
        delivered = [m.content for m in deliver_budget_alerts(db, sid)]
        assert sorted(delivered) == sorted(" ".join(t.split()) for t in theirs)
        assert deliver_budget_alerts(db, sid) == []
        shown = [m.content for m in history(db, sid) if m.role == "narration"]
        assert sorted(shown) == sorted(delivered)
    assert all("% used" in m or "used up" in m for m in delivered)

    # The team channel heard of each one, once.
    heard = sorted((b["scope"], b["threshold"]) for b in receiver.bodies)
    assert heard == found
    assert all(b["event"] == "ambient.budget_threshold" for b in receiver.bodies)


def test_a_webhook_that_is_down_changes_nothing_for_the_user(
    db: Database, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(alerts, "WEBHOOK_TIMEOUT_S", 3.0)
    router = team_router(db, openai_fake)
    sid = ensure_session(db, None, ANN)
    with unanswering_webhook() as url:
        monkeypatch.setenv("AMBIENT_BUDGET_WEBHOOK", url)
        outcomes, slowest = [], 0.0
        for _ in range(8):  # one after another: six fit in $0.0003, then refusals
            started = time.monotonic()
            try:
                router.complete(ask(sid))
                outcomes.append("ok")
            except RouteError as exc:
                assert "Your daily cloud budget of $0.0003 would be exceeded" in str(exc)
                outcomes.append("refused")
            slowest = max(slowest, time.monotonic() - started)
        assert outcomes == ["ok"] * 6 + ["refused"] * 2
        # Each alert's webhook waits 3 × 3 s for an answer: none of that was the user's.
        assert slowest < 3.0
        notices = [m.content for m in deliver_budget_alerts(db, sid)]
        assert len(notices) == 2 and "80 % used" in notices[0] and "used up" in notices[1]
        alerts.wait_for_webhooks(timeout=60)
    assert "did not take" in caplog.text
    assert "t0ken-SECRET" not in caplog.text  # the webhook's address (its token) is not logged


def test_without_a_per_user_cap_nothing_changes_for_a_personal_install(
    db: Database, openai_fake: FakeOpenAI
) -> None:
    router = Router(db, providers={"cloud": CloudProvider(api_key="sk-test-key",
                                                          base_url=openai_fake.base_url)},
                    settings=RouterSettings(budget=Budget(daily_usd=None, session_usd=None)),
                    prices=load_prices())
    sid = ensure_session(db, None)
    for _ in range(8):
        router.complete(ask(sid))
    assert recorded_alerts(db) == []
    with db.read() as s:
        assert set(s.scalars(select(LLMCallRow.user)).all()) == {"local"}


def test_two_calls_settling_at_once_both_count_towards_the_threshold(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of two calls spends 45 % of Bob's cap; they settle at the same moment. The one
    that settles second must see the first one's cost and record the 80 % alert (seen
    missing once on PostgreSQL, whose READ COMMITTED let each miss the other's cost)."""
    from llm import ledger

    sid = ensure_session(db, None, BOB)
    budget = Budget(daily_usd=None, session_usd=None, user_daily_usd=USER_CAP)
    cost = int(USER_CAP * NANO * 45 / 100)

    def cloud_call(n: int, status: str = "reserved", cost_nusd: int = 0) -> ledger.CallRecord:
        return ledger.CallRecord(
            request_id=f"r{n}", attempt=1, purpose="chat", tier="cloud", provider="openai",
            model="gpt-4o-mini", status=status, route_reason="test", session_id=sid,
            user=BOB, cost_nusd=cost_nusd)

    rows = [ledger.reserve(db, cloud_call(n), cost, budget) for n in (1, 2)]
    assert all(isinstance(r, int) for r in rows)

    first_counted, second_done = threading.Event(), threading.Event()
    real_reached = ledger._reached

    def slow_first(s, budget, user, now):  # noqa: ANN001, ANN202
        reached = real_reached(s, budget, user, now)
        if not first_counted.is_set():  # the first settle holds its transaction open a while
            first_counted.set()
            second_done.wait(timeout=1.5)
        return reached

    monkeypatch.setattr(ledger, "_reached", slow_first)

    def settle(n: int) -> None:
        ledger.settle(db, rows[n - 1], cloud_call(n, status="ok", cost_nusd=cost), budget)
        if n == 2:
            second_done.set()

    first = threading.Thread(target=settle, args=(1,))
    first.start()
    assert first_counted.wait(timeout=10)
    second = threading.Thread(target=settle, args=(2,))
    second.start()
    first.join(timeout=30)
    second.join(timeout=30)

    assert spent_nusd(db, LLMCallRow.user == BOB) == 2 * cost
    assert recorded_alerts(db) == [(f"user:{BOB}", 80)]
