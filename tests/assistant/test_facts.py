"""Facts first: the questions Ambient answers from its own data, on the embedded model,
exactly and without a model call; and the messages that must not be taken for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from assistant.actions import REGISTRY
from assistant.facts import (
    ABILITIES,
    ACTIVITY,
    CALCULATE,
    JOBS,
    MEMORY,
    TIER,
    _teach,
    recognise,
)
from assistant.intents import rule_proposals
from assistant.turn import ChatTurn
from core.conversation import history
from core.events import record_event
from core.memory import remember, scope_for
from llm.errors import LLMError
from llm.providers import get_provider
from llm.router import Router, RouterSettings
from store.db import Database
from store.models import LLMCallRow
from tests.assistant.conftest import PAGES
from workflows.jobs import get_job, start_job

# -- which messages are questions about Ambient's own data ---------------------------------

ASKED = {
    ABILITIES: [
        "What can you do?", "Hello there, what can you do?", "what else can you do for me",
        "How can you help me?", "What are your capabilities?", "list your actions", "help",
        "Help!", "what can I ask you?", "Can you tell me what you can do?",
        "What can you do here, please?", "what commands do you understand?",
    ],
    ACTIVITY: [
        "Summarise what I just did", "What did I just do?", "what have I done so far?",
        "Can you remind me what I did?", "show me my recent activity", "recap my session",
        "what was I doing?", "Where was I?", "Summarize my recent activity.",
        "what did I do today", "what have I been doing?",
    ],
    MEMORY: [
        "What is my name?", "what's my name?", "whats my name again", "Do you know my name?",
        "who am I?", "What’s my favourite colour?", "what is my favorite color?",
        "what do you know about me?", "What do you remember?",
        "tell me what you know about me", "what's in your memory?",
        "what did I tell you about me?", "what is my name and my favourite colour?",
        "Can you tell me what my name is?",
    ],
    JOBS: [
        "How is my job going?", "where does the long job stand?", "is the analysis done yet?",
        "job status", "what's the status of my job?", "how far along is the long job?",
        "any errors in the analysis?", "did the job fail?", "what's running?",
        "Is the long job finished?",
    ],
    CALCULATE: [
        "What is 17*23?", "17 * 23", "17*23=", "compute (2+3)^2", "calculate sqrt(16)",
        "what's 12 divided by 4", "how much is 3 x 4?", "what is 20% of 150?",
        "What is 17*23, please?", "can you tell me what 17*23 is", "2^10", "Calculate: 7 // 2",
    ],
}

NOT_ASKED = [
    "I can do it myself", "what can you do about the slow page?", "can you do me a favour?",
    "what can you tell me about PageRank?", "what did I do wrong?", "I did it!",
    "my name is Ann", "My name is Ann.", "call me Bob", "my favourite colour is green",
    "What are my tasks?", "what is my budget today?", "what is my dog's name?",
    "What is a link graph?", "what is 2024-01-05?", "what is PageRank?",
    "help me find a job", "I got a new job", "start the long job", "what is a job?",
    "cancel the job", "thanks!", "Hello! Who are you?", "Remember this message.",
    "What does a link graph show?", "Say hello in one word.", "Tell me about Acme",
    "Summarise my tasks: call Acme, write the report", "add a task to call Acme",
    "Why is the sky blue? Answer in one sentence.", "Write a very long story about the sea.",
    "What did I just learn about PageRank?", "5", "-5", "Question 3 from session 2",
]


@pytest.mark.parametrize(("kind", "text"),
                         [(kind, text) for kind, texts in ASKED.items() for text in texts])
def test_questions_about_ambients_data_are_recognised(kind: str, text: str) -> None:
    found = recognise(text)
    assert found is not None and found.complete, text
    assert [q.kind for q in found.questions] == [kind]


@pytest.mark.parametrize("text", NOT_ASKED)
def test_other_messages_are_not_taken_for_them(text: str) -> None:
    assert recognise(text) is None


def test_a_statement_and_a_question_in_one_message_is_answered_from_data() -> None:
    found = recognise("My name is Ann. What is my name?")
    assert found is not None and found.complete
    assert [(q.kind, q.detail) for q in found.questions] == [(MEMORY, ("name",))]


def test_a_question_with_something_else_goes_to_the_model() -> None:
    found = recognise("What is my name? And why is the sky blue?")
    assert found is not None and not found.complete


def test_several_questions_in_one_message_are_all_answered() -> None:
    found = recognise("what is my name and what can you do? Also, what is 2+2?")
    assert found is not None and found.complete
    assert [q.kind for q in found.questions] == [MEMORY, ABILITIES, CALCULATE]


@pytest.mark.parametrize("key", ["name", "favourite_colour", "favourite_food", "team"])
def test_the_sentence_suggested_for_a_missing_fact_is_one_the_intents_read(key: str) -> None:
    said = _teach(key).strip("“”").replace("…", "Green Bay")
    assert rule_proposals(said)[0].args["key"] == key


# -- answered in a chat turn, from the data, with no model call ----------------------------


class NoModel(Router):
    """The real embedded router, counting the calls that reach a model."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, providers={"embedded": get_provider("embedded")},
                         settings=RouterSettings())
        self.calls: list[Any] = []

    def stream(self, request):  # noqa: ANN001, ANN201
        self.calls.append(request)
        return super().stream(request)

    def complete(self, request):  # noqa: ANN001, ANN201
        self.calls.append(request)
        return super().complete(request)


def ask(db: Database, sid: str, text: str, router: Router | None = None) -> tuple[str, Any]:
    router = router or NoModel(db)
    turn = ChatTurn(db, sid, text, router=router, pages=PAGES)
    streamed = "".join(turn.stream())
    reply = history(db, sid)[-1]
    assert reply.role == "assistant" and reply.status == "ok"
    assert reply.content == streamed
    if isinstance(router, NoModel):
        assert router.calls == [], "a question about Ambient's data went to a model"
        assert reply.tier == TIER and reply.model is None
        assert "Ambient's data" in reply.meta["route_reason"]
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(LLMCallRow)) == 0  # no cost
    return streamed, reply


def test_what_can_you_do_lists_the_real_actions_and_pages(db: Database, sid: str) -> None:
    text, reply = ask(db, sid, "What can you do?")
    assert reply.meta["answered_from"] == "the action registry and the pages"
    assert "Remember something you tell me about yourself" in text
    assert "Add a task to your task list." in text
    assert "Delete a task. I ask you first." in text
    assert "Calculate an arithmetic expression exactly" in text
    assert len([line for line in text.splitlines() if line.startswith("- ")]) == len(REGISTRY)
    assert f"Pages I can open for you: {', '.join(PAGES)}." in text
    assert "job" not in text.split("Pages")[0].replace("jobs stand", "")  # not job hunting


def test_summarise_what_i_just_did_lists_the_recent_events(db: Database, sid: str) -> None:
    record_event(db, sid, "page_opened", "Opened the Tasks page", page="Tasks")
    record_event(db, sid, "form_submitted", "Added the task 'Call Acme'", page="Tasks")
    record_event(db, sid, "step_completed", "Scanned 1,204 links", page="Link graph")
    text, reply = ask(db, sid, "Summarise what I just did")
    assert reply.meta["answered_from"] == "the activity log"
    lines = text.splitlines()
    assert lines[0] == ("From the activity log, everything you did in this session (oldest "
                        "first; 1 page opened, 1 form submitted, 1 step completed):")
    assert lines[1:] == [
        "- just now on Tasks: Opened the Tasks page",
        "- just now on Tasks: Added the task 'Call Acme'",
        "- just now on Link graph: Scanned 1,204 links",
    ]


def test_only_the_last_events_of_a_long_log(db: Database, sid: str) -> None:
    for n in range(1, 15):
        record_event(db, sid, "step_completed", f"Step {n} done")
    text, _ = ask(db, sid, "what have I done so far?")
    lines = text.splitlines()
    assert lines[0].startswith("From the activity log, your last 10 events (oldest first;")
    assert lines[1] == "- just now: Step 5 done" and lines[-1] == "- just now: Step 14 done"


def test_what_i_just_did_with_an_empty_log_says_so(db: Database, sid: str) -> None:
    text, _ = ask(db, sid, "What did I just do?")
    assert text.startswith("Nothing yet: the activity log of this session is empty.")


def test_what_is_my_name_comes_from_memory(db: Database, sid: str) -> None:
    remember(db, scope_for(db, sid), "name", "Ann")
    remember(db, scope_for(db, sid), "company", "Acme")  # the answer the model gave
    text, reply = ask(db, sid, "What is my name?")
    assert text == "Your name is Ann."
    assert reply.meta["answered_from"] == "Memory"


def test_a_name_not_in_memory_is_not_made_up(db: Database, sid: str) -> None:
    text, _ = ask(db, sid, "What is my name?")
    assert text == ("I don't know your name: it is not in Memory. Tell me “My name is …” "
                    "and I will remember it.")


def test_favourite_colour_and_everything_remembered(db: Database, sid: str) -> None:
    remember(db, scope_for(db, sid), "name", "Ann")
    remember(db, scope_for(db, sid), "favourite_colour", "green")
    text, _ = ask(db, sid, "what's my favorite color?")
    assert text == "Your favourite colour is green."
    text, _ = ask(db, sid, "What do you know about me?")
    assert text.splitlines()[:3] == [
        "Here is what I remember about you (from Memory):",
        "- favourite colour: green",
        "- name: Ann",
    ]


def test_a_statement_then_the_question_in_one_message(db: Database, sid: str) -> None:
    text, reply = ask(db, sid, "My name is Ann. What is my name?")
    assert text == "Your name is Ann."
    assert reply.meta["actions"][0]["message"] == "I'll remember that name is Ann."


def test_what_is_17_times_23_is_391(db: Database, sid: str) -> None:
    text, reply = ask(db, sid, "What is 17*23?")
    assert text == "17 * 23 = 391"
    assert reply.meta["answered_from"] == "the calculator"
    text, _ = ask(db, sid, "compute (2+3)^2")
    assert text == "(2 + 3) ** 2 = 25"
    text, _ = ask(db, sid, "What is 1/0?")
    assert text == "1 / 0 divides by zero, which has no result."
    text, _ = ask(db, sid, "calculate sqrt(16)")
    assert "'sqrt(16)' is not one of those" in text


def wait_for(db: Database, job_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while get_job(db, job_id).status != status:
        assert time.monotonic() < deadline, get_job(db, job_id)
        time.sleep(0.05)


@pytest.fixture
def held() -> Iterator[threading.Event]:
    release = threading.Event()
    yield release
    release.set()


def test_where_a_job_stands_comes_from_the_jobs_table(
    db: Database, sid: str, held: threading.Event
) -> None:
    text, _ = ask(db, sid, "How is my job going?")
    assert text.startswith("No job has run in this session yet.")

    def flaky(ctx: Any, item: int) -> int:
        if item == 2:
            raise RuntimeError("the server said 503")
        return item

    done = start_job(db, sid, "competitive", "Competitive analysis", [1, 2, 3], flaky,
                     narrate_progress=False)
    wait_for(db, done, "done")

    def slow(ctx: Any, item: int) -> int:
        if item > 2:
            held.wait(30)
        return item

    running = start_job(db, sid, "long_job", "Long job", list(range(1, 11)), slow,
                        narrate_progress=False)
    deadline = time.monotonic() + 30
    while get_job(db, running).processed < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    text, reply = ask(db, sid, "How is my job going?")
    assert reply.meta["answered_from"] == "the jobs table"
    lines = text.splitlines()
    assert lines[0] == "Your latest jobs (newest first):"
    assert lines[1].startswith("- Long job: running — 2 of 10 items (20%), started just now")
    assert lines[2].startswith("- Competitive analysis: done — 3 of 3 items")
    assert "1 of 3 items failed; the others are done." in lines[2]
    assert "Item 2 failed (RuntimeError): the server said 503." in lines[2]

    text, _ = ask(db, sid, "is the analysis done yet?")
    assert text.startswith("Competitive analysis: done — 3 of 3 items")
    held.set()
    wait_for(db, running, "done")
    text, _ = ask(db, sid, "where does the long job stand?")
    assert text.startswith("Long job: done — 10 of 10 items, ended just now")


# -- the rest of the turn -------------------------------------------------------------------


def test_a_mixed_message_goes_to_the_model_with_the_facts_in_its_context(
    db: Database, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    remember(db, scope_for(db, sid), "name", "Ann")
    router = NoModel(db)
    seen: list[Any] = []

    def refuse(request: Any) -> Any:
        seen.append(request)
        raise LLMError("no model in this test")

    monkeypatch.setattr(router, "stream", refuse)
    turn = ChatTurn(db, sid, "What is my name? And why is the sky blue?", router=router,
                    pages=PAGES)
    "".join(turn.stream())
    assert len(seen) == 1
    system = seen[0].context.messages()[0]["content"]
    assert "Facts from Ambient's own data" in system and "Your name is Ann." in system


def test_stopping_an_answer_from_data_stores_it_once(db: Database, sid: str) -> None:
    turn = ChatTurn(db, sid, "What is 17*23?", router=NoModel(db))
    stream = turn.stream()
    assert next(stream) == "17 * 23 = 391"
    stream.close()
    replies = [m for m in history(db, sid) if m.role == "assistant"]
    assert [(m.content, m.status) for m in replies] == [("17 * 23 = 391", "ok")]
