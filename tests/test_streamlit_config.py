"""The project's Streamlit settings that performance and click safety depend on."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def _config() -> dict:
    with (ROOT / ".streamlit" / "config.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_no_full_garbage_collection_after_every_run():
    # Streamlit's default gc.collect(2) after each run cost 0.3-0.5 s of every page change
    # with Ambient's modules loaded (bench/RESULTS.md, "pages").
    assert _config()["runner"]["postScriptGC"] is False


def test_requests_are_merged_rather_than_runs_stopped():
    assert _config()["runner"]["fastReruns"] is False


def test_served_on_loopback_by_default():
    assert _config()["server"]["address"] == "127.0.0.1"
