"""Fixtures for real-browser tests: `streamlit run Home.py` on a loopback port, driven by
Playwright in Debian's Chromium (headless)."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AMBIENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts"
# A fresh server's first run imports everything (the router, the estimators, the queue):
# on a busy 2-core machine that takes longer than Playwright's default 5 s per assertion.
EXPECT_TIMEOUT_MS = 60_000
# The server is `streamlit run`, with faulthandler set to write every thread's stack to its
# log on SIGUSR1: when a browser test fails, its report shows what each live server was
# doing (a run that hangs is otherwise only a page that never finishes).
SERVER_MAIN = (
    "import faulthandler, signal, sys; "
    "faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; "
    "main(prog_name='streamlit')"
)
LIVE: set[AppServer] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies, so it never outlives it."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class AppServer:
    def __init__(self, database_url: str, env: dict[str, str] | None = None, *,
                 port: int | None = None, args: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.log_path = Path(database_url.removeprefix("sqlite:///")).with_suffix(".log")
        environment = os.environ | {"DATABASE_URL": database_url} | (env or {})
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-c", SERVER_MAIN, "run", "Home.py",
                "--server.port", str(self.port),
                "--server.address", "127.0.0.1",
                "--server.headless", "true",
                "--server.fileWatcherType", "none",
                "--browser.gatherUsageStats", "false",
                *args,
            ],
            cwd=ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        LIVE.add(self)
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60) -> None:
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

    def log(self) -> str:
        return self.log_path.read_text()

    def threads(self, wait: float = 2.0) -> str:
        """Every thread's Python stack in the server now (faulthandler, see SERVER_MAIN),
        with the log's last lines before it."""
        if self.process.poll() is not None:
            return f"the server had exited (code {self.process.returncode}):\n{self.log()[-4000:]}"
        before = len(self.log())
        os.kill(self.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and "File " not in self.log()[before:]:
            time.sleep(0.1)
        time.sleep(0.3)  # the rest of the dump
        text = self.log()
        return f"{text[max(0, before - 2000):before]}\n--- threads ---\n{text[before:][:20000]}"

    def stop(self) -> None:
        LIVE.discard(self)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    """A failed browser test's report shows every live server's threads (``threads``)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for server in list(LIVE):
            try:
                text = server.threads()
            except OSError as exc:
                text = f"could not read the server's threads: {exc}"
            report.sections.append((f"server on port {server.port}: its threads", text))


@pytest.fixture(scope="session")
def browser():  # noqa: ANN201
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        message = f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(f"sqlite:///{tmp_path / 'ambient.db'}")
    yield server
    server.stop()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
