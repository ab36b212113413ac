"""Run the embedded model (SmolLM2-135M) on LLMRouter training queries and grade it.

    python -m llm.quality.embedded_outcomes --n 300 [--minutes 15] [--seed 14]

The public outcome data has no model as small as the embedded tier, so this measures it:
a seeded sample of LLMRouter *training-split* queries with a simply graded metric (see
``llm.quality.grading``; code tasks are left out), each asked once through the real
provider (``get_provider("embedded")``, as the router calls it: one user message, the
router's default temperature 0.7, at most ``--max-tokens`` tokens), graded against the
ground truth. Each outcome is appended to ``data/embedded/smollm2_outcomes.jsonl.gz`` as
soon as it is known (a stopped run keeps what it had; a new run skips ids already there).

The provider reports no token log-probabilities (llama-cpp-python gives them only when the
model is loaded with ``logits_all=True``, which the app does not do). To have them for the
estimator, the answer is scored once more, teacher-forced, by a second llama.cpp instance
of the same GGUF file with ``logits_all=True``: the log-probability of each answer token
given the prompt and the tokens before it (temperature 1). ``--no-logprobs`` skips that.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

from llm.quality.data import EMBEDDED_OUTCOMES, Query, llmrouter_queries
from llm.quality.grading import GRADED_METRICS, grade

INSTRUCTIONS = {
    "em_mc": "Reply with the letter of the correct option.",
    "GSM8K": "Solve it step by step, then end with: The answer is <number>.",
    "MATH": "Solve it, then give the final answer in \\boxed{...}.",
    "f1_score": "Answer in a few words.",
}


def message(query: Query) -> str:
    """What the embedded model is asked: the routed prompt plus a short instruction."""
    if query.metric == "commongen_coverage":
        return f"Write one short sentence that uses all of these words: {query.prompt}"
    if query.metric == "MATH" and "boxed" in query.prompt:
        return query.prompt
    instruction = INSTRUCTIONS.get(query.metric, "")
    if query.metric == "em_mc" and query.prompt.endswith("\nAnswer:"):
        return query.prompt[: -len("Answer:")] + instruction + "\nAnswer:"
    return f"{query.prompt}\n\n{instruction}".strip()


def sample(n: int, seed: int) -> list[Query]:
    eligible = [q for q in llmrouter_queries()
                if q.split == "train" and q.metric in GRADED_METRICS]
    random.Random(seed).shuffle(eligible)
    return eligible[:n]


class _TeacherForced:
    """log p(answer token | prompt, earlier answer tokens) from a second llama.cpp context."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        from llm.providers.embedded import model_path

        self.llama = Llama(model_path=str(model_path()), n_ctx=4096, n_threads=1,
                           logits_all=True, verbose=False)

    def __call__(self, prompt_tokens: list[int], answer: str) -> list[float]:
        import numpy as np

        answer_tokens = self.llama.tokenize(answer.encode("utf-8"), add_bos=False)
        tokens = list(prompt_tokens) + list(answer_tokens)
        if not answer_tokens or len(tokens) > self.llama.n_ctx():
            return []
        self.llama.reset()
        self.llama.eval(tokens)
        start = len(prompt_tokens) - 1
        logits = np.asarray(self.llama.scores[start:start + len(answer_tokens)], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        chosen = logits[np.arange(len(answer_tokens)), answer_tokens]
        return [round(float(v), 4) for v in chosen - lse]


def _done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return {json.loads(line)["qid"] for line in handle if line.strip()}


def run(n: int, seed: int, minutes: float, max_tokens: int, temperature: float,
        out: Path, logprobs: bool) -> int:
    from llm.providers import get_provider
    from llm.providers.base import ChatRequest

    provider = get_provider("embedded")
    scorer = _TeacherForced() if logprobs else None
    done = _done_ids(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + minutes * 60
    written = right = 0
    for query in sample(n, seed):
        if query.qid in done:
            continue
        if time.monotonic() > deadline:
            print(f"time budget of {minutes} min reached", flush=True)
            break
        messages = [{"role": "user", "content": message(query)}]
        request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature)
        started = time.perf_counter()
        stream = provider.stream(request)
        for _ in stream:
            pass
        reply = stream.reply
        answer = reply.text if reply else stream.text
        score = grade(query.metric, answer, query.ground_truth, list(query.options))
        record = {
            "qid": query.qid, "task": query.task, "metric": query.metric,
            "prompt": query.prompt, "sent": messages[0]["content"], "answer": answer,
            "ground_truth": query.ground_truth[:500], "score": round(float(score), 4),
            "correct": bool(score >= 0.5),
            "finish_reason": reply.finish_reason if reply else None,
            "completion_tokens": reply.usage.completion_tokens if reply else None,
            "seconds": round(time.perf_counter() - started, 3),
            "temperature": temperature, "max_tokens": max_tokens, "seed": seed,
        }
        if scorer is not None:
            loaded = provider._loaded()  # the provider's own chat template and tokenizer
            tokens, _ = loaded.prompt_tokens(messages)
            lp = scorer(tokens, answer)
            record["logprobs"] = lp
            if lp:
                record["logprobs_summary"] = {
                    "tokens": len(lp), "mean": round(sum(lp) / len(lp), 4), "min": min(lp),
                }
        with gzip.open(out, "at", encoding="utf-8", compresslevel=9) as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
        right += record["correct"]
        print(f"{written:4d} {query.task:22s} score={score:.2f} {record['seconds']:.1f}s "
              f"right so far {right}/{written}", flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llm.quality.embedded_outcomes",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="queries in the sample")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-time budget")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--out", type=Path, default=EMBEDDED_OUTCOMES)
    parser.add_argument("--no-logprobs", action="store_true")
    args = parser.parse_args(argv)
    written = run(args.n, args.seed, args.minutes, args.max_tokens, args.temperature,
                  args.out, not args.no_logprobs)
    print(f"{written} outcomes appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
