"""The Costs page's queries against a small ledger whose every total is worked out by hand.

Seven finished attempts over two days (and one open reservation, which no query may count):

    row request tier     model        status     page     tokens     cost     all-cloud  ms
    1   A       embedded SmolLM2      ok         Home     1000+1000  0        750,000    100
    2   B       local    gemma2:2b    escalated  Tasks     200+20    0        0          300
    3   B       cloud    gpt-4o-mini  ok         Tasks     200+40    54,000   54,000     900
    4   C       embedded SmolLM2      ok         -        2000+500   0        600,000    200
    5   D       cloud    gpt-4o       ok         Comp.     100+50    750,000  45,000     2000
    6   E       cloud    gpt-4o-mini  blocked    Home         0+0    0        0          -
    7   F       local    gemma2:2b    error      Home       300+0    0        0          50

Money in nano-dollars. gpt-4o-mini is $0.15/$0.60 per million tokens (200+40 tokens:
30 + 24 = 54 USD-per-million = 54,000 nano-USD), gpt-4o $2.50/$10 (100+50: 250 + 500 =
750,000); the all-cloud counterfactual prices the answering attempt on gpt-4o-mini. Rows 1-3
are on 1 March (session s1), rows 4-7 on 2 March (session s2).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import update

from core.exports import to_csv
from llm import reports
from llm.ledger import Budget, CallRecord, book, reserve, settle
from llm.prices import load_prices
from llm.reports import (
    LEDGER_COLUMNS,
    Filters,
    distinct_values,
    escalation_rate,
    latency_percentiles,
    ledger_csv_rows,
    ledger_page,
    ledger_version,
    over_time,
    route_reasons,
    session_label,
    tier_shares,
    totals,
)
from store.db import Database
from store.models import LLMCallRow

MARCH_1, MARCH_2, MARCH_3 = datetime(2026, 3, 1), datetime(2026, 3, 2), datetime(2026, 3, 3)
CHAT = "No personal data or secrets found. Starting on embedded: chat starts on the embedded tier."
PINNED = ("No personal data or secrets found. Pinned to the cloud tier. Reserved up to ${} of "
          "the cloud budget.")
ROWS = [  # (request, tier, model, status, page, prompt, completion, cost, all-cloud, ms, when)
    ("A", "embedded", "SmolLM2-135M-Instruct", "ok", "Home", 1000, 1000, 0, 750_000, 100,
     MARCH_1.replace(hour=10), CHAT),
    ("B", "local", "gemma2:2b", "escalated", "Tasks", 200, 20, 0, 0, 300,
     MARCH_1.replace(hour=11), "The local answer failed validation (not valid JSON); "
     "escalating to cloud."),
    ("B", "cloud", "gpt-4o-mini", "ok", "Tasks", 200, 40, 54_000, 54_000, 900,
     MARCH_1.replace(hour=11, minute=1), PINNED.format("0.0012")),
    ("C", "embedded", "SmolLM2-135M-Instruct", "ok", None, 2000, 500, 0, 600_000, 200,
     MARCH_2.replace(hour=9), CHAT),
    ("D", "cloud", "gpt-4o", "ok", "Competitive analysis", 100, 50, 750_000, 45_000, 2000,
     MARCH_2.replace(hour=10), PINNED.format("0.0090")),
    ("E", "cloud", "gpt-4o-mini", "blocked", "Home", 0, 0, 0, 0, None,
     MARCH_2.replace(hour=12), "The daily cloud budget of $1.00 would be exceeded."),
    ("F", "local", "gemma2:2b", "error", "Home", 300, 0, 0, 0, 50,
     MARCH_2.replace(hour=13), "local failed: Ollama is not running."),
]
PROVIDERS = {"embedded": "llama.cpp", "local": "ollama", "cloud": "openai"}
PURPOSES = {"A": "chat", "B": "extract", "C": "chat", "D": "analyze", "E": "chat",
            "F": "summarize"}


def nusd(amount: int) -> Decimal:
    return Decimal(amount) / Decimal(1_000_000_000)


def record(i: int) -> CallRecord:
    request, tier, model, status, page, prompt, completion, cost, cf, ms, _, reason = ROWS[i]
    return CallRecord(
        request_id=request * 32, attempt=2 if i == 2 else 1, purpose=PURPOSES[request],
        tier=tier, provider=PROVIDERS[tier], model=model, status=status, route_reason=reason,
        session_id="s1" if i < 3 else "s2", page=page, prompt_tokens=prompt,
        completion_tokens=completion, cost_nusd=cost, counterfactual_nusd=cf, latency_ms=ms,
        usage_source="reported",
        error_text='=HYPERLINK("http://x") ran out of memory' if status == "error" else None,
    )


@pytest.fixture
def ledger_db(db: Database) -> Database:
    for i, row in enumerate(ROWS):
        row_id = book(db, record(i))
        with db.write() as s:
            s.execute(update(LLMCallRow).where(LLMCallRow.id == row_id).values(created_at=row[10]))
    in_flight = replace(record(2), request_id="G" * 32, attempt=1, status="ok")
    assert isinstance(reserve(db, in_flight, 5_000_000, Budget(None, None)), int)
    return db


def test_the_prices_in_the_table_are_the_ones_the_rows_assume() -> None:
    prices = load_prices()
    assert prices.cost_nusd("cloud", "gpt-4o-mini", 200, 40) == 54_000
    assert prices.cost_nusd("cloud", "gpt-4o", 100, 50) == 750_000
    assert prices.counterfactual_nusd(1000, 1000) == 750_000
    assert prices.counterfactual_nusd(2000, 500) == 600_000
    assert prices.counterfactual_nusd(100, 50) == 45_000


def test_totals_leave_out_the_open_reservation(ledger_db: Database) -> None:
    found = totals(ledger_db)
    assert found.calls == 7
    assert found.cost_usd == Decimal("0.000804")
    assert found.counterfactual_usd == Decimal("0.001449")
    assert found.savings_usd == Decimal("0.000645")
    assert found.savings_share == pytest.approx(645 / 1449)
    assert (found.prompt_tokens, found.completion_tokens) == (3800, 1610)
    assert found.escalations == 1


@pytest.mark.parametrize(
    ("filters", "calls", "cost", "all_cloud"),
    [
        (Filters(tier="cloud"), 3, 804_000, 99_000),
        (Filters(model="gpt-4o"), 1, 750_000, 45_000),
        (Filters(page="Tasks"), 2, 54_000, 54_000),
        (Filters(status="ok"), 4, 804_000, 1_449_000),
        (Filters(since=MARCH_1, until=MARCH_2), 3, 54_000, 804_000),
        (Filters(since=MARCH_2, until=MARCH_3), 4, 750_000, 645_000),
        (Filters(since=MARCH_2.replace(hour=10), until=MARCH_2.replace(hour=13)), 2, 750_000,
         45_000),
        (Filters(session_id="s1"), 3, 54_000, 804_000),
        (Filters(tier="cloud", since=MARCH_2), 2, 750_000, 45_000),
        (Filters(since=MARCH_3), 0, 0, 0),
    ],
)
def test_every_filter_narrows_the_totals(
    ledger_db: Database, filters: Filters, calls: int, cost: int, all_cloud: int
) -> None:
    found = totals(ledger_db, filters)
    assert (found.calls, found.cost_usd, found.counterfactual_usd) == (
        calls, nusd(cost), nusd(all_cloud)
    )


def test_tier_shares_of_calls_and_tokens(ledger_db: Database) -> None:
    shares = tier_shares(ledger_db)
    assert [(s["tier"], s["calls"], s["tokens"]) for s in shares] == [
        ("embedded", 2, 4500), ("local", 2, 520), ("cloud", 3, 390)
    ]
    cloud = shares[2]
    assert cloud["call_share"] == pytest.approx(3 / 7)
    assert cloud["token_share"] == pytest.approx(390 / 5410)
    assert sum(s["call_share"] for s in shares) == pytest.approx(1)
    only_local = tier_shares(ledger_db, Filters(page="Home", tier="local"))
    assert only_local == [{"tier": "local", "calls": 1, "call_share": 1.0, "tokens": 300,
                           "token_share": 1.0}]
    assert tier_shares(ledger_db, Filters(since=MARCH_3)) == []


def test_spend_and_savings_per_day_and_tier(ledger_db: Database) -> None:
    days = [(d["day"].isoformat(), d["tier"], d["cost_usd"], d["counterfactual_usd"],
             d["savings_usd"]) for d in over_time(ledger_db)]
    assert days == [
        ("2026-03-01", "cloud", nusd(54_000), nusd(54_000), 0),
        ("2026-03-01", "embedded", 0, nusd(750_000), nusd(750_000)),
        ("2026-03-01", "local", 0, 0, 0),
        ("2026-03-02", "cloud", nusd(750_000), nusd(45_000), nusd(-705_000)),
        ("2026-03-02", "embedded", 0, nusd(600_000), nusd(600_000)),
        ("2026-03-02", "local", 0, 0, 0),
    ]
    assert [(d["day"].day, d["tier"]) for d in over_time(ledger_db, Filters(model="gpt-4o"))] \
        == [(2, "cloud")]


def test_latency_percentiles_by_nearest_rank(ledger_db: Database) -> None:
    # Timed calls, sorted: 50, 100, 200, 300, 900, 2000 (the refused call has no latency).
    assert latency_percentiles(ledger_db, quantiles=(0.25, 0.5, 0.75, 0.95, 1.0)) == {
        0.25: 100, 0.5: 200, 0.75: 900, 0.95: 2000, 1.0: 2000
    }
    assert latency_percentiles(ledger_db, Filters(tier="cloud")) == {0.5: 900, 0.95: 2000}
    assert latency_percentiles(ledger_db, Filters(since=MARCH_2), (0.5,)) == {0.5: 200}
    assert latency_percentiles(ledger_db, Filters(status="blocked")) == {0.5: None, 0.95: None}
    with pytest.raises(ValueError, match="Quantiles"):
        latency_percentiles(ledger_db, quantiles=(0.0,))


def test_escalation_rate_is_escalated_attempts_per_request(ledger_db: Database) -> None:
    assert escalation_rate(ledger_db) == pytest.approx(1 / 6)
    assert escalation_rate(ledger_db, Filters(tier="local")) == pytest.approx(1 / 2)
    assert escalation_rate(ledger_db, Filters(since=MARCH_2)) == 0
    assert escalation_rate(ledger_db, Filters(since=MARCH_3)) is None


def test_route_reasons_group_on_the_start_of_the_text(ledger_db: Database) -> None:
    reasons = route_reasons(ledger_db)
    assert reasons[:2] == [
        {"reason": "No personal data or secrets found. Pinned to the cloud tier. Reserved up "
                   "to $0.0…", "calls": 2, "cost_usd": nusd(804_000)},
        {"reason": "No personal data or secrets found. Starting on embedded: chat starts on the "
                   "embe…", "calls": 2, "cost_usd": Decimal(0)},
    ]
    assert {r["reason"] for r in reasons[2:]} == {
        "The local answer failed validation (not valid JSON); escalating to cloud.",
        "The daily cloud budget of $1.00 would be exceeded.",
        "local failed: Ollama is not running.",
    }
    assert all(r["calls"] == 1 for r in reasons[2:])
    assert len(route_reasons(ledger_db, limit=2)) == 2
    assert route_reasons(ledger_db, Filters(model="gpt-4o"))[0]["calls"] == 1


def test_the_table_pages_newest_first_and_honours_filters(ledger_db: Database) -> None:
    first = ledger_page(ledger_db, limit=3)
    assert [r["created_at"].hour for r in first] == [13, 12, 10]
    assert list(first[0]) == list(LEDGER_COLUMNS)
    assert first[2]["cost_usd"] == nusd(750_000) and first[2]["model"] == "gpt-4o"
    second = ledger_page(ledger_db, limit=3, offset=3)
    assert [(r["created_at"].day, r["created_at"].hour) for r in second] == [(2, 9), (1, 11),
                                                                            (1, 11)]
    assert second[1]["attempt"] == 2  # the later attempt of request B comes first
    assert len(ledger_page(ledger_db, limit=100)) == 7
    cloud = ledger_page(ledger_db, Filters(tier="cloud"))
    assert [r["request_id"][0] for r in cloud] == ["E", "D", "B"]


def test_the_export_writes_every_matching_row_with_labels_and_exact_money(
    ledger_db: Database,
) -> None:
    rows = ledger_csv_rows(ledger_db, Filters(since=MARCH_2))
    assert len(rows) == 4 and len(ledger_csv_rows(ledger_db, limit=2)) == 2
    assert rows[2]["cost_usd"] == "0.00075" and rows[2]["counterfactual_usd"] == "0.000045"
    data = to_csv(pd.DataFrame(rows, columns=list(LEDGER_COLUMNS)), LEDGER_COLUMNS)
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:3] == ["When (UTC)", "Tier", "Model"]
    assert table[0][10:12] == ["Cost (USD)", "All-cloud cost (USD)"]
    assert len(table) == 5
    error = table[1][list(LEDGER_COLUMNS).index("error_text")]
    assert error.startswith("'=HYPERLINK")  # a spreadsheet shows it as text


def test_the_table_and_export_never_show_a_session_id_only_its_label(
    ledger_db: Database,
) -> None:
    rows = ledger_page(ledger_db, limit=100)
    exported = ledger_csv_rows(ledger_db)
    labels = {r["session"] for r in rows}
    assert labels == {session_label("s1"), session_label("s2")}
    assert session_label("s1") != session_label("s2") and session_label("s1").startswith("S-")
    assert "session_id" not in rows[0] and "session_id" not in exported[0]
    data = to_csv(pd.DataFrame(exported, columns=list(LEDGER_COLUMNS)), LEDGER_COLUMNS)
    cells = {c for line in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in line}
    assert not {"s1", "s2"} & cells


def test_filter_pickers_list_what_the_ledger_holds(ledger_db: Database) -> None:
    assert distinct_values(ledger_db, "tier") == ["cloud", "embedded", "local"]
    assert distinct_values(ledger_db, "page") == ["Competitive analysis", "Home", "Tasks"]
    assert distinct_values(ledger_db, "status") == ["blocked", "error", "escalated", "ok"]
    with pytest.raises(ValueError, match="Cannot list"):
        distinct_values(ledger_db, "route_reason")


def test_the_version_changes_with_every_booking_reservation_and_settlement(db: Database) -> None:
    seen = {ledger_version(db)}
    book(db, record(0))
    seen.add(ledger_version(db))
    reservation = reserve(db, record(2), 5_000_000, Budget(None, None))
    assert isinstance(reservation, int)
    seen.add(ledger_version(db))
    settle(db, reservation, record(2))
    seen.add(ledger_version(db))
    assert len(seen) == 4
    assert reports.totals(db).calls == 2


def test_a_booked_call_is_stored_as_the_orm_would_store_it(db: Database) -> None:
    """``book`` inserts without the ORM (the router's hot path): column defaults, the
    cleaning of unstorable text and the owner of the session still apply."""
    from sqlalchemy import select

    from core.sessions import ensure_session
    from store.models import LLMCallRow

    sid = ensure_session(db, None)
    raw = replace(record(0), session_id=sid, user=None,
                  route_reason="kept\x00 here \ud800", error_text="bad\x00 byte")
    row_id = book(db, raw)
    with db.read() as s:
        row = s.scalars(select(LLMCallRow).where(LLMCallRow.id == row_id)).one()
    assert row.route_reason == "kept here \ufffd" and row.error_text == "bad byte"
    assert row.created_at is not None and row.reserved_nusd == 0 and row.feedback is None
    assert row.user == "local" and row.session_id == sid
    assert book(db, raw) == row_id + 1
