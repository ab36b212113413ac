"""``python -m bench routing --subset N`` runs and prints every method."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_routing_bench_runs_on_a_small_subset() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "routing", "--subset", "40", "--no-write"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for method in ("random", "oracle", "old fixed table", "difficulty, before the call",
                   "confidence cascade", "RouteLLM best (published)", "scoring time"):
        assert method in out, method
    for dataset in ("GSM8K", "MMLU", "MMLU, held-out subjects", "LLMRouter"):
        assert dataset in out, dataset
    assert "--subset 40" in out
