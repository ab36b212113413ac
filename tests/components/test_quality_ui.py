"""Quality in the sidebar chat through AppTest: the thumbs under a reply (kept across a
reload, booked on the ledger row), the caution on a doubtful answer and "Ask a stronger
model"; and the Costs and Settings pages' quality sections."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.conversation import history
from llm import ledger, quality, reports
from llm.providers import _register_builtins
from standins.ollama_server import FakeOllama
from store.db import get_database
from tests.apptest import new_app, rerun

STRONG = "12 * 7 = 84."


@pytest.fixture
def local_tier(app_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    with FakeOllama(models=["gemma2:2b"], default_reply=STRONG) as ollama:
        monkeypatch.setenv("OLLAMA_HOST", ollama.host)
        monkeypatch.setenv("AMBIENT_OLLAMA_MODEL", "gemma2:2b")
        monkeypatch.setenv("AMBIENT_ALLOW_CLOUD", "0")
        # Within the embedded tier's reach, and an answer the check doubts.
        monkeypatch.setattr(quality, "difficulty", lambda prompt: 0.0)
        monkeypatch.setattr(quality, "confidence", lambda *a, **k: 0.0)
        _register_builtins()
        yield ollama
    _register_builtins()


def test_a_doubtful_answer_is_cautioned_and_a_stronger_model_answers_on_request(
    local_tier: FakeOllama,
) -> None:
    at = new_app()
    at.run()
    at.sidebar.chat_input[0].set_value("I buy 12 boxes of 7 pens: how many pens is that?")
    rerun(at)
    assert not at.exception
    sid = at.session_state.session_id
    db = get_database()
    first = history(db, sid)[-1]
    assert first.tier == "embedded" and first.meta["stronger_tier"] == "local"
    assert any("may be wrong" in w.value for w in at.sidebar.warning)
    at.sidebar.button(key=f"stronger_{first.id}").click()
    rerun(at)
    assert not at.exception
    stored = history(db, sid)
    assert [m.role for m in stored] == ["user", "assistant", "assistant"]
    assert (stored[-1].tier, stored[-1].content) == ("local", STRONG)
    [row] = reports.calls_for_request(db, stored[-1].meta["request_id"])
    assert (row.escalation, row.parent_request_id) == ("user", first.meta["request_id"])


def test_thumbs_are_booked_on_the_answer_and_a_reload_keeps_them(app_env: str) -> None:
    at = new_app()
    at.run()
    at.sidebar.chat_input[0].set_value("Say hello in one word.")
    rerun(at)
    assert not at.exception
    sid = at.session_state.session_id
    db = get_database()
    reply = history(db, sid)[-1]
    thumbs = at.sidebar.get("feedback")
    assert len(thumbs) == 1
    at.session_state[f"feedback_{reply.id}"] = 0  # 👎, as a click sets it
    at.sidebar.chat_input[0].set_value("")
    rerun(at)
    # The widget's callback runs only on a change the browser reports, so book it as the
    # callback does and check what a reload shows.
    ledger.record_feedback(db, reply.meta["request_id"], "down")
    assert ledger.feedback_for(db, reply.meta["request_id"]) == "down"
    reloaded = new_app({"sid": sid})
    reloaded.run()
    [widget] = reloaded.sidebar.get("feedback")
    assert widget.proto.default == 0


def test_the_costs_page_shows_escalations_verdicts_and_the_cost_quality_curve(
    app_env: str,
) -> None:
    from llm.ledger import CallRecord, book

    db = get_database()
    for i, (escalation, feedback) in enumerate([("difficulty", 1), ("user", 0), (None, 1)]):
        book(db, CallRecord(request_id=f"{i:032d}", attempt=1, purpose="chat", tier="local",
                            provider="ollama", model="gemma2:2b", status="ok", route_reason="",
                            escalation=escalation))
        ledger.record_feedback(db, f"{i:032d}", "up" if feedback else "down")
    at = new_app()
    at.switch_page("pages/costs.py")
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Escalations by reason" in text and "Your verdicts" in text
    frames = [d.value for d in at.dataframe]
    reasons = next(f for f in frames if "reason" in f.columns)
    assert set(reasons["reason"]) == {reports.ESCALATION_REASONS["difficulty"],
                                      reports.ESCALATION_REASONS["user"]}
    verdicts = next(f for f in frames if "up" in f.columns)
    assert (int(verdicts["up"].iloc[0]), int(verdicts["down"].iloc[0])) == (2, 1)
    assert not any("quality curve" in str(c.proto.spec) for c in at.get("plotly_chart"))
    at.session_state["costs_curve"] = True  # what a click on the curve's expander sets
    at._finished_page_script_hash = ""  # tests/apptest.py: run the entrypoint again
    at.switch_page("pages/costs.py")
    at.run()
    assert not at.exception
    assert any("quality curve" in str(c.proto.spec) for c in at.get("plotly_chart"))


def test_escalations_are_read_once_per_ledger_version_and_verdicts_every_run(
    app_env: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llm.ledger import CallRecord, book

    db = get_database()
    calls = {"escalations": 0, "verdicts": 0}
    counted = {"escalations": reports.escalations_by_reason, "verdicts": reports.feedback_by}

    def counting(name: str):  # noqa: ANN202
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls[name] += 1
            return counted[name](*args, **kwargs)
        return call

    monkeypatch.setattr(reports, "escalations_by_reason", counting("escalations"))
    monkeypatch.setattr(reports, "feedback_by", counting("verdicts"))

    def booked(i: int, escalation: str) -> None:
        book(db, CallRecord(request_id=f"{i:032d}", attempt=1, purpose="chat", tier="local",
                            provider="ollama", model="gemma2:2b", status="ok", route_reason="",
                            escalation=escalation))

    def reasons(at) -> set[str]:  # noqa: ANN001
        frame = next(d.value for d in at.dataframe if "reason" in d.value.columns)
        return set(frame["reason"])

    booked(0, "difficulty")
    at = new_app()
    at.switch_page("pages/costs.py")
    at.run()
    rerun(at)
    assert not at.exception
    assert calls == {"escalations": 1, "verdicts": 2}  # the rerun read no escalation
    assert reasons(at) == {reports.ESCALATION_REASONS["difficulty"]}
    booked(1, "user")  # a new call: a new ledger version, read again
    rerun(at)
    assert calls == {"escalations": 2, "verdicts": 3}
    assert reasons(at) == {reports.ESCALATION_REASONS["difficulty"],
                           reports.ESCALATION_REASONS["user"]}
    ledger.record_feedback(db, f"{1:032d}", "up")  # a thumb: the verdicts show it at once
    rerun(at)
    verdicts = next(d.value for d in at.dataframe if "up" in d.value.columns)
    assert int(verdicts["up"].iloc[0]) == 1


def test_the_cost_quality_curve_is_built_once_per_target() -> None:
    from components.quality import _curve

    assert _curve(0.95) is _curve(0.95)
    assert _curve(0.8) is not _curve(0.95)
    marked = [t.name for t in _curve(0.8).data if t.mode == "markers"]
    assert marked and all(name == "your target (80%)" for name in marked)


def test_settings_sets_the_quality_target_and_resets_the_thumbs_adjustment(
    app_env: str,
) -> None:
    from llm.ledger import CallRecord, book
    from llm.settings import stored

    db = get_database()
    book(db, CallRecord(request_id="a" * 32, attempt=1, purpose="chat", tier="embedded",
                        provider="llama.cpp", model="m", status="ok", route_reason=""))
    ledger.record_feedback(db, "a" * 32, "down")
    at = new_app()
    at.switch_page("pages/settings.py")
    at.run()
    assert not at.exception
    at.slider(key="settings_quality_target").set_value(0.9)
    rerun(at)
    assert stored(db)["quality_target"] == 0.9
    assert any("purpose" in d.value.columns for d in at.dataframe)
    at.button(key="settings_feedback_reset").click()
    rerun(at)
    assert "feedback_since" in stored(db)


def test_the_sidebar_reads_the_thumbs_of_every_drawn_reply_in_one_query(
    app_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each reply's thumbs start from what is stored, read for all drawn replies at once
    (one query per reply was part of every page change)."""
    from core.conversation import add_message
    from llm.ledger import CallRecord, book

    at = new_app()
    at.run()
    sid = at.session_state.session_id
    db = get_database()
    for i, verdict in enumerate(["up", "down", None]):
        request_id = f"{i:032d}"
        book(db, CallRecord(request_id=request_id, attempt=1, purpose="chat",
                            tier="embedded", provider="llama.cpp",
                            model="SmolLM2-135M-Instruct", status="ok", route_reason=""))
        if verdict:
            ledger.record_feedback(db, request_id, verdict)
        add_message(db, sid, "assistant", f"Answer {i}", tier="embedded",
                    meta={"request_id": request_id})

    def one_by_one(*_args: object) -> None:
        raise AssertionError("the sidebar read a reply's thumbs on its own")

    monkeypatch.setattr(ledger, "feedback_for", one_by_one)
    rerun(at)
    assert not at.exception
    assert [w.proto.default if w.proto.HasField("default") else None
            for w in at.sidebar.get("feedback")] == [1, 0, None]
