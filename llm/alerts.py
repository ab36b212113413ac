"""Budget alerts: 80 % and 100 % of the team's or a user's daily cloud budget.

The ledger records an alert in the same transaction that books the spend (or the
refusal) that reached the threshold; a unique index on (day, budget, threshold) makes it
once a day per budget and threshold, however many calls reach it at the same moment.
Then two things happen, neither of which can hold up or fail a model call:

- the user whose call reached it gets a notice in the chat (``take_undelivered``, read by
  the chat on its next run: ``core.narration.deliver_budget_alerts``);
- if ``AMBIENT_BUDGET_WEBHOOK`` is set, a JSON POST tells the team channel, from a
  background thread, with a few retries; a webhook that is down is logged (without its
  address, which often holds a token) and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from llm.env import env_text
from llm.prices import format_usd
from store.db import Database, utcnow
from store.models import BudgetAlertRow

log = logging.getLogger(__name__)

TEAM = "team"
THRESHOLDS = (80, 100)
WEBHOOK_TRIES = 3
WEBHOOK_TIMEOUT_S = 3.0
_USER_PREFIX = "user:"


def user_scope(user: str) -> str:
    return f"{_USER_PREFIX}{user}"


@dataclass(frozen=True)
class Alert:
    day: str
    scope: str  # "team" or "user:<name>"
    threshold: int
    user: str  # whose call reached it; the chat notice goes to them
    cap_usd: str
    spent_usd: str
    message: str

    def payload(self) -> dict[str, object]:
        """What the webhook receives (no secrets: names, amounts and the sentence)."""
        whose = TEAM if self.scope == TEAM else self.scope.removeprefix(_USER_PREFIX)
        return {"event": "ambient.budget_threshold", "budget": whose} | asdict(self)


def _message(scope: str, threshold: int, cap: Decimal, spent: Decimal, refused: bool,
             now: datetime) -> str:
    whose = "The team's" if scope == TEAM else "Your"
    reset = (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))
    resets = f"It resets at {reset:%H:%M} UTC; local models keep answering until then"
    raise_it = "an admin can raise it in Settings"
    if threshold < 100:
        return (f"{whose} daily cloud budget is {threshold} % used: {format_usd(spent)} of "
                f"{format_usd(cap)} spent today. At 100 % cloud calls stop until it resets "
                "at 00:00 UTC; local models keep answering.")
    if refused:
        return (f"{whose} daily cloud budget of {format_usd(cap)} is used up: "
                f"{format_usd(spent)} is spent or reserved, and the next cloud call could "
                f"cost more than what is left. {resets}; {raise_it}.")
    return (f"{whose} daily cloud budget of {format_usd(cap)} is used up "
            f"({format_usd(spent)} spent today). {resets}; {raise_it}.")


def record(
    s: Session, now: datetime, user: str, session_id: str | None,
    reached: list[tuple[str, int, Decimal | None, Decimal]], *, refused: bool = False,
) -> list[Alert]:
    """Record each (scope, threshold, cap, spent) not yet recorded today, inside the
    caller's transaction; returns the alerts that are new (to announce after commit)."""
    day = now.strftime("%Y-%m-%d")
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    new = []
    for scope, threshold, cap, spent in reached:
        if cap is None:
            continue
        known = s.scalar(select(BudgetAlertRow.id).where(
            BudgetAlertRow.day == day, BudgetAlertRow.scope == scope,
            BudgetAlertRow.threshold == threshold))
        if known is not None:
            continue
        alert = Alert(day, scope, threshold, user, str(cap), str(spent),
                      _message(scope, threshold, cap, spent, refused, now))
        added = s.execute(
            insert(BudgetAlertRow)
            .values(created_at=now, day=day, scope=scope, threshold=threshold, user=user,
                    session_id=session_id, message=alert.message)
            .on_conflict_do_nothing(index_elements=["day", "scope", "threshold"])
        ).rowcount
        if added:
            new.append(alert)
    return new


def take_undelivered(db: Database, user: str) -> list[str]:
    """The notices waiting for ``user``, oldest first, each handed out once only. (A
    read first: the chat asks on every run, and most runs have nothing to take.)"""
    waiting = (
        select(BudgetAlertRow.id, BudgetAlertRow.message)
        .where(BudgetAlertRow.user == user, BudgetAlertRow.delivered_at.is_(None))
        .order_by(BudgetAlertRow.id)
    )
    with db.read() as s:
        if not s.execute(waiting.limit(1)).first():
            return []
    with db.write() as s:
        rows = s.execute(waiting).all()
        taken = []
        for alert_id, message in rows:
            claimed = s.execute(
                update(BudgetAlertRow)
                .where(BudgetAlertRow.id == alert_id, BudgetAlertRow.delivered_at.is_(None))
                .values(delivered_at=utcnow())
            ).rowcount
            if claimed:
                taken.append(message)
    return taken


# -- the webhook -------------------------------------------------------------------------
_senders: list[threading.Thread] = []
_senders_lock = threading.Lock()


def announce(alerts: list[Alert]) -> None:
    """POST each new alert to AMBIENT_BUDGET_WEBHOOK in the background (if it is set)."""
    url = env_text("AMBIENT_BUDGET_WEBHOOK")
    if not url or not alerts:
        return
    for alert in alerts:
        sender = threading.Thread(target=_post, args=(url, alert.payload()), daemon=True,
                                  name="budget-webhook")
        with _senders_lock:
            _senders[:] = [t for t in _senders if t.is_alive()] + [sender]
        sender.start()


def _post(url: str, payload: dict[str, object]) -> bool:
    body = json.dumps(payload).encode("utf-8")
    problem = ""
    for attempt in range(1, WEBHOOK_TRIES + 1):
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "Ambient"})
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
                if 200 <= response.status < 300:
                    return True
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            problem = exc.__class__.__name__
        if attempt < WEBHOOK_TRIES:
            time.sleep(0.5 * attempt)
    # The address is not logged: webhook URLs often carry their token in the path.
    log.warning("The budget webhook (AMBIENT_BUDGET_WEBHOOK) did not take the %s %d %% alert "
                "after %d tries (%s); the chat notice was kept. Check that the receiver is up.",
                payload.get("budget"), payload.get("threshold"), WEBHOOK_TRIES, problem)
    return False


def wait_for_webhooks(timeout: float = 30.0) -> None:
    """Wait until every alert being posted has been sent or given up (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    with _senders_lock:
        senders = list(_senders)
    for sender in senders:
        sender.join(max(deadline - time.monotonic(), 0))
