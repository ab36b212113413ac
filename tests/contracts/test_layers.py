"""The import contract in pyproject.toml is live: the tree keeps it, and a planted upward
import or a Streamlit import below components breaks it.

Each check runs ``lint-imports`` (import-linter) on a copy of the tree, so planting a
violation never touches the working tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pages", "components", "assistant", "workflows", "linkgraph", "core", "llm",
            "store", "standins", "bench")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(binary), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "ambient"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.md", "*.mako"))
    return copy


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("where", "line", "broken"), [
    ("store/_planted.py", "import llm.router\n", "store is not allowed to import llm"),
    ("llm/_planted.py", "from core import tasks\n", "llm is not allowed to import core"),
    ("core/_planted.py", "import workflows.jobs\n", "core is not allowed to import workflows"),
    ("components/_planted.py", "import pages\n", "components is not allowed to import pages"),
    ("assistant/_planted.py", "import linkgraph.scan\n", "not allowed to import linkgraph"),
    ("core/_planted.py", "import streamlit as st\n", "core is not allowed to import streamlit"),
    ("llm/_planted.py", "from standins import sitegen\n", "llm is not allowed to import standins"),
])
def test_a_planted_violation_breaks_the_contract(tree: Path, where: str, line: str,
                                                 broken: str) -> None:
    (tree / where).write_text(line)
    result = lint_imports(tree)
    assert result.returncode != 0
    assert broken in result.stdout


def test_pages_are_layout_every_one_under_200_lines() -> None:
    lengths = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "pages").glob("*.py")}
    assert max(lengths.values()) < 200, lengths
