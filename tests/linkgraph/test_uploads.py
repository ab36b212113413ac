"""Uploads kept on disk and measured again from the run's record; the scan-reading step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.conversation import history
from core.sessions import ensure_session
from linkgraph.load import MappingNeeded
from linkgraph.reading import finish_reading, fixes, headline, start_reading
from linkgraph.scan import SAMPLE_EDGES, sample_files, scan_site
from linkgraph.uploads import keep_files, keep_sample, keep_upload, mapping_role, scan_kept
from store.db import Database


def test_an_upload_is_kept_once_by_its_content(tmp_path: Path) -> None:
    first = keep_upload(b"from,to\n/,/a\n", ".edges", tmp_path / "uploads")
    again = keep_upload(b"from,to\n/,/a\n", ".edges", tmp_path / "uploads")
    other = keep_upload(b"from,to\n/,/b\n", ".edges", tmp_path / "uploads")
    assert first == again != other
    assert Path(first).read_bytes() == b"from,to\n/,/a\n"
    assert len(list((tmp_path / "uploads").iterdir())) == 2


def test_the_kept_record_measures_the_same_scan_as_the_files(tmp_path: Path) -> None:
    kept = keep_sample(start="  ", folder=tmp_path)
    assert json.loads(json.dumps(kept)) == kept  # it is stored as a run's step data
    assert kept["start"] is None and kept["edge_name"] == "the sample edge list"
    again = scan_kept(kept)
    direct = scan_site(*sample_files())
    assert again.summary == direct.summary
    assert list(again.table.columns) == list(direct.table.columns)


def test_a_record_without_metadata_and_with_a_start_page(tmp_path: Path) -> None:
    kept = keep_files(SAMPLE_EDGES.read_bytes(), "site.csv", None, "ignored.csv",
                      start=" https://example.com/ ", folder=tmp_path)
    assert kept["metadata"] is None and kept["metadata_name"] is None and kept["start"] == "https://example.com/"
    assert scan_kept(kept).metadata is None


def test_a_file_that_needs_a_mapping_says_so_and_the_mapping_is_used(tmp_path: Path) -> None:
    data = b"alpha,beta\nhttps://x.test/,https://x.test/a\nhttps://x.test/a,https://x.test/\n"
    kept = keep_files(data, "odd.csv", folder=tmp_path)
    with pytest.raises(MappingNeeded) as needed:
        scan_kept(kept)
    assert mapping_role(needed.value.suggestion) == "edges"
    assert mapping_role({"url": None}) == "metadata"
    kept["mappings"]["edges"] = {"source": "alpha", "target": "beta"}
    assert scan_kept(kept).summary["edges"] == 2


def test_a_kept_file_that_is_gone_is_an_os_error(tmp_path: Path) -> None:
    kept = keep_files(b"from,to\n/,/a\n", "gone.csv", folder=tmp_path)
    Path(kept["edges"]).unlink()
    with pytest.raises(OSError):
        scan_kept(kept)


class _ScriptedRouter:
    """Streams what it was given (text pieces and the router's non-text events)."""

    def __init__(self, pieces: list[object]) -> None:
        self.pieces, self.requests = pieces, []

    def stream(self, request):  # noqa: ANN001, ANN201
        self.requests.append(request)
        return iter(self.pieces)


def narrations(db: Database, sid: str) -> list[str]:
    return [m.content for m in history(db, sid) if m.role == "narration"]


def test_reading_the_scan_tells_the_chat_once_and_keeps_the_report(db: Database) -> None:
    sid = ensure_session(db, None)
    scan = scan_site(*sample_files())
    router = _ScriptedRouter(["\n- 12 orphan pages", " need links.\n", object(), "- More."])
    reading = start_reading(router, db, sid, scan)  # type: ignore[arg-type]
    text = "".join(reading)
    (request,) = router.requests
    assert request.purpose == "analyze" and request.origin.session_id == sid
    assert request.origin.workflow == "link_graph" and '"vital_signs"' in \
        request.messages[-1]["content"]
    kept = finish_reading(db, sid, text, reading)
    assert kept["commentary"] == "- 12 orphan pages need links.\n- More."
    said = narrations(db, sid)
    assert said[0].startswith("Link graph scanned: 300 pages")
    # What the chat hears comes from the figures, not from the model.
    assert said[1] == f"Scan reading: {fixes(scan.summary)[0]}"
    again = start_reading(router, db, sid, scan)  # type: ignore[arg-type]
    finish_reading(db, sid, "".join(again), again)
    assert narrations(db, sid) == said  # read again: the chat is not told twice


def test_an_empty_report_on_a_healthy_site_posts_no_finding(db: Database) -> None:
    sid = ensure_session(db, None)
    scan = scan_site(b"source,target\n/,/a\n/a,/\n")
    reading = start_reading(_ScriptedRouter(["  \n"]), db, sid, scan)  # type: ignore[arg-type]
    assert finish_reading(db, sid, "".join(reading), reading)["commentary"] == ""
    assert narrations(db, sid) == [headline(scan.summary)]
