from __future__ import annotations

import pytest

from assistant.actions import Proposal, validate
from assistant.intents import rule_proposals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My name is Ann.", [("remember_fact", {"key": "name", "value": "Ann"})]),
        ("hi, call me bob.", [("remember_fact", {"key": "name", "value": "Bob"})]),
        ("My name is Ann Lee and my favourite colour is green!", [
            ("remember_fact", {"key": "name", "value": "Ann Lee"}),
            ("remember_fact", {"key": "favourite_colour", "value": "green"}),
        ]),
        ("my favorite color is dark blue", [
            ("remember_fact", {"key": "favourite_colour", "value": "dark blue"}),
        ]),
        ("Please remember that my team is Growth.", [
            ("remember_fact", {"key": "team", "value": "Growth"}),
        ]),
        ("forget my team", [("forget_fact", {"key": "team"})]),
        ("add a task to call Acme", [("add_task", {"title": "Call Acme"})]),
        ("Please add a new task: review the Q3 report.", [
            ("add_task", {"title": "Review the Q3 report"}),
        ]),
        ("What is PageRank?", []),
        ("How do I add a task?", []),
        ("The customer's name is Acme", []),
        ("I am tired", []),
    ],
)
def test_plain_statements_become_validated_proposals(text: str, expected: list) -> None:
    found = rule_proposals(text)
    assert [(p.name, p.args) for p in found] == expected
    for proposal in found:
        assert isinstance(validate(proposal.to_dict()), Proposal)
