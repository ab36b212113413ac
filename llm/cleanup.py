"""Cleaning up after a stream that was given up, never inside a garbage collection.

A model's answer streams through a chain of generators (the page's, the chat turn's, the
router's, the provider's, the client library's). When a Streamlit run is cut short halfway
through an answer, the chain is abandoned; whoever holds it should close it at once (every
consumer in Ambient does), but if one does not and the chain sits in a reference cycle (a
``RoutedStream`` and its router generator refer to each other), Python's cycle collector
finalises it later, in whichever thread happens to allocate at that moment, at whatever
point that thread has reached. The finalisers close HTTP responses and write the ledger:
run inside httpx's connection-pool lock (seen: a Say hello cut short, then a new request
of the same Ollama client), the response's close takes that same lock again and the thread
hangs for good, and with it every other session waiting on that pool.

So cleanup that can take a lock goes through ``release``: at once, as before, except during
a garbage collection pass in this thread, when it is handed to a helper thread that runs
it as soon as the collecting thread lets go of its locks. And a client library's own stream
object (a generator with a ``with`` block inside) is held by ``held`` until it is closed,
so the collector can never finalise it directly: only our ``release`` closes it.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_collecting = threading.local()  # .active: this thread is inside a garbage collection
_later: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
_helper: threading.Thread | None = None
_helper_lock = threading.Lock()
_held: dict[int, Any] = {}  # id -> a library stream still open, kept from the collector
_held_lock = threading.Lock()


def _on_gc(phase: str, info: dict[str, Any]) -> None:  # called in the collecting thread
    _collecting.active = phase == "start"


if _on_gc not in gc.callbacks:
    gc.callbacks.append(_on_gc)


def collecting() -> bool:
    """True inside a garbage collection pass of this thread (its finalisers included)."""
    return getattr(_collecting, "active", False)


def _run_later() -> None:
    while True:
        cleanup = _later.get()
        try:
            cleanup()
        except Exception:  # a cleanup that fails must not stop the others
            log.exception("cleanup of an abandoned model stream failed")


def _start_helper() -> None:
    global _helper
    with _helper_lock:
        if _helper is None or not _helper.is_alive():
            _helper = threading.Thread(target=_run_later, name="ambient-stream-cleanup",
                                       daemon=True)
            _helper.start()


def release(cleanup: Callable[[], object]) -> None:
    """Run ``cleanup`` now; during a garbage collection in this thread, on the helper thread
    instead (it may need a lock this thread holds)."""
    if not collecting():
        cleanup()
        return
    _later.put(cleanup)
    _start_helper()


def held(stream: T) -> T:
    """Keep a client library's open stream out of the collector's reach until ``close`` is
    called on it; returns the stream."""
    with _held_lock:
        _held[id(stream)] = stream
    return stream


def close(stream: Any) -> None:
    """Close a stream taken with ``held`` (through ``release``) and let it go."""

    def shut() -> None:
        try:
            closer = getattr(stream, "close", None)
            if closer is not None:
                closer()
        finally:
            with _held_lock:
                _held.pop(id(stream), None)

    release(shut)


def pending() -> int:
    """Streams still held open (for tests and diagnostics)."""
    with _held_lock:
        return len(_held)


def drain(timeout: float = 5.0) -> bool:
    """Wait until the helper thread has run every cleanup handed to it so far (tests)."""
    done = threading.Event()
    _later.put(done.set)
    _start_helper()
    return done.wait(timeout)
