"""Private data through every workflow that calls a model, against a capturing cloud server:
nothing private reaches it, in "keep local" and in "redact then escalate" mode.

The embedded tier is a scripted provider whose every answer is unusable for a schema (not
JSON) and repeats private data: in "keep local" mode, where every request stays on it,
each workflow's cascade wants the cloud, and an escalation or repair prompt would carry
the weak answer's private words with it. (With the real SmolLM2 this test took over two
minutes a mode and escalated only where the model happened to fail; the model itself is
tested in tests/llm/providers/test_embedded.py.)"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from assistant.turn import ChatTurn
from core.experts import Expert
from core.sessions import ensure_session
from core.tasks import import_tasks, list_tasks
from linkgraph.measure import distributions
from linkgraph.reading import scan_request
from linkgraph.scan import scan_site
from llm import privacy
from llm.providers.cloud import CloudProvider
from llm.router import Origin, RouteError, Router, RouterSettings
from standins.openai_server import FakeOpenAI
from standins.scripted import ScriptedProvider
from store.db import Database
from workflows.competitive import analyse_competitor, suggest_competitors

SPANS = ["ann.lee@example.com", "4111 1111 1111 1111", "+44 20 7946 0958",
         "DE89 3704 0044 0532 0130 00", "sk-proj-Abc123Def456Ghi789Jkl012Mno345"]
WEAK_ANSWER = f"Sure. I have noted {SPANS[0]} and the card {SPANS[1]} for you."
CLOUD_EXPERT = Expert(slug="c", name="Cloud analyst", description="", tier="cloud",
                      system_prompt="Answer briefly.", temperature=0.2, purpose="analyze")


@pytest.fixture
def cloud() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default_reply='{"competitors": ["Globex"]}') as fake:
        yield fake


def router_for(db: Database, cloud: FakeOpenAI, mode: str,
               weak: ScriptedProvider) -> Router:
    return Router(db, providers={
        "embedded": weak,
        "cloud": CloudProvider(api_key="sk-test", base_url=cloud.base_url, timeout=10),
    }, settings=RouterSettings(privacy_mode=mode))


def assert_nothing_private_arrived(cloud: FakeOpenAI) -> None:
    received = cloud.all_raw_text()
    for span in SPANS:
        assert span not in received and span.replace(" ", "") not in received
    assert privacy.scan(cloud.all_text()) == []


@pytest.mark.parametrize("mode", ["keep_local", "redact"])
def test_no_workflow_sends_private_data_to_the_cloud(
    db: Database, cloud: FakeOpenAI, mode: str
) -> None:
    weak = ScriptedProvider(tier="embedded", default_reply=WEAK_ANSWER)
    router = router_for(db, cloud, mode, weak)
    sid = ensure_session(db, None)
    origin = Origin(session_id=sid)

    # The sidebar chat, with an expert that asks for the cloud.
    turn = ChatTurn(db, sid, f"Please email {SPANS[0]} and charge {SPANS[1]}", router=router,
                    expert=CLOUD_EXPERT)
    "".join(turn.stream())

    # Competitive analysis: a business description and a competitor name with private data.
    for call in (
        lambda: analyse_competitor(router, f"Acme ({SPANS[2]})", ["Pricing"],
                                   f"We bill via {SPANS[3]}", origin=origin),
        lambda: suggest_competitors(router, f"Key {SPANS[4]}, contact {SPANS[0]}",
                                    origin=origin),
    ):
        # RouteError: no tier gave valid JSON; still nothing private may have left.
        with contextlib.suppress(RouteError):
            call()

    # A CSV upload (tasks) whose cells hold personal data, then a chat that uses them.
    import_tasks(db, sid, f"title,notes\nCall Ann,{SPANS[0]}\nPay,{SPANS[1]}\n".encode())
    tasks = "; ".join(f"{t.title}: {t.notes}" for t in list_tasks(db, sid))
    "".join(ChatTurn(db, sid, f"Summarise my tasks: {tasks}", router=router,
                     expert=CLOUD_EXPERT).stream())

    # The link graph: URLs that carry an email address, read by the radiologist.
    edges = ("source,target\nhttps://example.com/,https://example.com/team\n"
             f"https://example.com/team,https://example.com/contact?mail={SPANS[0]}\n")
    scan = scan_site(edges.encode())
    summary = scan.signs.summary()
    router.complete(scan_request(summary, distributions(scan.table, ["pagerank"]),
                                 origin=origin))

    assert_nothing_private_arrived(cloud)
    if mode == "keep_local":  # every request held private data: it stayed on this machine
        assert len(weak.requests) >= 5 and not cloud.chat_requests()
    if mode == "redact":
        assert cloud.chat_requests(), "redact mode should still use the cloud, with placeholders"
