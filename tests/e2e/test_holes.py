"""The holes a tester found from the outside, closed, in a real browser: a planted or leaked
``?sid=``, a bookmarked page opened first after a restart, and a database that can no
longer be written."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer
from tests.e2e.test_chat_journey import download

pytestmark = pytest.mark.browser

SIDEBAR = '[data-testid="stSidebar"]'
CHAT_INPUT = f'{SIDEBAR} [data-testid="stChatInputTextArea"]'
MESSAGES = f'{SIDEBAR} [data-testid="stChatMessage"]'
NAV = '[data-testid="stSidebarNav"]'
SID = re.compile(r"[?&]sid=([0-9a-f]{32})")
STARTED = 120_000  # ms: a fresh server imports everything on its first run


def sid_of(page: Page) -> str:
    found = SID.search(page.url)
    assert found, page.url
    return found[1]


def chat(page: Page, text: str) -> None:
    page.locator(CHAT_INPUT).fill(text)
    page.locator(CHAT_INPUT).press("Enter")
    reply = page.locator(MESSAGES).last.get_by_text(re.compile("embedded · SmolLM2"))
    expect(reply).to_be_visible(timeout=120_000)


def test_a_planted_sid_is_not_adopted_and_a_real_one_never_shows_in_the_ledger(
    browser, app_server: AppServer  # noqa: ANN001
) -> None:
    owner = browser.new_context(viewport={"width": 1400, "height": 900})
    visitor = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        mine = owner.new_page()
        mine.goto(app_server.url)
        expect(mine).to_have_url(SID, timeout=STARTED)
        chat(mine, "My secret plan is to open a bakery.")
        real_sid = sid_of(mine)

        # A link that plants a made-up id: a new session, and the page says so.
        planted = "0123456789abcdef0123456789abcdef"
        theirs = visitor.new_page()
        theirs.goto(f"{app_server.url}/?sid={planted}")
        expect(theirs.get_by_text("not found on this server")).to_be_visible(timeout=STARTED)
        expect(theirs).to_have_url(SID)
        assert sid_of(theirs) != planted

        # The owner's id appears nowhere on the Costs page or in its export.
        theirs.locator(NAV).get_by_text("Costs").click()
        expect(theirs.get_by_role("heading", name="Costs")).to_be_visible()
        export = theirs.get_by_role("button", name=re.compile("Export the filtered ledger"))
        expect(export).to_be_visible(timeout=STARTED)
        assert real_sid not in theirs.content()  # the table itself is a canvas: see the CSV
        exported = Path(download(theirs, export).path()).read_text(encoding="utf-8-sig")
        assert real_sid not in exported and "S-" in exported
    finally:
        owner.close()
        visitor.close()


def test_a_bookmarked_page_opened_first_after_a_restart_has_the_chat_and_the_menu(
    browser, tmp_path: Path  # noqa: ANN001
) -> None:
    url = f"sqlite:///{tmp_path / 'ambient.db'}"
    first = AppServer(url)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(first.url)
        expect(page).to_have_url(SID, timeout=STARTED)
        sid = sid_of(page)
    finally:
        first.stop()
    restarted = AppServer(url)
    try:
        page.goto(f"{restarted.url}/long_job?sid={sid}")  # the very first request
        expect(page.get_by_role("heading", name="Long job")).to_be_visible(timeout=STARTED)
        expect(page.locator(CHAT_INPUT)).to_be_visible()
        nav = page.locator(NAV)
        expect(nav.get_by_text("Long job", exact=True)).to_be_visible()
        expect(nav.get_by_text("Competitive analysis", exact=True)).to_be_visible()
        expect(nav.get_by_text("long job", exact=True)).to_have_count(0)
        assert sid_of(page) == sid
    finally:
        context.close()
        restarted.stop()


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MB file system (tmpfs) to fill up; needs root, as CI has."""
    volume = tmp_path / "volume"
    volume.mkdir()
    if os.geteuid() != 0:
        pytest.skip("Mounting a small file system needs root (CI runs as root).")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(volume)],
                   check=True)
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)


def fill(volume: Path) -> None:
    """Write until the disk is full, as a log or a download would."""
    with (volume / "filler").open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_full_disk_makes_the_app_read_only_with_one_banner_and_nothing_half_saved(
    page: Page, small_volume: Path
) -> None:
    path = small_volume / "ambient.db"
    url = f"sqlite:///{path}"
    server = AppServer(url)
    try:
        page.goto(server.url)
        expect(page).to_have_url(SID, timeout=STARTED)
        sid = sid_of(page)
        chat(page, "Remember that I like green.")
        fill(small_volume)
        page.reload()
        banner = page.get_by_text("cannot write to it")
        expect(banner).to_be_visible()
        expect(banner).to_have_count(1)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(page.get_by_text("Traceback")).to_have_count(0)
        assert str(small_volume) not in page.content()
        # Reading still works: the conversation is there.
        expect(page.locator(MESSAGES).first).to_contain_text("Remember that I like green.")
        page.goto(f"{server.url}/tasks?sid={sid}")
        expect(page.get_by_role("heading", name="Tasks")).to_be_visible()
        expect(page.get_by_text("cannot write to it")).to_have_count(1)
        # A message sent now is refused with a sentence and shown back, not lost silently.
        page.locator(CHAT_INPUT).fill("Is anyone there?")
        page.locator(CHAT_INPUT).press("Enter")
        expect(page.locator(SIDEBAR).get_by_text("not sent")).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        server.stop()
    (small_volume / "filler").unlink()
    with sqlite3.connect(path) as db:  # nothing half-saved, and what was saved is there
        contents = [row[0] for row in db.execute("SELECT content FROM messages")]
    assert "Remember that I like green." in contents and "Is anyone there?" not in contents
