"""Page speed in a real browser: Chromium moves through every page by the sidebar
(in-app navigation) and by full reloads, and each visit is timed until the page has
settled — its own heading is shown, the script is no longer running and no skeleton is
left — with the ledger, messages and events of the ``ui`` benchmark loaded.

The figures are wall-clock times in the browser, from the click (or ``page.goto``) to
settled, so they include the websocket round trip, the script run and the drawing. A
reload opens a new Streamlit session each time (the session id in the URL brings the
same conversation back), so it also pays for the session's first run.

The same run also times Streamlit's own floor: a bare app written to a temporary folder
(three pages through ``st.navigation``, a title each, a chat input in the sidebar, the
app's own ``.streamlit/config.toml``), served and visited the same way by the same
browser. Its row says what any Streamlit page costs on this machine at that moment; the
"above the floor" columns say how much of each page's time is Ambient's.

``run(passes=1, rows=200, messages=20, events=50)`` is the small data set the test suite
runs (``tests/bench/test_pages_bench.py``); ``python -m bench pages`` the full one.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import Section

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("AMBIENT_CHROMIUM", "/usr/bin/chromium")
PASSES = 5
IN_APP_TARGET_MS = 300
RELOAD_TARGET_MS = 1_000
SETTLE_TIMEOUT_MS = 120_000
# Settled: the page's own heading is up, the script is not running, no skeleton is left.
_SETTLED = """([heading, previous]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  if (!app || !h1) return false;
  const text = h1.innerText.trim();
  if (previous !== null && text === previous) return false;
  if (heading !== null && text !== heading) return false;
  return app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid="stSkeleton"]');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FLOOR_ROW = "Streamlit floor (bare app)"
FLOOR_PAGES = ("Alpha", "Beta", "Gamma")
_FLOOR_APP = """import streamlit as st

st.set_page_config(page_title="Floor", layout="wide")
page = st.navigation([{pages}])
with st.sidebar:
    st.chat_input("Ask")
page.run()
"""


def write_floor_app(folder: Path) -> list[tuple[str, str]]:
    """The bare Streamlit app of the floor row, written into ``folder`` with the app's own
    Streamlit settings; returns its (title, URL path) routes."""
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    (folder / ".streamlit").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", folder / ".streamlit" / "config.toml")
    (folder / "Home.py").write_text(_FLOOR_APP.format(pages=", ".join(
        f'st.Page("pages/{title.lower()}.py", title="{title}", default={index == 0})'
        for index, title in enumerate(FLOOR_PAGES))))
    for title in FLOOR_PAGES:
        (folder / "pages" / f"{title.lower()}.py").write_text(
            f'import streamlit as st\n\nst.title("{title}")\n')
    return [(title, "" if i == 0 else title.lower()) for i, title in enumerate(FLOOR_PAGES)]


def _serve(url: str, log: Path, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=cwd, env=os.environ | {"DATABASE_URL": url}, stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as reply:
                if reply.read() == b"ok":
                    return process, base
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text()}")


def _seed(url: str, rows: int, messages: int, events: int) -> str:
    from standins.ledger_seed import seed_history, seed_ledger
    from store.db import open_database

    db = open_database(url)
    seed_ledger(db, rows=rows, days=30, seed=0)
    sid = seed_history(db, messages=messages, events=events)
    db.dispose()
    return sid


def p95(values: list[float]) -> float:
    """The 95th percentile by the nearest-rank method (the largest of fewer than 20)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _heading(title: str) -> str:
    """The heading a page shows: Home's is the product's name."""
    return "Ambient" if title == "Home" else title


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def _visit(browser, base: str, routes: list[tuple[str, str]], query: str,
           passes: int) -> dict[str, dict[str, list[float]]]:
    """{page title: {"sidebar": [ms, ...], "reload": [ms, ...]}} over ``passes`` passes of
    one app, in a new tab of ``browser``."""
    times: dict[str, dict[str, list[float]]] = {
        title: {"sidebar": [], "reload": []} for title, _ in routes}
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{base}/{query}")
    page.wait_for_function(_SETTLED, arg=[_heading(routes[0][0]), None],
                           timeout=SETTLE_TIMEOUT_MS)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for _ in range(passes):
        # In-app: each page from the one before it (the first page last, from the last).
        for title, _path in [*routes[1:], routes[0]]:
            previous = page.locator('[data-testid="stMain"] h1').first.inner_text().strip()
            started = time.perf_counter()
            nav.get_by_text(title, exact=True).click()
            page.wait_for_function(_SETTLED, arg=[_heading(title), previous],
                                   timeout=SETTLE_TIMEOUT_MS)
            times[title]["sidebar"].append((time.perf_counter() - started) * 1000)
        for title, path in routes:
            started = time.perf_counter()
            page.goto(f"{base}/{path}{query}")
            page.wait_for_function(_SETTLED, arg=[_heading(title), None],
                                   timeout=SETTLE_TIMEOUT_MS)
            times[title]["reload"].append((time.perf_counter() - started) * 1000)
    page.close()
    return times


def measure(base: str, sid: str, passes: int,
            floor: tuple[str, list[tuple[str, str]]] | None = None,
            ) -> dict[str, dict[str, list[float]]]:
    """{page title: {"sidebar": [ms, ...], "reload": [ms, ...]}} over ``passes`` passes;
    with ``floor`` (the bare app's server and routes) also ``FLOOR_ROW``: every visit to
    the bare app's pages, by the same browser right after Ambient's."""
    from playwright.sync_api import sync_playwright

    from components.navigation import page_routes

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            times = _visit(browser, base, page_routes(), f"?sid={sid}", passes)
            if floor is not None:
                bare = _visit(browser, *floor, "", passes)
                times[FLOOR_ROW] = {mode: [ms for by_page in bare.values()
                                           for ms in by_page[mode]]
                                    for mode in ("sidebar", "reload")}
        finally:
            browser.close()
    return times


def run(passes: int = PASSES, rows: int = 100_000, messages: int = 5_000,
        events: int = 20_000) -> Section:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/pages.db"
        sid = _seed(url, rows, messages, events)
        floor_routes = write_floor_app(Path(folder) / "floor")
        server, base = _serve(url, Path(folder) / "streamlit.log")
        try:
            floor_server, floor_base = _serve(url, Path(folder) / "floor.log",
                                              cwd=Path(folder) / "floor")
            try:
                times = measure(base, sid, passes, (floor_base, floor_routes))
            finally:
                _stop(floor_server)
        finally:
            _stop(server)
    load_after = os.getloadavg()
    floor = times.pop(FLOOR_ROW)
    floor_click, floor_reload = (statistics.median(floor["sidebar"]),
                                 statistics.median(floor["reload"]))

    def row(name: str, modes: dict[str, list[float]]) -> list[object]:
        click, reload = statistics.median(modes["sidebar"]), statistics.median(modes["reload"])
        return [name, round(click), round(p95(modes["sidebar"])), round(reload),
                round(p95(modes["reload"])), round(click - floor_click),
                round(reload - floor_reload)]

    rows_out = [row(title, modes) for title, modes in times.items()]
    every_click = [t for modes in times.values() for t in modes["sidebar"]]
    every_reload = [t for modes in times.values() for t in modes["reload"]]
    in_app, reload = statistics.median(every_click), statistics.median(every_reload)
    rows_out.append(row("**every page**", {"sidebar": every_click, "reload": every_reload}))
    rows_out.append(row(FLOOR_ROW, floor))
    verdict = (f"in-app median {round(in_app)} ms (goal ≤ {IN_APP_TARGET_MS} ms: "
               f"{'met' if in_app <= IN_APP_TARGET_MS else 'NOT met'}); full reload median "
               f"{round(reload)} ms (goal ≤ {RELOAD_TARGET_MS} ms: "
               f"{'met' if reload <= RELOAD_TARGET_MS else 'NOT met'}).")
    return Section(
        name="pages",
        title="Page speed in Chromium: in-app navigation and full reloads",
        headers=["page", "sidebar median (ms)", "sidebar p95 (ms)", "reload median (ms)",
                 "reload p95 (ms)", "sidebar median above the floor (ms)",
                 "reload median above the floor (ms)"],
        rows=rows_out,
        notes=[
            f"{passes} passes over the {len(times)} pages, each by the sidebar and by a full "
            f"reload, on a SQLite database with {rows:,} ledger rows and one session of "
            f"{messages:,} messages and {events:,} events; times from the click (or the "
            "navigation) until the page's heading is shown, the script has stopped and no "
            "skeleton is left.",
            f"{FLOOR_ROW}: three pages with a title each and a chat input in the sidebar, "
            "with Ambient's Streamlit settings, served and visited the same way by the same "
            f"browser right after Ambient's pages ({passes} passes, all its visits pooled): "
            f"in-app median {round(floor_click)} ms, reload median {round(floor_reload)} ms. "
            "No Streamlit page settles faster than this on this machine at this moment.",
            f"Load average (1 min) {load_before[0]:.1f} at the start and {load_after[0]:.1f} "
            f"at the end, on {os.cpu_count()} cores.",
            verdict,
        ],
    )
