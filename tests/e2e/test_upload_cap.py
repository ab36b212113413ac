"""Uploads over Streamlit's own size cap, in a real browser: refused cleanly, nothing lost.

The cap is lowered to 1 MB through the environment (``STREAMLIT_SERVER_MAX_UPLOAD_SIZE``
is the environment form of ``--server.maxUploadSize`` and overrides .streamlit/config.toml),
so a file of about 1.6 MB stands in for one over the shipped 200 MB cap.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from core.tasks import list_tasks
from linkgraph.scan import SAMPLE_EDGES
from store.db import open_database
from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import expect_no_exception
from tests.e2e.test_workflows_journey import open_page

pytestmark = pytest.mark.browser

UPLOADS = Path(__file__).resolve().parents[2] / "data" / "uploads"  # linkgraph/uploads.py
DROPZONES = '[data-testid="stFileUploaderDropzoneInput"]'
TASK_GRID = '[data-testid="stMain"] [data-testid="stDataFrame"]'
# The grid's accessible table (the canvas draws the same cells): column 3 is "Title".
TASK_TITLES = f'{TASK_GRID} td[role="gridcell"][aria-colindex="3"]'
KEPT = "Keep me through the refusal"
OVERSIZE = 1_600_000  # bytes: over 1 MB counted either way (10**6 or 2**20)
# Streamlit 1.67's own wording (static/js/utils.*.js): `File must be ${size} or smaller.`,
# here "File must be 1.0MB or smaller.": a tooltip on the file's chip, and an alert.
REFUSED = re.compile(r"File must be 1(\.0)?\s?MB or smaller\.")


def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ambient.db'}"


@pytest.fixture
def capped_server(tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(database_url(tmp_path), env={"STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "1"})
    yield server
    server.stop()


def oversized_csv(path: Path, header: str, row: str) -> Path:
    """A well-formed CSV of about 1.6 MB: ``row`` is formatted with its number."""
    lines = [header]
    size = len(header) + 1
    n = 0
    while size <= OVERSIZE:
        n += 1
        lines.append(row.format(n=n))
        size += len(lines[-1]) + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > OVERSIZE
    return path


def expect_refused(page: Page, name: str) -> None:
    """Streamlit's own refusal of ``name``: its chip marked invalid, the alert, the tooltip."""
    chip = page.locator('[data-testid="stFileChip"]').filter(has_text=name)
    expect(chip).to_have_attribute("aria-invalid", "true", timeout=30_000)
    expect(chip.locator('[data-testid="stFileChipIconError"]')).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text=REFUSED)).to_have_count(1)
    tooltip = page.get_by_role("tooltip").filter(has_text=REFUSED)
    for attempt in range(5):  # hover, retried: a rerun can redraw the chip under the mouse
        chip.hover()
        try:
            expect(tooltip).to_be_visible(timeout=3_000)
        except AssertionError:
            if attempt == 4:
                raise
            page.mouse.move(0, 0)
            page.wait_for_timeout(500)
        else:
            page.mouse.move(0, 0)
            return


def stored_uploads() -> set[str]:
    return {p.name for p in UPLOADS.iterdir()} if UPLOADS.is_dir() else set()


def test_an_oversized_edge_list_is_refused_and_the_page_still_measures(
    page: Page, capped_server: AppServer, tmp_path: Path
) -> None:
    big = oversized_csv(
        tmp_path / "huge_edges.csv",
        "from,to",
        "https://example.com/page-{n},https://example.com/page-{n}/next",
    )
    kept_as = UPLOADS / f"{hashlib.sha256(big.read_bytes()).hexdigest()[:24]}.edges"
    before = stored_uploads()

    page.goto(capped_server.url)
    open_page(page, "Link graph")
    edges = page.locator(DROPZONES).nth(0)
    edges.set_input_files(str(big))

    expect_refused(page, big.name)
    expect(page.get_by_role("button", name="Measure", exact=True)).to_have_count(0)
    expect_no_exception(page)
    assert stored_uploads() == before
    assert not kept_as.exists()

    # The same page session still takes a file under the cap and measures it.
    edges.set_input_files(str(SAMPLE_EDGES))
    page.get_by_role("button", name="Measure").click()
    expect(page.get_by_text("1. Upload the edge list and metadata · done")).to_be_visible(
        timeout=60_000
    )
    expect_no_exception(page)
    assert not kept_as.exists()
    assert "Traceback" not in capped_server.log()


def test_an_oversized_task_import_is_refused_and_no_task_is_lost(
    page: Page, capped_server: AppServer, tmp_path: Path
) -> None:
    big = oversized_csv(
        tmp_path / "huge_tasks.csv",
        "title,priority,notes",
        "Oversized import task {n},3,this row must never reach the database",
    )

    page.goto(capped_server.url)
    open_page(page, "Tasks")
    page.get_by_label("New task").fill(KEPT)
    page.get_by_role("button", name="Add task").click()
    expect(page.locator(TASK_GRID)).to_be_visible()
    expect(page.locator(TASK_TITLES)).to_have_text([KEPT])
    expect(page).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))
    sid = parse_qs(urlparse(page.url).query)["sid"][0]

    page.locator(DROPZONES).last.set_input_files(str(big))
    expect_refused(page, big.name)
    expect(page.get_by_role("button", name="Import", exact=True)).to_have_count(0)
    expect_no_exception(page)

    # Nothing added, nothing lost: the database and the page both hold the one task.
    db = open_database(database_url(tmp_path))
    try:
        assert [t.title for t in list_tasks(db, sid)] == [KEPT]
    finally:
        db.dispose()
    expect(page.locator(TASK_TITLES)).to_have_text([KEPT])
    expect_refused(page, big.name)
    expect_no_exception(page)
    assert "Traceback" not in capped_server.log()
