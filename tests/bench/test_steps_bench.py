"""The graders of ``python -m bench steps``: rules that tell a useful step output from a
useless one without a model."""

from __future__ import annotations

from bench.steps import (
    SUGGEST_CASES,
    grade_analysis,
    grade_commentary,
    grade_greeting,
    grade_suggestions,
)

ACCOUNTING = SUGGEST_CASES[0][1]


def test_suggestions_pass_only_with_real_names_outnumbering_made_up_ones() -> None:
    assert grade_suggestions(["QuickBooks Online", "xero", "Sage"], ACCOUNTING)[0]
    assert grade_suggestions(["Xero", "FreshBooks", "Bakery Books Pro"], ACCOUNTING)[0]
    assert not grade_suggestions(["Xero"], ACCOUNTING)[0]  # one real name is not enough
    assert not grade_suggestions(["Xero", "Sage", "Foo", "Bar", "Baz"], ACCOUNTING)[0]
    assert not grade_suggestions([], ACCOUNTING)[0]
    passed, detail = grade_suggestions(["Acme Ledger", "Numbers Inc"], ACCOUNTING)
    assert not passed and detail.startswith("0 real of 2 kept")


def test_an_analysis_passes_when_on_topic_with_distinct_points() -> None:
    good = {"position": "Slack leads on product features for large teams.",
            "strengths": ["integrations"], "weaknesses": ["price per seat"],
            "opportunities": ["small teams"], "confidence": "medium"}
    assert grade_analysis(good, True, "Slack", ("Pricing", "Product features"))[0]
    assert not grade_analysis(good, False, "Slack", ("Pricing",))[0]  # rejected by the router
    off_topic = good | {"position": "A company that exists."}
    assert not grade_analysis(off_topic, True, "Slack", ("Pricing",))[0]
    same = good | {"weaknesses": ["integrations"]}
    assert not grade_analysis(same, True, "Slack", ("Pricing",))[0]
    unknown = dict.fromkeys(good, "unknown") | {"position": "Slack: unknown",
                                                "strengths": ["unknown"], "weaknesses": []}
    assert not grade_analysis(unknown, True, "Slack", ("Pricing",))[0]


def test_commentary_must_be_kept_and_cite_the_scans_real_figures() -> None:
    summary = {"nodes": 300, "edges": 3426, "max_click_depth": 5,
               "orphans": {"count": 9}, "dead_ends": {"count": 15},
               "unreachable_from_start": {"count": 0}, "components": {"count": 1}}
    assert grade_commentary("Of 300 pages, 9 are orphans; fix them.", "", summary)[0]
    assert grade_commentary("3,426 links and 15 dead ends.", "", summary)[0]
    assert not grade_commentary("300 pages.", "", summary)[0]  # one figure only
    assert not grade_commentary("1300 pages and 90 orphans.", "", summary)[0]  # not the figures
    assert not grade_commentary("300 pages, 9 orphans", "empty answer", summary)[0]


def test_a_greeting_says_the_name_in_at_most_three_sentences() -> None:
    assert grade_greeting("Welcome, Ada! Lovely to meet you.", True, "Ada")[0]
    assert not grade_greeting("Welcome! Lovely to meet you.", True, "Ada")[0]
    assert not grade_greeting("Hi Ada. One. Two. Three.", True, "Ada")[0]
    assert not grade_greeting("Hi Ada.", False, "Ada")[0]
