"""Like the real servers, the fakes take a burst of clients at once: twenty chat sessions
starting together once had a connection reset by the fake Ollama (CI, PostgreSQL
concurrency test), whose socketserver listened with a backlog of 5."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from standins.ollama_server import FakeOllama
from standins.openai_server import FakeOpenAI

CLIENTS = 200


@contextlib.contextmanager
def _ollama() -> Iterator[tuple[int, str]]:
    with FakeOllama(default_reply="Short answer.") as fake:
        yield int(fake.host.rsplit(":", 1)[1]), "/api/version"


@contextlib.contextmanager
def _openai() -> Iterator[tuple[int, str]]:
    with FakeOpenAI() as fake:
        yield fake.port, "/v1/models"


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


@pytest.mark.parametrize("server", [_ollama, _openai], ids=["ollama", "openai"])
def test_two_hundred_clients_connecting_at_once_are_all_answered(
    server: Callable[[], contextlib.AbstractContextManager[tuple[int, str]]],
) -> None:
    with server() as (port, path):
        start = threading.Barrier(CLIENTS)
        answers: list[bytes] = []
        failures: list[str] = []

        def client() -> None:
            start.wait(timeout=30)
            try:
                answers.append(_get(port, path))
            except OSError as exc:  # a timeout (SYNs dropped) or a reset
                failures.append(repr(exc))

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert len(answers) == CLIENTS
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers)
