"""``python -m bench pages`` on a small data set, inside the test suite: Chromium visits
every page by the sidebar and by a reload, and each visit gets a time until settled."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import pages
from components.navigation import page_titles

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_every_page_is_timed_by_the_sidebar_and_by_a_reload() -> None:
    if not Path(pages.CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {pages.CHROMIUM}")
    section = pages.run(passes=1, rows=200, messages=20, events=50)
    by_page = {row[0]: row[1:] for row in section.rows}
    assert set(by_page) == {*page_titles(), "**every page**"}
    for title, figures in by_page.items():
        assert all(isinstance(ms, int) and 0 < ms < pages.SETTLE_TIMEOUT_MS
                   for ms in figures), (title, figures)
    assert "goal ≤ 300 ms" in section.notes[-1] and "goal ≤ 1000 ms" in section.notes[-1]
    assert "| Costs |" in section.markdown()


def test_p95_is_the_nearest_rank() -> None:
    assert pages.p95([5.0]) == 5.0
    assert pages.p95([float(n) for n in range(1, 21)]) == 19.0
    assert pages.p95([float(n) for n in range(1, 101)]) == 95.0
