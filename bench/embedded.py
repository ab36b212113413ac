"""The embedded tier: model load time, time to first token, tokens per second."""

from __future__ import annotations

import statistics
import time

from bench import Section
from llm.providers.base import ChatRequest
from llm.providers.embedded import EmbeddedProvider, embedded_threads

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Explain in a few sentences what a link graph of a website is."},
]


def run(repeats: int = 5, max_tokens: int = 128) -> Section:
    provider = EmbeddedProvider()
    started = time.perf_counter()
    provider.count_tokens("load")  # forces the model to load
    load_s = time.perf_counter() - started
    ttfts, speeds, tokens = [], [], []
    for _ in range(repeats):
        reply = provider.complete(ChatRequest(messages=PROMPT, max_tokens=max_tokens))
        generating = reply.latency_s - (reply.ttft_s or 0)
        ttfts.append(reply.ttft_s or 0)
        tokens.append(reply.usage.completion_tokens)
        speeds.append((reply.usage.completion_tokens - 1) / generating if generating else 0)
    return Section(
        name="embedded",
        title="SmolLM2-135M-Instruct in-process (llama.cpp, portable build)",
        headers=["metric", "value"],
        rows=[
            ["threads", embedded_threads()],
            ["model load (s)", load_s],
            ["time to first token, median (s)", statistics.median(ttfts)],
            ["generation speed, median (tokens/s)", statistics.median(speeds)],
            ["completion tokens per reply, median", statistics.median(tokens)],
        ],
        notes=[f"{repeats} replies of up to {max_tokens} tokens to a 40-token prompt."],
    )
