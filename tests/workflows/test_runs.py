from __future__ import annotations

from core.sessions import ensure_session
from store.db import Database
from workflows.runs import (
    complete_step,
    fail_step,
    get_run,
    restart,
    revert_step,
    save_data,
    set_open,
)

STEPS = ("competitors", "aspects", "analysis", "results")


def test_a_new_run_opens_the_first_step_only(db: Database) -> None:
    run = get_run(db, ensure_session(db, None), "analysis", STEPS)
    assert [run.is_open(k) for k in STEPS] == [True, False, False, False]
    assert all(run.state(k) == "waiting" for k in STEPS) and not run.finished


def test_finishing_a_step_closes_it_opens_the_next_and_survives_a_reload(db: Database) -> None:
    sid = ensure_session(db, None)
    run = get_run(db, sid, "analysis", STEPS)
    complete_step(db, run, "competitors", ["Acme", "Globex"])
    reloaded = get_run(db, sid, "analysis", STEPS)  # what a reload sees
    assert reloaded.done("competitors") and not reloaded.is_open("competitors")
    assert reloaded.is_open("aspects")
    assert reloaded.step_data("competitors") == ["Acme", "Globex"]


def test_reverting_a_step_sends_it_and_later_steps_back(db: Database) -> None:
    sid = ensure_session(db, None)
    run = get_run(db, sid, "analysis", STEPS)
    for key in STEPS[:3]:
        run = complete_step(db, run, key, f"data for {key}")
    run = revert_step(db, run, "aspects")
    assert run.done("competitors") and run.step_data("competitors") == "data for competitors"
    assert [run.state(k) for k in STEPS[1:]] == ["waiting"] * 3
    assert run.step_data("aspects") is None and run.step_data("analysis") is None
    assert run.is_open("aspects") and not run.is_open("analysis")


def test_cards_remember_being_opened_or_closed(db: Database) -> None:
    sid = ensure_session(db, None)
    run = get_run(db, sid, "analysis", STEPS)
    set_open(db, run, "results", True)
    set_open(db, run, "competitors", False)
    again = get_run(db, sid, "analysis", STEPS)
    assert again.is_open("results") and not again.is_open("competitors")


def test_a_failed_step_keeps_its_note_and_drafts_are_kept(db: Database) -> None:
    sid = ensure_session(db, None)
    run = get_run(db, sid, "analysis", STEPS)
    save_data(db, run, "aspects", ["Pricing"])
    run = fail_step(db, run, "analysis", "2 of 3 competitors failed")
    assert run.state("analysis") == "failed" and run.note("analysis").startswith("2 of 3")
    assert get_run(db, sid, "analysis", STEPS).step_data("aspects") == ["Pricing"]


def test_restart_archives_the_run_and_runs_are_per_user(db: Database) -> None:
    sid, other = ensure_session(db, None), ensure_session(db, None, "bob@example.com")
    run = complete_step(db, get_run(db, sid, "analysis", STEPS), "competitors", ["Acme"])
    fresh = restart(db, sid, "analysis", STEPS)
    assert fresh.id != run.id and fresh.step_data("competitors") is None
    assert get_run(db, other, "analysis", STEPS).step_data("competitors") is None
    complete_step(db, fresh, "competitors", ["Acme"])
    another_tab = ensure_session(db, None)  # the same (local) user: the same run
    assert get_run(db, another_tab, "analysis", STEPS).step_data("competitors") == ["Acme"]


def test_a_result_stays_in_view_until_the_user_moves_on(db: Database) -> None:
    sid = ensure_session(db, None)
    run = get_run(db, sid, "analysis", STEPS)
    run = complete_step(db, run, "competitors", ["Acme"], stay_open=True)
    reloaded = get_run(db, sid, "analysis", STEPS)  # after a reload too
    assert reloaded.done("competitors") and reloaded.is_open("competitors")
    assert reloaded.is_open("aspects")
    run = complete_step(db, reloaded, "aspects", ["Pricing"])  # the user moved on
    assert not run.is_open("competitors") and not run.is_open("aspects")
    assert run.is_open("analysis")


def test_a_card_the_user_opened_by_hand_is_never_closed_for_them(db: Database) -> None:
    sid = ensure_session(db, None)
    run = get_run(db, sid, "analysis", STEPS)
    run = complete_step(db, run, "competitors", ["Acme"], stay_open=True)
    run = set_open(db, run, "competitors", True)  # the user's own toggle: theirs now
    run = complete_step(db, run, "aspects", ["Pricing"])
    assert run.is_open("competitors")
