"""Uploads kept on disk and measured again from the run's record; the scan-reading step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.conversation import history
from core.sessions import ensure_session
from linkgraph.load import MappingNeeded
from linkgraph.reading import finish_reading, start_reading
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


def test_reading_the_scan_tells_the_chat_and_keeps_the_report(db: Database) -> None:
    sid = ensure_session(db, None)
    scan = scan_site(*sample_files())
    router = _ScriptedRouter(["\n- 12 orphan pages", " need links.\n", object(), "- More."])
    text = "".join(start_reading(router, db, sid, scan))  # type: ignore[arg-type]
    (request,) = router.requests
    assert request.purpose == "analyze" and request.origin.session_id == sid
    assert request.origin.workflow == "link_graph" and '"vital_signs"' in \
        request.messages[-1]["content"]
    assert finish_reading(db, sid, text) == "- 12 orphan pages need links.\n- More."
    said = [m.content for m in history(db, sid) if m.role == "narration"]
    assert said[0].startswith("Link graph scanned: 300 pages")
    assert said[1] == "Scan reading: 12 orphan pages need links."


def test_an_empty_report_posts_no_finding(db: Database) -> None:
    sid = ensure_session(db, None)
    assert finish_reading(db, sid, "  \n") == ""
    assert [m for m in history(db, sid) if m.role == "narration"] == []
