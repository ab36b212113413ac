"""The Experts page through Streamlit's AppTest, on a copy of prompts/ in a temporary folder.

The page reads ``core.experts.PROMPTS_DIR`` when it runs, so pointing that attribute at the
copy keeps every test away from the real prompts/ folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import experts as expert_module
from core.events import recent_events
from store.db import get_database
from tests.conftest import ROOT

REAL_PROMPTS = ROOT / "prompts"


@pytest.fixture
def prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    before = {p.name: p.read_bytes() for p in REAL_PROMPTS.iterdir()}
    copy = shutil.copytree(REAL_PROMPTS, tmp_path / "prompts")
    monkeypatch.setattr(expert_module, "PROMPTS_DIR", copy)
    yield copy
    assert {p.name: p.read_bytes() for p in REAL_PROMPTS.iterdir()} == before


def prompt_shown(at) -> str:  # noqa: ANN001
    """The expert's system prompt as the page shows it: plain text in a box."""
    assert not at.code  # a highlighted code block cost the browser ~0.4 s per visit
    return at.text[0].value


def open_page(app_env: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "experts.py"), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def events(at: AppTest) -> list[tuple[str, str]]:
    return [(e.kind, e.summary) for e in recent_events(get_database(), at.session_state.session_id)]


def press(at: AppTest, label: str) -> AppTest:
    """Click the form button with this label and run the page again."""
    return next(b for b in at.button if b.label == label).click().run()


def test_the_page_lists_the_experts_and_previews_the_general_one(
    app_env: str, prompts: Path
) -> None:
    at = open_page(app_env)
    assert at.title[0].value == "Experts"
    assert "system prompt" in at.caption[0].value
    assert not at.warning
    picker = at.selectbox(key="expert_pick")
    assert picker.value == "general"
    assert {
        "General assistant",
        "Task clerk",
        "Competitive analyst",
        "Narrator",
        "Link-graph radiologist",
    } <= set(picker.options)
    assert "A friendly helper" in at.markdown[0].value
    assert "tier embedded" in at.caption[1].value and "purpose chat" in at.caption[1].value
    assert prompt_shown(at).startswith("You are Ambient's assistant")
    general = (prompts / "general.md").read_text(encoding="utf-8")
    assert at.text_area(key="expert_text_general").value == general


def test_picking_another_expert_shows_its_preview_and_file(app_env: str, prompts: Path) -> None:
    at = open_page(app_env)
    at.selectbox(key="expert_pick").set_value("link_graph_radiologist").run()
    assert not at.exception
    assert "tier local" in at.caption[1].value and "purpose analyze" in at.caption[1].value
    assert "orphans" in prompt_shown(at)
    assert at.text_area(key="expert_text_link_graph_radiologist").value.startswith("---\nname:")


def test_a_broken_file_is_named_in_a_warning_and_can_be_fixed_here(
    app_env: str, prompts: Path
) -> None:
    (prompts / "broken.md").write_text("---\nname: Broken\ntier: mainframe\n---\nHi.\n")
    at = open_page(app_env)
    assert [w.value for w in at.warning] == [
        "prompts/broken.md: tier must be one of embedded, local, cloud, not 'mainframe'."
    ]
    picker = at.selectbox(key="expert_pick")
    assert "General assistant" in picker.options and "broken.md (cannot be loaded)" in (
        picker.options
    )
    picker.set_value("broken").run()
    at.text_area(key="expert_text_broken").set_value("---\nname: Fixed\ntier: local\n---\nHi.\n")
    press(at, "Save")
    assert not at.exception and not at.warning
    assert at.success[0].value == "Saved Fixed (broken.md)."
    assert "Fixed" in at.selectbox(key="expert_pick").options


def test_an_invalid_edit_is_refused_and_nothing_is_lost(app_env: str, prompts: Path) -> None:
    before = (prompts / "general.md").read_bytes()
    at = open_page(app_env)
    typed = "---\nname: General assistant\ntemperature: hot\n---\nMy careful new prompt.\n"
    at.text_area(key="expert_text_general").set_value(typed)
    press(at, "Save")
    assert not at.exception
    assert [e.value for e in at.error] == ["prompts/general.md: temperature must be a number."]
    assert not at.success
    assert (prompts / "general.md").read_bytes() == before
    assert at.text_area(key="expert_text_general").value == typed
    assert prompt_shown(at).startswith("You are Ambient's assistant")
    assert events(at) == [
        (
            "error_shown",
            "Could not save the expert general: prompts/general.md: temperature must be a number.",
        )
    ]


def test_a_valid_edit_is_saved_and_the_preview_follows(app_env: str, prompts: Path) -> None:
    at = open_page(app_env)
    text = at.text_area(key="expert_text_general").value
    at.text_area(key="expert_text_general").set_value(
        text.replace("tier: embedded", "tier: cloud").replace("Answer briefly", "Answer gently")
    )
    press(at, "Save")
    assert not at.exception and not at.error
    assert at.success[0].value == "Saved General assistant (general.md)."
    assert "tier cloud" in at.caption[1].value and "Answer gently" in prompt_shown(at)
    saved = expert_module.load_expert("general", prompts)
    assert saved.tier == "cloud" and "Answer gently" in saved.system_prompt
    assert events(at) == [("form_submitted", "Saved the expert General assistant")]


def test_creating_an_expert_writes_the_file_and_selects_it(app_env: str, prompts: Path) -> None:
    at = open_page(app_env)
    template = at.text_area(key="expert_new_text").value
    assert template.startswith("---\nname: My expert\n")
    at.text_input(key="expert_new_slug").set_value("market_scout")
    at.text_area(key="expert_new_text").set_value(template.replace("My expert", "Market scout"))
    press(at, "Create")
    assert not at.exception and not at.error and not at.warning
    assert at.success[0].value == "Saved Market scout (market_scout.md)."
    assert expert_module.load_expert("market_scout", prompts).name == "Market scout"
    assert at.selectbox(key="expert_pick").value == "market_scout"
    assert at.markdown[0].value.startswith("**Market scout**")
    assert at.text_input(key="expert_new_slug").value == ""  # the form is ready for the next one
    assert events(at) == [("form_submitted", "Saved the expert Market scout")]
    at.run()  # a plain page script does run again on a second run()
    assert not at.success and at.selectbox(key="expert_pick").value == "market_scout"


@pytest.mark.parametrize(
    ("slug", "fault"),
    [
        ("general", "An expert named 'general' already exists; edit it instead."),
        ("../escape", "'../escape' cannot be a file name"),
        ("", "Give the expert a file name"),
    ],
)
def test_creating_is_refused_for_a_taken_or_unsafe_name(
    app_env: str, prompts: Path, slug: str, fault: str
) -> None:
    before = sorted((p.name, p.read_bytes()) for p in prompts.iterdir())
    at = open_page(app_env)
    typed = at.text_area(key="expert_new_text").value.replace("My expert", "Mine")
    at.text_input(key="expert_new_slug").set_value(slug)
    at.text_area(key="expert_new_text").set_value(typed)
    press(at, "Create")
    assert not at.exception and not at.success
    assert fault in at.error[0].value
    assert sorted((p.name, p.read_bytes()) for p in prompts.iterdir()) == before
    assert not (prompts.parent / "escape.md").exists()
    assert at.text_area(key="expert_new_text").value == typed
    assert events(at)[0][0] == "error_shown"


def test_an_empty_folder_says_how_to_start(
    app_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setattr(expert_module, "PROMPTS_DIR", empty)
    at = open_page(app_env)
    assert "no experts yet" in at.info[0].value
    assert [b.label for b in at.button] == ["Create"]
