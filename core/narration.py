"""Narration: workflows post progress and system messages into the chat (the seed's chatq).

``narrate`` is one short database write, safe from any thread, so a background job can
say "25% done" without waiting on anything. With ``comment=True`` the cheapest tier adds
a one-line remark in a background thread; the workflow never waits for the model.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from core.conversation import Message, add_message, update_message
from core.people import owner
from llm.alerts import take_undelivered
from store.db import Database, utcnow
from store.models import MessageRow

log = logging.getLogger(__name__)

KINDS = ("progress", "info", "warning", "done", "error")
MAX_LENGTH = 500
COMMENT_TOKENS = 40


def narrate(
    db: Database,
    session_id: str,
    text: str,
    *,
    kind: str = "progress",
    source: str | None = None,
    comment: bool = False,
    router: object | None = None,
) -> Message:
    """Post ``text`` into the session's active conversation and return at once."""
    if kind not in KINDS:
        raise ValueError(f"Unknown narration kind {kind!r}; use one of {', '.join(KINDS)}.")
    text = " ".join(str(text).split())[:MAX_LENGTH] or "(empty message)"
    meta = {"kind": kind, "source": source}
    message = add_message(db, session_id, "narration", text, meta=meta)
    if comment and router is not None:
        threading.Thread(
            target=_add_comment, args=(db, message, router), daemon=True,
            name="narration-comment",
        ).start()
    return message


def _add_comment(db: Database, message: Message, router: object) -> None:
    from llm.router import LLMRequest, RouteError  # the router is optional here

    request = LLMRequest(
        messages=[
            {"role": "system", "content": "Add one short, friendly sentence about this "
             "progress update for the user. No more than 15 words."},
            {"role": "user", "content": message.content},
        ],
        purpose="narrate",
        tier="embedded",
        max_tokens=COMMENT_TOKENS,
        temperature=0.5,
    )
    try:
        result = router.complete(request)  # type: ignore[attr-defined]
    except RouteError as exc:
        log.info("narration comment skipped: %s", exc)
        return
    line = result.text.strip().split("\n")[0][:200]
    if line:
        update_message(
            db, message.id, content=message.content, status="ok",
            meta=message.meta | {"comment": line, "comment_model": result.model},
        )


def narrate_once(db: Database, session_id: str, text: str, *, kind: str = "info",
                 source: str | None = None) -> Message | None:
    """``narrate`` unless the session's chat already has this very note (a step done
    again, or a run redone after it was cut short, says its news once)."""
    text = " ".join(str(text).split())[:MAX_LENGTH]
    with db.read() as s:
        said = s.scalar(
            select(MessageRow.id)
            .where(MessageRow.session_id == session_id, MessageRow.role == "narration",
                   MessageRow.content == text)
            .limit(1)
        )
    return None if said is not None else narrate(db, session_id, text, kind=kind,
                                                 source=source)


def recent_narration(db: Database, session_id: str, seconds: float) -> bool:
    """Whether anything was narrated in the session within the last ``seconds``."""
    since = utcnow() - timedelta(seconds=seconds)
    with db.read() as s:
        return s.scalar(
            select(MessageRow.id)
            .where(
                MessageRow.session_id == session_id,
                MessageRow.role == "narration",
                MessageRow.created_at >= since,
            )
            .limit(1)
        ) is not None


def deliver_budget_alerts(db: Database, session_id: str) -> list[Message]:
    """Post the budget notices waiting for the session's user into this session's chat,
    each once (``llm.alerts``: 80 % and 100 % of the team's or their daily budget)."""
    user = owner(db, session_id)
    if user is None:
        return []
    return [narrate(db, session_id, text, kind="warning", source="budget")
            for text in take_undelivered(db, user)]
