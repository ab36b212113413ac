"""Uploaded files kept on disk, so a reload or a later visit can measure them again.

A run of the link-graph workflow stores only what ``keep_files`` returns — paths under
``data/uploads`` (named by the content's hash, so the same file is kept once), the files'
own names, the start page and any column mapping the user chose — and ``scan_kept``
measures the graph again from that record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from linkgraph.scan import Scan, sample_files, scan_site
from store.db import PROJECT_ROOT

UPLOADS = PROJECT_ROOT / "data" / "uploads"
SAMPLE_NAMES = ("the sample edge list", "the sample metadata")


def keep_upload(data: bytes, suffix: str, folder: Path = UPLOADS) -> str:
    """Write ``data`` under ``folder`` (once per content) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def keep_files(edges: bytes, edge_name: str, metadata: bytes | None = None,
               metadata_name: str | None = None, *, start: str = "",
               mappings: Mapping[str, Any] | None = None,
               folder: Path = UPLOADS) -> dict[str, Any]:
    """Keep the uploads and return the record ``scan_kept`` measures (JSON-ready)."""
    return {
        "edges": keep_upload(edges, ".edges", folder), "edge_name": edge_name,
        "metadata": keep_upload(metadata, ".meta", folder) if metadata else None,
        "metadata_name": metadata_name if metadata else None,
        "start": start.strip() or None,
        "mappings": {"edges": (mappings or {}).get("edges"),
                     "metadata": (mappings or {}).get("metadata")},
    }


def keep_sample(*, start: str = "", folder: Path = UPLOADS) -> dict[str, Any]:
    """``keep_files`` for the small synthetic site that ships with the app."""
    edges, metadata = sample_files()
    return keep_files(edges, SAMPLE_NAMES[0], metadata, SAMPLE_NAMES[1], start=start,
                      folder=folder)


def scan_kept(kept: Mapping[str, Any]) -> Scan:
    """Measure the files a ``keep_files`` record points at.

    Raises ``CSVError`` (``MappingNeeded`` when a file's columns must be named by the
    user), ``ValueError`` for an unknown start page, ``OSError`` if a file is gone.
    """
    mappings = kept.get("mappings") or {}
    metadata = kept.get("metadata")
    return scan_site(
        Path(kept["edges"]).read_bytes(), Path(metadata).read_bytes() if metadata else None,
        edge_name=kept.get("edge_name") or "The edge list",
        metadata_name=kept.get("metadata_name") or "The metadata file",
        start=kept.get("start"), edge_mapping=mappings.get("edges"),
        metadata_mapping=mappings.get("metadata"),
    )


def mapping_role(suggestion: Mapping[str, object]) -> str:
    """Which file a ``MappingNeeded`` is about: the metadata names a ``url`` column, the
    edge list a source and a target."""
    return "metadata" if "url" in suggestion else "edges"
