"""Team mode in a real browser (issue #16): Streamlit's own st.login against a real
OpenID Connect provider on loopback (oidc-provider-mock), two people in two browser
contexts. Neither sees the other's conversation, tasks, jobs or costs, even with the
other's ?sid=; signing out and in again finds your own conversation; the admin's budget
change is audited, and the member gets no widget to change it."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ARTIFACTS, AppServer, free_port
from tests.e2e.test_chat_journey import (
    MESSAGES,
    SIDEBAR,
    confirmation,
    expect_no_exception,
    send,
)
from tests.e2e.test_workflows_journey import MAIN, listed_options, open_page, set_number

pytestmark = pytest.mark.browser

ANN, BOB = "ann@example.com", "bob@example.com"


@pytest.fixture
def oidc_provider() -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1, stopped when the test ends."""
    from oidc_provider_mock import app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def team_server(tmp_path: Path, oidc_provider: str) -> Iterator[AppServer]:
    port = free_port()
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "ambient-team-test"\n'
        f'client_secret = "{secrets.token_hex(16)}"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
    )
    server = AppServer(
        f"sqlite:///{tmp_path / 'ambient.db'}",
        env={"AMBIENT_AUTH": "oidc", "AMBIENT_ADMINS": ANN, "AMBIENT_ALLOW_CLOUD": "0"},
        port=port, args=["--secrets.files", str(secrets_file)],
    )
    yield server
    server.stop()


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


def sign_in(page: Page, app: AppServer, email: str) -> None:
    page.goto(app.url)
    expect(page.get_by_role("heading", name="Sign in to Ambient")).to_be_visible()
    expect(page.locator(SIDEBAR).get_by_text("Assistant")).to_have_count(0)  # nothing else
    page.get_by_role("button", name="Sign in").click()
    page.locator('input[name="sub"]').fill(email)  # the provider's own sign-in form
    page.get_by_role("button", name="Authorize").click()
    expect(page.locator(SIDEBAR).get_by_text(re.compile(f"Signed in as {email}"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))


def sid_of(page: Page) -> str:
    found = re.search(r"[?&]sid=([0-9a-f]{32})", page.url)
    assert found
    return found.group(1)


def test_two_people_sign_in_and_never_see_each_others_work(
    browser: Browser, team_server: AppServer
) -> None:
    ann, bob = new_page(browser), new_page(browser)
    try:
        sign_in(ann, team_server, ANN)
        expect(ann.locator(SIDEBAR).get_by_text(re.compile(r"\(admin\)"))).to_be_visible()
        send(ann, "add a task to call Acme")
        expect(confirmation(ann, 1, "Added the task 'Call Acme'")).to_be_visible(
            timeout=120_000)
        send(ann, "Write one short sentence about pineapples.")
        expect(ann.locator(MESSAGES).nth(3).get_by_text(re.compile("embedded · SmolLM2"))
               ).to_be_visible(
            timeout=180_000)  # answered by a model, so it is in the ledger
        open_page(ann, "Long job")
        set_number(ann, "Items", "2")
        set_number(ann, "Seconds per item", "0.1")
        ann.get_by_role("button", name=re.compile("Start")).click()
        expect(ann.locator(MAIN).get_by_text("Finished: 2 of 2 items done.")).to_be_visible()
        ann_sid = sid_of(ann)

        sign_in(bob, team_server, BOB)
        expect(bob.locator(SIDEBAR).get_by_text(re.compile(r"\(member\)"))).to_be_visible()
        # Ann's link: Bob is told, and gets a session of his own with nothing of hers.
        bob.goto(f"{team_server.url}/?sid={ann_sid}")
        expect(bob.locator(SIDEBAR).get_by_text(
            re.compile("That link belongs to someone else's session"))).to_be_visible()
        expect(bob).to_have_url(re.compile(r"[?&]sid=[0-9a-f]{32}"))
        assert sid_of(bob) != ann_sid
        expect(bob.locator(MESSAGES)).to_have_count(0)
        expect(bob.get_by_text("pineapples")).to_have_count(0)
        assert not any("Acme" in o for o in listed_options_in_conversations(bob))
        open_page(bob, "Tasks")
        expect(bob.locator(MAIN).get_by_text("No tasks yet.")).to_be_visible()
        open_page(bob, "Long job")
        expect(bob.get_by_role("button", name=re.compile("Start"))).to_be_enabled()
        expect(bob.locator(MAIN).get_by_text(re.compile(r"of 2 items"))).to_have_count(0)
        open_page(bob, "Costs")
        expect(bob.locator(MAIN).get_by_text(re.compile("No LLM calls yet"))).to_be_visible()
        # A member sees the shared settings, with no widget to change them.
        open_page(bob, "Settings")
        expect(bob.locator(MAIN).get_by_text(re.compile("Only admins change these settings"))
               ).to_be_visible()
        expect(bob.locator(MAIN).get_by_role("textbox")).to_have_count(0)
        expect(bob.locator(MAIN).get_by_role("button", name=re.compile("Save"))).to_have_count(0)
        open_page(bob, "Experts")
        expect(bob.locator(MAIN).get_by_role("button", name=re.compile("^(Save|Create)$"))
               ).to_have_count(0)
        expect(bob.locator(MAIN).get_by_role("button", name="Save my expert")).to_be_visible()
        expect_no_exception(bob)

        # The admin changes the team's budget; the change is on the Activity page.
        open_page(ann, "Costs")
        expect(ann.locator(MAIN).get_by_text(re.compile("No LLM calls yet"))).to_have_count(0)
        open_page(ann, "Settings")
        box = ann.get_by_label("Team's daily cloud budget (USD, empty = no cap)")
        box.fill("2.50")
        expect(box).to_have_value("2.50")  # typed into the form before it is sent
        ann.get_by_role("button", name="Save", exact=True).click()
        expect(ann.locator(MAIN).get_by_text("Saved.")).to_be_visible()
        open_page(ann, "Activity")
        audit = ann.locator(MAIN).locator('[data-testid="stTable"]')
        expect(audit).to_contain_text("daily_budget_usd")
        expect(audit).to_contain_text(ANN)
        expect(audit).to_contain_text("2.50")
        open_page(bob, "Activity")
        expect(bob.get_by_text("Changes to shared settings")).to_have_count(0)

        # Sign out and in again: a new session, and Ann's conversation is there to open.
        ann.locator(SIDEBAR).get_by_role("button", name="Sign out").click()
        end = ann.get_by_role("button", name="End session")  # the provider's own page
        end.or_(ann.get_by_role("heading", name="Sign in to Ambient")).first.wait_for()
        if end.is_visible():
            end.click()
        sign_in(ann, team_server, ANN)
        assert sid_of(ann) != ann_sid
        choose_conversation(ann, "add a task to call Acme")
        expect(ann.locator(MESSAGES).first).to_contain_text("add a task to call Acme")
        expect(ann.locator(MESSAGES).nth(2)).to_contain_text("pineapples")
        open_page(ann, "Tasks")
        ann.get_by_text("Delete tasks").click()
        assert "Call Acme" in listed_options(ann, "Tasks to delete")
        expect_no_exception(ann)
        assert "Traceback" not in team_server.log()
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        for name, page in (("ann", ann), ("bob", bob)):
            page.screenshot(path=str(ARTIFACTS / f"team_sign_in_{name}.png"), full_page=True)
            page.context.close()


def open_conversations(page: Page) -> None:
    """Open the Conversations menu unless it is open (a rerun or Escape can close it)."""
    switch = page.get_by_role("combobox", name="Switch to")
    if not switch.is_visible():
        page.locator(SIDEBAR).get_by_role("button", name=re.compile("Conversations")).click()
    expect(switch).to_be_visible()


def listed_options_in_conversations(page: Page) -> list[str]:
    open_conversations(page)
    options = listed_options(page, "Switch to")
    page.keyboard.press("Escape")
    return options


def choose_conversation(page: Page, title: str) -> None:
    """Switch to the conversation whose title starts with ``title``, retried: a rerun can
    close the menu or the dropdown as it opens."""
    wanted = page.get_by_role("option", name=re.compile("^" + re.escape(title)))
    for _ in range(5):
        open_conversations(page)
        page.get_by_role("combobox", name="Switch to").click()
        try:
            wanted.first.click(timeout=3_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)
            continue
        return
    raise AssertionError(f"no conversation called {title!r} to switch to")
