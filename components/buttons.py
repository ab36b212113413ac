"""Buttons, form submits and chat messages whose clicks a cut-short run cannot lose.

Streamlit hands a click to the page only through a script run, and the next interaction
(a chat message, a card toggled, another click) can end that run early: before the page
has reached the button, so ``st.button`` never returned True, or inside a callback that
was writing session state (every session-state access is a point where Streamlit stops a
run). The click was then gone, without a word.

So every click is noted by an ``on_click`` callback in a journal kept by this process,
keyed by Streamlit's session id (read when the widget is drawn and passed as the
callback's argument), the page and the widget key. The callback calls no ``st.*`` and
touches no session state, so once Streamlit runs it nothing can stop it halfway. The
page takes the click when it next draws the button, in whichever run that is:
``pressed(...)`` for buttons, ``submitted(...)`` for forms, ``downloaded(...)`` for a
download whose click the app records, ``sent(...)`` for the chat input (its value is read
with ``st.session_state.to_dict()``, which does not yield). Between taking a click and
the action's database write a page makes no ``st.*`` call and no session-state access;
where the action needs them (a streamed model reply, a value kept in session state), it
runs them inside ``with click.redo_if_cut_short():``, which puts the click back when the
run is cut short there, so the next run does the action again. A click is taken at most
once; one older than ``CLICK_TTL_S`` is dropped, never acted on late, and so is one
still untaken when a run ends normally (``end_of_run``, called last by Home.py): that run
did not draw its button, so it must not fire when the button comes back.

The journal alone is not enough (measured in bench/RESULTS.md, section "clicks"):

- With Streamlit's default ``runner.fastReruns = true`` a new request stops the running
  script, even one that has not called the callbacks of the click that started it yet.
  ``.streamlit/config.toml`` turns that off: a request that arrives before the click's
  run has started is merged with it (the click kept), one that arrives later waits for
  the running script's next yield point.
- That leaves a gap: the first such point of a run is Streamlit's check right before it
  calls the run's callbacks, so a request arriving between the moment a run took its
  click's request and that check still dropped the click (about 1 try in 30 at 0–10 ms).
  ``_callbacks_run_whole`` closes it: Streamlit runs a started run's callbacks without
  that check (and without stopping a callback at its session-state accesses), and checks
  right after them, as it does anyway. Only this one yield point of Streamlit 1.67's
  ``SafeSessionState.on_script_will_rerun`` is skipped; if a later Streamlit renames what
  it relies on, nothing is changed and ``tests/components/test_buttons.py`` fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import RerunException, StopException, get_script_run_ctx

CLICK_TTL_S = 30.0  # a click not taken by then is dropped
MAX_NOTED = 10_000  # sessions with noted clicks kept at most, whatever their age
MAX_PER_WIDGET = 100  # values kept per widget (messages sent before a run takes them)
_PRUNE_EVERY_S = 5.0

Where = tuple[str, str, str]  # (Streamlit session id, page hash or "", widget key)
# session id -> (page, key) -> [(time noted, value), ...]
_noted: dict[str, dict[tuple[str, str], list[tuple[float, Any]]]] = {}
_lock = threading.Lock()
_last_prune = 0.0


# -- the journal (pure Python: nothing here can be interrupted by Streamlit) -------------
def _note(where: Where, value: Any = True) -> None:
    """Callback of every journaled widget: remember the click (or the sent value)."""
    now = time.monotonic()
    session, page, key = where
    with _lock:
        entries = _noted.setdefault(session, {}).setdefault((page, key), [])
        entries.append((now, value))
        del entries[:-MAX_PER_WIDGET]
        _prune(now)


def _note_sent(where: Where) -> None:
    """Callback of the chat input: its value, read without a yield point."""
    value = st.session_state.to_dict().get(where[2])  # filtered_state: no yield
    if value:
        _note(where, value)


def _take(where: Where) -> list[Any]:
    """The values noted at ``where`` and still fresh, oldest first; forgotten here."""
    now = time.monotonic()
    session, page, key = where
    with _lock:
        entries = _noted.get(session, {}).pop((page, key), [])
        if session in _noted and not _noted[session]:
            del _noted[session]
        _prune(now)
    return [value for stamp, value in entries if now - stamp <= CLICK_TTL_S]


def _prune(now: float) -> None:
    """Drop stale sessions every few seconds, and the oldest beyond ``MAX_NOTED``."""
    global _last_prune
    if now - _last_prune < _PRUNE_EVERY_S and len(_noted) <= MAX_NOTED:
        return
    _last_prune = now
    newest = {session: max(e[-1][0] for e in spots.values()) for session, spots in _noted.items()}
    for session, stamp in newest.items():
        if now - stamp > CLICK_TTL_S:
            del _noted[session]
    if len(_noted) > MAX_NOTED:
        for session in sorted(_noted, key=newest.__getitem__)[: len(_noted) - MAX_NOTED]:
            del _noted[session]


def end_of_run() -> None:
    """Forget this session's clicks that no button took by the end of a complete run.

    The run that followed such a click did not draw its button (another page, or the
    button is gone now that its step is done), so the click must not fire later when the
    button comes back. Home.py calls this last; a run cut short never gets there, so its
    clicks wait for the next run. (With ``runner.fastReruns = false`` a session's
    callbacks run only at the start of its runs, on the same thread: nothing noted here
    belongs to a run still to come.)"""
    ctx = get_script_run_ctx()
    if ctx is not None:
        with _lock:
            _noted.pop(ctx.session_id, None)


@contextmanager
def one_run() -> Iterator[None]:
    """Around a whole run (Home.py): ``end_of_run`` when it ends, normally or on an error.
    A run that fails has drawn what it drew, like a complete one; only a run cut short
    (by the next interaction, ``st.rerun`` or ``st.stop``) keeps its clicks for the next."""
    try:
        yield
    except (RerunException, StopException):
        raise
    except BaseException:
        end_of_run()
        raise
    end_of_run()


def forget_all() -> None:
    """Drop every noted click (for tests)."""
    with _lock:
        _noted.clear()


def _no_yield() -> None:
    return None


def _callbacks_run_whole() -> bool:
    """Let a run that has started call its callbacks before Streamlit looks for a newer
    request (see the module's docstring). True once in place."""
    try:
        from streamlit.runtime.state.safe_session_state import SafeSessionState
    except ImportError:  # pragma: no cover - another Streamlit
        return False
    original = SafeSessionState.__dict__.get("on_script_will_rerun")
    if original is None:  # pragma: no cover - another Streamlit
        return False
    if getattr(original, "callbacks_run_whole", False):
        return True

    def on_script_will_rerun(self: SafeSessionState, *args: Any, **kwargs: Any) -> None:
        fields = object.__getattribute__(self, "__dict__")
        check = fields.get("_yield_callback")
        if check is None:  # pragma: no cover - another Streamlit: leave it as it is
            return original(self, *args, **kwargs)
        object.__setattr__(self, "_yield_callback", _no_yield)
        try:
            return original(self, *args, **kwargs)
        finally:
            object.__setattr__(self, "_yield_callback", check)

    on_script_will_rerun.callbacks_run_whole = True  # type: ignore[attr-defined]
    on_script_will_rerun.__doc__ = original.__doc__
    SafeSessionState.on_script_will_rerun = on_script_will_rerun  # type: ignore[method-assign]
    return True


CALLBACKS_RUN_WHOLE = _callbacks_run_whole()


def _where(key: str, *, page: bool = True) -> Where:
    ctx = get_script_run_ctx()
    if ctx is None:  # bare mode: no session, and no interruptions either
        return ("", "", key)
    return (ctx.session_id, ctx.page_script_hash if page else "", key)


# -- clicks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Click:
    """The answer of ``pressed``/``submitted``/``downloaded``: true once per click."""

    taken: bool
    where: Where

    def __bool__(self) -> bool:
        return self.taken

    @contextmanager
    def redo_if_cut_short(self) -> Iterator[None]:
        """Wrap the part of an action that makes ``st.*`` calls or touches session state
        before its result is kept: if the run is cut short inside, the click is noted
        again and the next run does the action again. Never put ``st.rerun()`` inside
        (it ends the run the same way, and the action would repeat)."""
        try:
            yield
        except (RerunException, StopException):
            if self.taken:
                _note(self.where)
            raise


def _no_callback(kwargs: dict[str, Any]) -> None:
    for name in ("on_click", "args", "kwargs"):
        if name in kwargs:
            raise TypeError(f"{name} is taken by components.buttons: act on the returned click")


def pressed(label: str, key: str, *, where: DeltaGenerator | None = None,
            **kwargs: Any) -> Click:
    """``st.button`` (in ``where``, a column or placeholder, if given) whose click is
    never lost to a cut-short run: true in the run that takes it, once."""
    _no_callback(kwargs)
    spot = _where(key)
    now = (where or st).button(label, key=key, on_click=_note, args=(spot,), **kwargs)
    return Click(bool(_take(spot)) or now, spot)


def submitted(label: str, key: str, *, where: DeltaGenerator | None = None,
              **kwargs: Any) -> Click:
    """``st.form_submit_button`` that keeps its click like ``pressed``. The form's
    values reach the run that takes the click: the browser sends them with every
    request once the form is submitted."""
    _no_callback(kwargs)
    spot = _where(key)
    now = (where or st).form_submit_button(label, key=key, on_click=_note, args=(spot,),
                                           **kwargs)
    return Click(bool(_take(spot)) or now, spot)


def downloaded(label: str, data: Any, key: str, *, where: DeltaGenerator | None = None,
               **kwargs: Any) -> Click:
    """``st.download_button`` whose click the page acts on (e.g. records it), kept like
    ``pressed``. The download itself happens in the browser either way."""
    _no_callback(kwargs)
    spot = _where(key)
    now = (where or st).download_button(label, data, key=key, on_click=_note, args=(spot,),
                                        **kwargs)
    return Click(bool(_take(spot)) or now, spot)


def sent(placeholder: str, key: str, **kwargs: Any) -> list[str]:
    """``st.chat_input`` returning every message sent since the last run that drew it,
    oldest first, even when the runs that carried them were cut short. Messages follow
    the session from page to page."""
    for name in ("on_submit", "args", "kwargs"):
        if name in kwargs:
            raise TypeError(f"{name} is taken by components.buttons.sent")
    spot = _where(key, page=False)
    st.chat_input(placeholder, key=key, on_submit=_note_sent, args=(spot,), **kwargs)
    return [str(value) for value in _take(spot)]
