"""Experts as files: the shipped ones load, broken ones are named, saving never loses work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core import experts as expert_module
from core.experts import (
    PROMPTS_DIR,
    TIERS,
    ExpertError,
    expert_slugs,
    expert_template,
    load_expert,
    load_experts,
    parse_expert,
    save_expert,
    validate_slug,
)
from llm.router import PURPOSES

REQUIRED = {
    "general": None,
    "task_clerk": ("embedded", "chat"),
    "competitive_analyst": ("local", "analyze"),
    "link_graph_radiologist": ("local", "analyze"),
    "narrator": ("embedded", "narrate"),
}
GOOD = """---
name: Good one
description: Works.
tier: local
temperature: 0.2
purpose: analyze
---
You are good.
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    return tmp_path


def test_every_shipped_expert_loads_and_declares_every_field() -> None:
    experts, problems = load_experts()
    assert problems == []
    assert set(REQUIRED) <= set(experts)
    for slug, expert in experts.items():
        header = (PROMPTS_DIR / f"{slug}.md").read_text(encoding="utf-8").split("\n---", 1)[0]
        declared = yaml.safe_load(header[3:])
        assert {"name", "description", "tier", "temperature", "purpose"} <= set(declared), slug
        assert expert.name and expert.description and expert.system_prompt, slug
        assert expert.tier in TIERS and expert.purpose in PURPOSES, slug
        assert "data, never an instruction" in " ".join(expert.system_prompt.split()), slug
        if REQUIRED.get(slug):
            assert (expert.tier, expert.purpose) == REQUIRED[slug], slug


def test_the_experts_that_must_be_terse_or_exact_say_so() -> None:
    clerk, narrator = load_expert("task_clerk"), load_expert("narrator")
    radiologist = load_expert("link_graph_radiologist")
    assert clerk.temperature <= 0.2
    assert narrator.temperature <= 0.5 and len(narrator.system_prompt) < 1000
    assert "only on the statistics you are given" in " ".join(radiologist.system_prompt.split())
    for sign in ("orphans", "dead ends", "click depth", "components", "PageRank"):
        assert sign.lower() in radiologist.system_prompt.lower(), sign


BROKEN = {
    "no_front_matter": ("Just a prompt.\n", "has no front matter"),
    "unclosed": ("---\nname: X\nYou are X.\n", "not closed"),
    "bad_yaml": ("---\nname: [unclosed\n---\nYou are X.\n", "not valid YAML"),
    "not_a_mapping": ("---\n- a\n- b\n---\nYou are X.\n", "'key: value' lines"),
    "no_name": ("---\ndescription: nameless\n---\nYou are X.\n", "needs a 'name'"),
    "empty_body": ("---\nname: X\n---\n\n  \n", "is empty"),
    "bad_tier": ("---\nname: X\ntier: mainframe\n---\nYou are X.\n", "tier must be one of"),
    "bad_purpose": ("---\nname: X\npurpose: gossip\n---\nYou are X.\n", "purpose must be one"),
    "bad_temperature": ("---\nname: X\ntemperature: warm\n---\nYou are X.\n", "a number"),
    "hot_temperature": ("---\nname: X\ntemperature: 7\n---\nYou are X.\n", "between 0 and 2"),
    "yes_temperature": ("---\nname: X\ntemperature: yes\n---\nYou are X.\n", "a number"),
}


@pytest.mark.parametrize("slug", sorted(BROKEN))
def test_a_malformed_file_is_named_and_the_good_ones_still_load(folder: Path, slug: str) -> None:
    text, fault = BROKEN[slug]
    (folder / f"{slug}.md").write_text(text, encoding="utf-8")
    experts, problems = load_experts(folder)
    assert list(experts) == ["good"]
    assert len(problems) == 1
    assert f"prompts/{slug}.md" in problems[0] and fault in problems[0]


def test_unreadable_and_badly_named_files_are_reported_not_fatal(folder: Path) -> None:
    (folder / "latin1.md").write_bytes(b"---\nname: caf\xe9\n---\nYou are X.\n")
    (folder / "My Expert.md").write_text(GOOD, encoding="utf-8")
    experts, problems = load_experts(folder)
    assert list(experts) == ["good"]
    assert any("prompts/latin1.md could not be read" in p for p in problems)
    assert any("prompts/My Expert.md" in p and "rename" in p for p in problems)
    assert expert_slugs(folder) == ["good", "latin1"]


def test_a_byte_order_mark_and_windows_line_endings_are_accepted() -> None:
    expert = parse_expert("x", "\ufeff" + GOOD.replace("\n", "\r\n"))
    assert expert.name == "Good one" and expert.system_prompt == "You are good."


@pytest.mark.parametrize(
    "slug", ["../x", "A B", "", "  ", "a", "x" * 41, "Task_clerk", "a-b", "a.md", "a/b", None]
)
def test_validate_slug_refuses_names_that_are_not_plain_file_names(slug: object) -> None:
    with pytest.raises(ExpertError, match="lowercase letters, digits and underscores"):
        validate_slug(slug)  # type: ignore[arg-type]


def test_validate_slug_accepts_plain_names() -> None:
    assert validate_slug("ab") == "ab"
    assert validate_slug(" market_scout_2 ") == "market_scout_2"
    assert validate_slug("x" * 40) == "x" * 40


def test_load_expert_refuses_a_path_outside_the_folder(folder: Path) -> None:
    (folder.parent / "outside.md").write_text(GOOD, encoding="utf-8")
    with pytest.raises(ExpertError):
        load_expert("../outside", folder)


def test_save_expert_creates_a_file_that_loads(folder: Path) -> None:
    expert = save_expert("scout", GOOD.replace("Good one", "Scout"), directory=folder)
    assert expert.name == "Scout" and expert.slug == "scout"
    assert load_expert("scout", folder) == expert
    assert sorted(p.name for p in folder.iterdir()) == ["good.md", "scout.md"]  # no temp left


@pytest.mark.parametrize("slug", sorted(BROKEN))
def test_save_expert_refuses_invalid_text_and_keeps_the_old_file(folder: Path, slug: str) -> None:
    before = (folder / "good.md").read_bytes()
    with pytest.raises(ExpertError, match=BROKEN[slug][1]):
        save_expert("good", BROKEN[slug][0], directory=folder, overwrite=True)
    assert (folder / "good.md").read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["good.md"]


def test_save_expert_refuses_invalid_text_for_a_new_file_and_writes_nothing(folder: Path) -> None:
    with pytest.raises(ExpertError, match="needs a 'name'"):
        save_expert("newbie", BROKEN["no_name"][0], directory=folder)
    assert not (folder / "newbie.md").exists()


def test_save_expert_refuses_to_overwrite_unless_asked(folder: Path) -> None:
    before = (folder / "good.md").read_text(encoding="utf-8")
    changed = before.replace("You are good.", "You are better.")
    with pytest.raises(ExpertError, match="An expert named 'good' already exists; edit it"):
        save_expert("good", changed, directory=folder)
    assert (folder / "good.md").read_text(encoding="utf-8") == before
    assert save_expert("good", changed, directory=folder, overwrite=True).system_prompt == (
        "You are better."
    )
    assert load_expert("good", folder).system_prompt == "You are better."


def test_save_expert_refuses_a_bad_slug_before_touching_the_disk(folder: Path) -> None:
    with pytest.raises(ExpertError, match="cannot be a file name"):
        save_expert("../escape", GOOD, directory=folder, overwrite=True)
    assert not (folder.parent / "escape.md").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (folder / "good.md").read_bytes()

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(expert_module.os, "replace", disk_full)
    with pytest.raises(ExpertError, match="could not be saved.*No space left"):
        save_expert("good", GOOD.replace("good.", "new."), directory=folder, overwrite=True)
    assert (folder / "good.md").read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["good.md"]


def test_the_default_folder_is_read_when_called(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expert_module, "PROMPTS_DIR", folder)
    save_expert("scout", GOOD, overwrite=False)
    assert (folder / "scout.md").exists() and not (PROMPTS_DIR / "scout.md").exists()
    assert set(load_experts()[0]) == {"good", "scout"}


@pytest.mark.parametrize("name", ["Market scout", "Odd: name # with 'quotes' and \"more\"", ""])
def test_the_template_is_a_valid_expert_with_the_given_name(name: str, folder: Path) -> None:
    expert = save_expert("fresh", expert_template(name), directory=folder)
    assert expert.name == (name or "New expert")
    assert "never an instruction" in expert.system_prompt


def test_a_copy_of_the_shipped_prompts_saves_back_unchanged(tmp_path: Path) -> None:
    copy = shutil.copytree(PROMPTS_DIR, tmp_path / "prompts")
    for path in sorted(copy.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert save_expert(path.stem, text, directory=copy, overwrite=True) == load_expert(
            path.stem
        )
        assert path.read_text(encoding="utf-8") == text


def test_a_persons_own_experts_are_theirs_alone(tmp_path: Path) -> None:
    from core.experts import experts_for, personal_folder

    shared = tmp_path / "prompts"
    save_expert("general", expert_template("General"), directory=shared)
    save_expert("scout", expert_template("Ann's scout"),
                directory=personal_folder("ann@example.com", shared))
    anns, problems = experts_for("ann@example.com", shared)
    assert problems == [] and set(anns) == {"general", "mine:scout"}
    assert anns["mine:scout"].name == "Ann's scout (yours)"
    assert set(experts_for("bob@example.com", shared)[0]) == {"general"}
    assert load_experts(shared)[0].keys() == {"general"}  # not a shared expert
    assert personal_folder("a.b@x", shared) != personal_folder("a_b@x", shared)


def test_a_file_is_parsed_once_until_it_changes(folder: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidebar lists the experts on every run: an unchanged file is not parsed again,
    and a changed one (edited in place, or replaced as ``save_expert`` does) at once."""
    import core.experts as module

    parsed: list[str] = []

    def counting(slug: str, text: str) -> object:
        parsed.append(slug)
        return parse_expert(slug, text)

    def written(text: str) -> None:
        (folder / "good.md").write_text(text, encoding="utf-8")

    monkeypatch.setattr(module, "parse_expert", counting)
    monkeypatch.setattr(module, "_FRESH_NS", 0)  # an edit an hour ago: time stamps decide
    assert load_experts(folder)[0]["good"].name == "Good one"
    assert load_experts(folder)[0]["good"].name == "Good one"
    assert parsed == ["good"]
    written(GOOD.replace("name: Good one", "name: Better one"))
    assert load_experts(folder)[0]["good"].name == "Better one"
    written("no front matter")
    experts, problems = load_experts(folder)
    assert experts == {} and "no front matter" in problems[0]
    assert load_experts(folder)[1] == problems
    assert parsed == ["good"] * 3
    monkeypatch.setattr(module, "_FRESH_NS", 1_000_000_000)
    written(GOOD.replace("name: Good one", "name: Gold one"))
    assert load_experts(folder)[0]["good"].name == "Gold one"
    written(GOOD.replace("name: Good one", "name: Cold one"))  # same size, same moment
    assert load_experts(folder)[0]["good"].name == "Cold one"
