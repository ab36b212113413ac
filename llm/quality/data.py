"""The per-prompt outcome data the estimators learn from, and its fixed splits.

Files (see ``llm/quality/data/README.md`` for where each comes from):

- ``routellm/gsm8k_responses.csv.gz`` — GSM8K test questions with Mixtral-8x7B-Instruct's and
  GPT-4's responses and correctness; ``routellm/*_contaminated_prompts.jsonl.gz`` — prompts
  RouteLLM drops as contaminated (we drop them too);
- ``routellm/mmlu_responses.csv.gz`` — MMLU's 57 subjects, correctness of both models;
- ``llmrouter/default_query_train.jsonl.gz`` + ``llmrouter/dcrouter_train.json.gz`` — LLMRouter's
  *training* queries (14 tasks) with ground truth and the scores of 9 models;
- ``embedded/smollm2_outcomes.jsonl.gz`` — the embedded model's own answers to a sample of
  the LLMRouter training split (``python -m llm.quality.embedded_outcomes``).

Splits are fixed and need no random state: a prompt's split comes from a SHA-256 of its
text (``bucket``), and MMLU's held-out subjects are a fixed list drawn once with
``random.Random(14)``. ``split == "train"`` rows are the only ones training or threshold
calibration may read; ``"test"`` rows (and, for MMLU, every row of an ``"unseen"``
subject) are for ``python -m bench routing`` only. (The bench's second protocol, random
splits with the estimators retrained on each, ignores ``split`` for GSM8K and MMLU: it draws
its own halves and scores only the rows its own fit never read. It never touches the
shipped artefact.)
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ROUTELLM_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ROUTELLM_STRONG = "gpt-4-1106-preview"
# The LLMRouter pair the replay names: a 7B model a laptop's Ollama can serve against a
# 51B model behind an API (overall scores 0.37 and 0.62 on the training queries).
LLMROUTER_WEAK = "mistral-7b-instruct-v0.3"
LLMROUTER_STRONG = "llama-3.1-nemotron-51b-instruct"
# Stand-in for Ambient's local tier (Ollama, default gemma2:2b) in the embedded→local step:
# the smallest Gemma-2 of LLMRouter's nine models. A 9B model is stronger than gemma2:2b,
# so the embedded→local gain it implies is an upper bound.
LOCAL_PROXY = "gemma-2-9b-it"
EMBEDDED_MODEL = "SmolLM2-135M-Instruct"

MMLU_SEED = 14
MMLU_UNSEEN_COUNT = 29
TEST_SHARE = {"gsm8k": 0.5, "mmlu": 0.5, "llmrouter": 0.3}


@dataclass(frozen=True)
class Outcome:
    """One prompt with the weak and the strong model's scores (1 right, 0 wrong, or a
    fraction for graded metrics) and, where recorded, the weak model's answer."""

    dataset: str
    qid: str
    prompt: str
    weak: float
    strong: float
    group: str  # MMLU subject or LLMRouter task
    split: str  # "train", "test" or "unseen"
    weak_answer: str | None = None
    logprobs: tuple[float, ...] | None = None

    @property
    def gain(self) -> int:
        """1 when the strong model is right and the weak one wrong (ROUTING.md, lesson 1)."""
        return int(self.strong >= 0.5 and self.weak < 0.5)


def bucket(text: str, salt: str) -> float:
    """A fixed pseudo-random number in [0, 1) for ``text``: the split never moves."""
    digest = hashlib.sha256(f"{salt}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _split(text: str, dataset: str) -> str:
    return "test" if bucket(text, dataset) < TEST_SHARE[dataset] else "train"


def _csv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _contaminated(name: str) -> set[str]:
    with gzip.open(DATA / "routellm" / f"{name}_contaminated_prompts.jsonl.gz", "rt",
                   encoding="utf-8") as handle:
        return {json.loads(line)["eval_prompt"] for line in handle if line.strip()}


@lru_cache(maxsize=1)
def gsm8k() -> tuple[Outcome, ...]:
    dropped = _contaminated("gsm8k")
    rows = []
    for i, row in enumerate(_csv(DATA / "routellm" / "gsm8k_responses.csv.gz")):
        prompt = row["prompt"]
        if prompt in dropped:
            continue
        rows.append(Outcome(
            "gsm8k", f"gsm8k-{i}", prompt,
            weak=float(row[ROUTELLM_WEAK] == "True"),
            strong=float(row[ROUTELLM_STRONG] == "True"),
            group="gsm8k", split=_split(prompt, "gsm8k"),
            weak_answer=row[f"{ROUTELLM_WEAK}_response"],
        ))
    return tuple(rows)


def mmlu_subjects() -> tuple[list[str], list[str]]:
    """(training subjects, held-out subjects): 29 of the 57 never reach training."""
    subjects = sorted({row["subject"] for row in _csv(DATA / "routellm" / "mmlu_responses.csv.gz")})
    unseen = sorted(random.Random(MMLU_SEED).sample(subjects, MMLU_UNSEEN_COUNT))
    return [s for s in subjects if s not in unseen], unseen


@lru_cache(maxsize=1)
def mmlu() -> tuple[Outcome, ...]:
    dropped = _contaminated("mmlu")
    _, unseen = mmlu_subjects()
    rows = []
    for i, row in enumerate(_csv(DATA / "routellm" / "mmlu_responses.csv.gz")):
        prompt = row["prompt"]
        if prompt in dropped:
            continue
        subject = row["subject"]
        split = "unseen" if subject in unseen else _split(prompt, "mmlu")
        rows.append(Outcome(
            "mmlu", f"mmlu-{i}", prompt,
            weak=float(row[ROUTELLM_WEAK] == "True"),
            strong=float(row[ROUTELLM_STRONG] == "True"),
            group=subject, split=split,
        ))
    return tuple(rows)


# -- LLMRouter ---------------------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def _options(choices: object) -> list[tuple[str, str]]:
    """(label, text) pairs from LLMRouter's ``choices`` (a Python literal, several shapes)."""
    if choices is None:
        return []
    if isinstance(choices, str):
        try:
            choices = ast.literal_eval(choices)
        except (ValueError, SyntaxError):
            return []
    if isinstance(choices, dict):
        texts = choices.get("text") or []
        labels = choices.get("label") or choices.get("labels") or []
        labels = list(labels) or [chr(65 + i) for i in range(len(texts))]
        return list(zip(labels, texts, strict=False))
    if isinstance(choices, list) and all(isinstance(c, str) for c in choices):
        return [(chr(65 + i), c) for i, c in enumerate(choices)]
    return []


@dataclass(frozen=True)
class Query:
    """An LLMRouter training query: the prompt we route, its ground truth and metric."""

    qid: str
    task: str
    metric: str
    prompt: str
    ground_truth: str
    options: tuple[tuple[str, str], ...]
    scores: dict[str, float]
    split: str


def _prompt(query: str, metric: str, options: list[tuple[str, str]]) -> str:
    if metric == "em_mc" and options:
        listed = "\n".join(f"{label}. {text}" for label, text in options)
        return f"{query.rstrip()}\n{listed}\nAnswer:"
    return query


@lru_cache(maxsize=1)
def llmrouter_queries() -> tuple[Query, ...]:
    """LLMRouter's training queries with the 9 models' scores, minus any query that is also
    a RouteLLM GSM8K/MMLU prompt (MGSM's English questions are GSM8K's test set)."""
    with gzip.open(DATA / "llmrouter" / "dcrouter_train.json.gz", "rt", encoding="utf-8") as h:
        scores = {row["question"]: row["scores"] for row in json.load(h)}
    routellm = {_norm(r.prompt)[:80] for r in (*gsm8k(), *mmlu())}
    seen: set[str] = set()
    out = []
    with gzip.open(DATA / "llmrouter" / "default_query_train.jsonl.gz", "rt",
                   encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            row = json.loads(line)
            query = row["query"]
            if query in seen or query not in scores or _norm(query)[:80] in routellm:
                continue
            seen.add(query)
            options = _options(row.get("choices")) if row["metric"] == "em_mc" else []
            prompt = _prompt(query, row["metric"], options)
            out.append(Query(
                qid=f"llmrouter-{i}", task=row["task_name"], metric=row["metric"],
                prompt=prompt, ground_truth=str(row["ground_truth"]), options=tuple(options),
                scores={k: float(v) for k, v in scores[query].items()},
                split=_split(query, "llmrouter"),
            ))
    return tuple(out)


def llmrouter(weak: str = LLMROUTER_WEAK, strong: str = LLMROUTER_STRONG) -> tuple[Outcome, ...]:
    return tuple(
        Outcome("llmrouter", q.qid, q.prompt, weak=q.scores[weak], strong=q.scores[strong],
                group=q.task, split=q.split)
        for q in llmrouter_queries()
    )


# -- the embedded model's own outcomes ----------------------------------------------------
EMBEDDED_OUTCOMES = DATA / "embedded" / "smollm2_outcomes.jsonl.gz"


def embedded_records(path: Path = EMBEDDED_OUTCOMES) -> list[dict]:
    if not path.exists():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def embedded(path: Path = EMBEDDED_OUTCOMES, strong: str = LOCAL_PROXY) -> tuple[Outcome, ...]:
    """SmolLM2's measured answers (weak) against the local-tier proxy's LLMRouter score
    (strong) on the same training queries. Every record is from the LLMRouter training
    split; ``split`` here is a second hash split of those records (for held-out figures)."""
    by_id = {q.qid: q for q in llmrouter_queries()}
    out = []
    for rec in embedded_records(path):
        query = by_id.get(rec["qid"])
        if query is None:
            continue
        logprobs = rec.get("logprobs")
        out.append(Outcome(
            "embedded", rec["qid"], rec["prompt"], weak=float(rec["score"]),
            strong=query.scores[strong], group=rec["task"],
            split="test" if bucket(rec["qid"], "embedded") < 0.3 else "train",
            weak_answer=rec["answer"], logprobs=tuple(logprobs) if logprobs else None,
        ))
    return tuple(out)


