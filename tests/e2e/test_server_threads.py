"""A failed browser test shows what the server was doing: ``AppServer.threads`` has every
thread's Python stack (faulthandler on SIGUSR1), and the report hook adds it to the report."""

from __future__ import annotations

from tests.e2e.conftest import LIVE, AppServer


def test_a_live_server_tells_its_threads(app_server: AppServer) -> None:
    assert app_server in LIVE
    text = app_server.threads()
    assert "--- threads ---" in text
    dump = text.split("--- threads ---", 1)[1]
    assert "Thread 0x" in dump and 'File "' in dump  # faulthandler's format, every thread
    assert "tornado" in dump or "asyncio" in dump  # the server's event loop is among them
    assert app_server.process.poll() is None  # the signal did not stop the server
