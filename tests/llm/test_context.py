from __future__ import annotations

from llm.context import Turn, fit_context


def words(text: str) -> tuple[int, bool]:
    return len(text.split()), True


def test_oldest_messages_drop_out_first_and_the_newest_stays() -> None:
    history = [Turn("user" if i % 2 == 0 else "assistant", f"message {i} " * 10) for i in range(50)]
    fitted = fit_context("You are helpful.", ["Recent activity: none"], history,
                         count=words, window=200, reserve_for_reply=50)
    assert fitted.messages[0]["role"] == "system"
    assert "Recent activity" in fitted.messages[0]["content"]
    assert fitted.messages[-1]["content"] == history[-1].content
    assert fitted.used_tokens + fitted.reserved_for_reply <= 200
    assert fitted.dropped_messages == 50 - (len(fitted.messages) - 1) > 0
    assert "older messages left out" in fitted.describe()


def test_everything_fits_when_there_is_room() -> None:
    history = [Turn("user", "hello"), Turn("assistant", "hi")]
    fitted = fit_context("sys", [], history, count=words, window=4096, reserve_for_reply=100)
    assert [m["content"] for m in fitted.messages] == ["sys", "hello", "hi"]
    assert fitted.dropped_messages == 0 and not fitted.truncated_newest


def test_a_newest_message_too_long_for_the_window_is_cut_to_its_end() -> None:
    long = " ".join(f"w{i}" for i in range(1000)) + " QUESTION?"
    fitted = fit_context("sys", [], [Turn("user", long)], count=words, window=300,
                         reserve_for_reply=50)
    assert fitted.truncated_newest
    assert fitted.messages[-1]["content"].endswith("QUESTION?")
    assert fitted.used_tokens + 50 <= 300


def test_an_estimate_is_marked_as_one() -> None:
    fitted = fit_context("sys", [], [Turn("user", "hi")], count=lambda t: (len(t), False),
                         window=100, reserve_for_reply=10)
    assert not fitted.exact and "about" in fitted.describe()


def test_a_spec_fits_like_fit_context_and_keeps_its_full_text() -> None:
    from llm.context import ContextSpec

    history = [Turn("user" if i % 2 == 0 else "assistant", f"message {i} " * 10) for i in range(30)]
    spec = ContextSpec("You are helpful.", ("Facts: none", " ", "Activity: none"), history,
                       reserve_for_reply=50, total_messages=40)
    assert isinstance(spec.history, tuple) and hash(spec)  # frozen, lists accepted
    fitted = spec.fit(words, 200)
    assert fitted == fit_context("You are helpful.", spec.sections, history, count=words,
                                 window=200, reserve_for_reply=50, total_messages=40)
    assert fitted.dropped_messages == 40 - (len(fitted.messages) - 1)
    full = spec.messages()
    assert full[0]["content"] == "You are helpful.\n\nFacts: none\n\nActivity: none"
    assert [m["content"] for m in full[1:]] == [t.content for t in history]
    assert spec.essential() == [{"role": "system", "content": "You are helpful."},
                                {"role": "assistant", "content": history[-1].content}]
    upper = spec.map_text(str.upper)
    assert upper.messages()[0]["content"] == full[0]["content"].upper()
    assert upper.history[-1] == Turn(history[-1].role, history[-1].content.upper())
