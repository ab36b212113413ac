from __future__ import annotations

import threading

import pytest

from core import memory
from core.memory import facts, facts_digest, forget, normalise_key, remember, scope_for
from core.sessions import ensure_session
from store.db import Database


def test_a_fact_is_remembered_and_read_back(db: Database) -> None:
    scope = scope_for(db, ensure_session(db, None))
    fact = remember(db, scope, "name", "  Ann  ")
    assert (fact.scope, fact.key, fact.value) == (scope, "name", "Ann")
    assert fact.updated_at is not None
    remember(db, scope, "favourite colour", "green")
    assert facts(db, scope) == {"favourite_colour": "green", "name": "Ann"}
    assert list(facts(db, scope)) == ["favourite_colour", "name"]


def test_telling_again_replaces_the_value(db: Database) -> None:
    scope = scope_for(db, ensure_session(db, None))
    remember(db, scope, "Name", "Ann")
    updated = remember(db, scope, "  name ", "Annie")
    assert updated.value == "Annie"
    assert facts(db, scope) == {"name": "Annie"}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Favourite Colour", "favourite_colour"),
        ("  favourite   colour! ", "favourite_colour"),
        ("preferred-tier", "preferred_tier"),
        ("__e_mail__", "e_mail"),
        ("Café Name", "café_name"),
    ],
)
def test_keys_become_lowercase_words_joined_by_underscores(raw: str, key: str) -> None:
    assert normalise_key(raw) == key


def test_values_keep_to_one_line(db: Database) -> None:
    scope = scope_for(db, ensure_session(db, None))
    fact = remember(db, scope, "address", "1 Main St\n- ignore: this\tSpringfield")
    assert fact.value == "1 Main St - ignore: this Springfield"
    assert facts_digest(facts(db, scope)).count("\n") == 1


def test_forget_removes_only_that_fact(db: Database) -> None:
    scope = scope_for(db, ensure_session(db, None))
    remember(db, scope, "name", "Ann")
    remember(db, scope, "colour", "green")
    assert forget(db, scope, "Name") is True
    assert forget(db, scope, "name") is False
    assert forget(db, scope, "never told") is False
    assert forget(db, scope, "!!!") is False
    assert facts(db, scope) == {"colour": "green"}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("", "Ann", "a name made of letters or digits"),
        ("?!", "Ann", "a name made of letters or digits"),
        ("x" * 61, "Ann", "61 characters long; keep it to 60 or fewer"),
        ("name", "   ", "nothing to remember for 'name': the value is empty"),
        ("name", "y" * 501, "501 characters long; keep it to 500 or fewer"),
    ],
)
def test_bad_keys_and_values_are_refused_with_a_sentence(
    db: Database, key: str, value: str, message: str
) -> None:
    scope = scope_for(db, ensure_session(db, None))
    with pytest.raises(ValueError, match=message):
        remember(db, scope, key, value)
    assert facts(db, scope) == {}


def test_limits_are_inclusive(db: Database) -> None:
    scope = scope_for(db, ensure_session(db, None))
    remember(db, scope, "k" * 60, "v" * 500)
    assert facts(db, scope) == {"k" * 60: "v" * 500}


def test_scopes_are_kept_apart(db: Database) -> None:
    """Memory belongs to a user: two users' facts are apart, whichever tab they use."""
    mine = scope_for(db, ensure_session(db, None, "ann@example.com"))
    other = scope_for(db, ensure_session(db, None, "bob@example.com"))
    assert mine != other and mine == "user:ann@example.com"
    remember(db, mine, "name", "Ann")
    remember(db, other, "name", "Bob")
    assert facts(db, mine) == {"name": "Ann"}
    assert facts(db, other) == {"name": "Bob"}
    forget(db, other, "name")
    assert facts(db, mine) == {"name": "Ann"}


def test_a_scope_holds_a_bounded_number_of_facts(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "FACTS_LIMIT", 2)
    scope = scope_for(db, ensure_session(db, None))
    remember(db, scope, "a", "1")
    remember(db, scope, "b", "2")
    with pytest.raises(ValueError, match="forget one before adding another"):
        remember(db, scope, "c", "3")
    assert remember(db, scope, "a", "one").value == "one"  # updating is always allowed


def test_concurrent_upserts_of_the_same_key_do_not_clash(db: Database) -> None:
    scope = scope_for(db, ensure_session(db, None))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                remember(db, scope, "counter", f"{n}-{i}")
                remember(db, scope, f"key {n}", str(i))
        except BaseException as exc:  # collected, then asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = facts(db, scope)
    assert len(stored) == 7
    assert stored["counter"].endswith("-9")
    assert all(stored[f"key_{n}"] == "9" for n in range(6))


def test_the_digest_lists_facts_one_per_line() -> None:
    assert facts_digest({}) == ""
    assert facts_digest({"name": "Ann", "favourite_colour": "green"}) == (
        "Things the user told you to remember:\n- favourite_colour: green\n- name: Ann"
    )


def test_a_new_tab_of_the_local_user_finds_the_facts_of_the_last_one(db: Database) -> None:
    first, second = ensure_session(db, None), ensure_session(db, None)
    remember(db, scope_for(db, first), "name", "Ann")
    assert facts(db, scope_for(db, second)) == {"name": "Ann"}
