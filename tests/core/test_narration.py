from __future__ import annotations

import threading
import time

import pytest

from core.conversation import history
from core.narration import narrate, recent_narration
from core.sessions import ensure_session
from llm.providers import get_provider
from llm.router import Router, RouterSettings
from store.db import Database


def test_narration_from_a_background_thread_lands_in_the_chat(db: Database) -> None:
    sid = ensure_session(db, None)

    def job() -> None:
        for pct in (25, 50, 75, 100):
            narrate(db, sid, f"{pct}% done", source="test job")

    worker = threading.Thread(target=job)
    worker.start()
    worker.join(timeout=10)
    shown = [(m.role, m.content) for m in history(db, sid)]
    assert shown == [("narration", f"{p}% done") for p in (25, 50, 75, 100)]
    assert recent_narration(db, sid, 60)


def test_narration_is_bounded_and_kinds_are_checked(db: Database) -> None:
    sid = ensure_session(db, None)
    message = narrate(db, sid, "x " * 2000, kind="warning")
    assert len(message.content) <= 500 and message.meta["kind"] == "warning"
    with pytest.raises(ValueError, match="Unknown narration kind"):
        narrate(db, sid, "hi", kind="shout")
    assert not recent_narration(db, ensure_session(db, None), 60)


def test_an_optional_comment_comes_from_the_cheapest_tier_without_blocking(
    db: Database,
) -> None:
    sid = ensure_session(db, None)
    router = Router(db, providers={"embedded": get_provider("embedded")},
                    settings=RouterSettings())
    started = time.perf_counter()
    message = narrate(db, sid, "Step 2 of 4 finished: 3 rows were rejected", comment=True,
                      router=router)
    assert time.perf_counter() - started < 0.5  # the workflow does not wait for the model
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = history(db, sid)[-1]
        if "comment" in stored.meta:
            break
        time.sleep(0.2)
    assert stored.id == message.id and stored.meta["comment"].strip()
    assert stored.meta["comment_model"] == "SmolLM2-135M-Instruct"
