"""``python -m bench pages`` on a small data set, inside the test suite: Chromium visits
every page by the sidebar and by a reload, and each visit gets a time until settled; a bare
Streamlit app is timed the same way as the floor row."""

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
    assert set(by_page) == {*page_titles(), "**every page**", pages.FLOOR_ROW}
    floor = by_page[pages.FLOOR_ROW]
    for title, figures in by_page.items():
        times, above = figures[:4], figures[4:]
        assert all(isinstance(ms, int) and 0 < ms < pages.SETTLE_TIMEOUT_MS
                   for ms in times), (title, figures)
        # Above the floor: this row's medians minus the bare app's (rounding aside).
        assert abs(above[0] - (times[0] - floor[0])) <= 1, (title, figures)
        assert abs(above[1] - (times[2] - floor[2])) <= 1, (title, figures)
    assert floor[4:] == [0, 0]
    assert "goal ≤ 300 ms" in section.notes[-1] and "goal ≤ 1000 ms" in section.notes[-1]
    assert any(note.startswith("Load average") for note in section.notes)
    assert any(note.startswith(pages.FLOOR_ROW) for note in section.notes)
    markdown = section.markdown()
    assert "| Costs |" in markdown and f"| {pages.FLOOR_ROW} |" in markdown


def test_the_floor_app_has_three_titled_pages_a_sidebar_chat_and_the_apps_settings(
        tmp_path: Path) -> None:
    routes = pages.write_floor_app(tmp_path)
    assert routes == [("Alpha", ""), ("Beta", "beta"), ("Gamma", "gamma")]
    home = (tmp_path / "Home.py").read_text()
    assert "st.navigation(" in home and "st.chat_input(" in home
    for title, _ in routes:
        assert f'st.title("{title}")' in (tmp_path / "pages" / f"{title.lower()}.py").read_text()
    assert ((tmp_path / ".streamlit" / "config.toml").read_text()
            == (pages.ROOT / ".streamlit" / "config.toml").read_text())


def test_p95_is_the_nearest_rank() -> None:
    assert pages.p95([5.0]) == 5.0
    assert pages.p95([float(n) for n in range(1, 21)]) == 19.0
    assert pages.p95([float(n) for n in range(1, 101)]) == 95.0
