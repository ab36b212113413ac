"""Two replicas on one PostgreSQL, in a real browser: a long job started on replica A goes
on after A is killed, and the page and the chat on replica B show it to the end.

Needs Chromium and ``AMBIENT_TEST_POSTGRES`` (``.ci/run`` has both)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES, _drop_postgres_database, _fresh_postgres_database
from tests.e2e.conftest import ROOT, _die_with_parent, free_port
from tests.e2e.test_chat_journey import SIDEBAR, expect_no_exception
from tests.e2e.test_workflows_journey import MAIN, open_page, set_number

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES, reason="needs AMBIENT_TEST_POSTGRES (.ci/run)"),
]

QUEUE = {  # a dead replica's job is taken over within a few seconds
    "AMBIENT_QUEUE_HEARTBEAT_S": "0.5",
    "AMBIENT_QUEUE_STALLED_S": "4",
    "AMBIENT_QUEUE_MAINTAIN_S": "0.5",
    "AMBIENT_QUEUE_POLL_S": "0.5",
}


class Replica:
    """``streamlit run Home.py`` on a loopback port, on the shared PostgreSQL."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=os.environ | QUEUE | {"DATABASE_URL": database_url},
            stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not become healthy:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[str, Replica, Replica]]:
    url, name = _fresh_postgres_database()
    from store.db import open_database

    open_database(url).dispose()  # migrated once, as `make team` does
    a, b = Replica(url, tmp_path / "a.log"), Replica(url, tmp_path / "b.log")
    try:
        a.wait_healthy()
        b.wait_healthy()
        yield url, a, b
    finally:
        a.stop()
        b.stop()
        _drop_postgres_database(name)


def test_a_job_started_on_a_killed_replica_finishes_on_the_other(
    team: tuple[str, Replica, Replica], page: Page  # page after team: its screenshot first
) -> None:
    url, a, b = team
    page.goto(a.url)
    open_page(page, "Long job")
    set_number(page, "Items", "10")
    set_number(page, "Seconds per item", "1.5")
    page.get_by_role("button", name=re.compile("Start")).click()
    expect(page.get_by_role("button", name=re.compile("Running"))).to_be_disabled(
        timeout=15_000)
    expect(page.locator(SIDEBAR).get_by_text(re.compile(r"Long job: 25% done"))).to_be_visible(
        timeout=30_000)
    sid = parse_qs(urlparse(page.url).query)["sid"][0]

    a.process.send_signal(signal.SIGKILL)  # replica A dies with the job half done
    a.process.wait(10)

    page.goto(f"{b.url}/?sid={sid}")  # the balancer sends the user to replica B
    open_page(page, "Long job")
    expect(page.get_by_role("button", name=re.compile("Running"))).to_be_disabled()
    expect(page.locator(MAIN).get_by_text(re.compile(r"of 10 items"))).to_be_visible()
    expect(page.locator(SIDEBAR).get_by_text(
        re.compile(r"Long job continues on another worker at \d+ of 10 items"))).to_be_visible(
        timeout=60_000)
    expect(page.get_by_role("button", name=re.compile("Start"))).to_be_enabled(timeout=60_000)
    expect(page.locator(SIDEBAR).get_by_text("Long job: 100% done (10 of 10)")).to_be_visible(
        timeout=15_000)
    expect(page.get_by_text("Finished: 10 of 10 items done.")).to_be_visible()
    expect_no_exception(page)

    engine = create_engine(url)
    with engine.connect() as connection:
        statuses = connection.execute(text(
            "SELECT status, attempts FROM job_items ORDER BY idx")).all()
        worker = connection.execute(text("SELECT worker FROM jobs")).scalar()
    engine.dispose()
    assert [s for s, _ in statuses] == ["done"] * 10  # every item, once
    assert sorted(n for _, n in statuses)[-1] <= 2  # at most the one in flight, again
    assert f":{b.process.pid}:" in worker  # finished by replica B's own worker
