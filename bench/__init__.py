"""Ambient's performance harness: ``python -m bench NAME`` (or ``all``).

Each benchmark is a module in this package with a ``run() -> Section`` function,
registered in ``BENCHMARKS``. A run prints its table and rewrites that benchmark's
section of ``bench/RESULTS.md``, stamped with the date and the machine it ran on.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BENCHMARKS = ("embedded", "router", "cost", "privacy", "linkgraph", "ui", "routing", "load",
              "clicks", "pages", "steps")


@dataclass
class Section:
    name: str
    title: str
    headers: list[str]
    rows: list[list[object]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"## {self.name}: {self.title}",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
            "",
            "| " + " | ".join(self.headers) + " |",
            "|" + "---|" * len(self.headers),
        ]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}"


def write_section(section: Section, path: Path = RESULTS) -> None:
    """Replace this benchmark's section in RESULTS.md (or add it), keeping the others."""
    header = (
        "# Benchmark results\n\nWritten by `python -m bench NAME`; each section is "
        "replaced when its benchmark runs again.\n\n"
    )
    text = path.read_text() if path.exists() else header
    pattern = re.compile(rf"^## {re.escape(section.name)}:.*?(?=^## |\Z)", re.M | re.S)
    block = section.markdown() + "\n"
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + block
    path.write_text(text)
