from __future__ import annotations

from pathlib import Path

from bench import Section, write_section


def test_a_section_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    write_section(Section("alpha", "first", ["k", "v"], [["x", 1.23456]]), results)
    write_section(Section("beta", "second", ["k", "v"], [["y", 2]]), results)
    write_section(Section("alpha", "first again", ["k", "v"], [["x", 9.0]]), results)
    text = results.read_text()
    assert text.count("## alpha:") == 1 and "first again" in text and "1.235" not in text
    assert "## beta: second" in text and "| y | 2 |" in text
    assert "cores" in text and "Measured" in text
