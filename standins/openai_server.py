"""A fake OpenAI-compatible HTTP server for tests (standard library only).

It imitates the parts of the OpenAI REST API that the official ``openai`` Python
client uses for chat, closely enough that the real client talks to it as to the
real service:

- ``POST /v1/chat/completions``: a ``chat.completion`` object, or with
  ``"stream": true`` a ``text/event-stream`` of ``chat.completion.chunk`` events
  (``data: {...}`` lines; a first chunk carrying the role, one chunk per content
  token, a chunk with ``finish_reason``, a usage chunk with empty ``choices`` when
  ``stream_options.include_usage`` is true, then ``data: [DONE]``), sent with
  chunked transfer encoding. ``response_format`` (``json_schema`` included) is
  accepted and recorded; the scripted content is returned as is.
  ``max_tokens`` / ``max_completion_tokens`` truncate the reply with
  ``finish_reason: "length"``.
- ``GET /v1/models`` and ``GET /v1/models/{id}``: the configured models.
- Unknown paths: 404 with the real "Invalid URL" error body.

Replies are scripted with :meth:`FakeOpenAI.enqueue`; when the queue is empty the
reply is ``default_reply`` (deterministic). Token counts are deterministic too:
a prompt token is a whitespace-separated word of the message contents, and a
completion token is a word with its trailing whitespace (one per streamed chunk).

Faults it injects, per scripted reply (``enqueue``) or sticky for every request
(``set_fault`` / ``clear_fault``):

- :func:`unauthorized` 401 ``invalid_api_key`` (also sent automatically when the
  server has an ``api_key`` and a request does not carry ``Bearer <api_key>``);
- :func:`rate_limited` 429 ``rate_limit_exceeded`` with ``Retry-After`` (seconds)
  and optionally ``retry-after-ms``, the two headers the client reads;
- :func:`server_error` 500 ``server_error``;
- :func:`context_length_exceeded` 400 (also sent automatically when the prompt
  exceeds ``context_window`` tokens);
- :func:`model_not_found` 404 (also sent automatically for unknown models when
  ``reject_unknown_models`` is set);
- :class:`Hang`: accept the request and send nothing for N seconds or until the
  server stops (to test client timeouts);
- :class:`StreamCut`: start the response, then stall and/or drop the connection
  mid-way.

Every request that reaches the server, accepted or not, is recorded in
:attr:`FakeOpenAI.requests`; :meth:`FakeOpenAI.all_text` returns every message
content ever received, for "no private data reached the server" assertions.

Usage::

    with FakeOpenAI() as fake:
        fake.enqueue("Hello!", rate_limited(retry_after=2))
        client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ErrorReply",
    "FakeOpenAI",
    "Flood",
    "RawContent",
    "Hang",
    "RecordedRequest",
    "StreamCut",
    "context_length_exceeded",
    "model_not_found",
    "rate_limited",
    "server_error",
    "unauthorized",
]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o")
DEFAULT_REPLY = "Hello from the fake OpenAI server."
CREATED = 1_700_000_000  # a fixed timestamp keeps responses deterministic
SYSTEM_FINGERPRINT = "fp_fake"


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error response: ``status``, the ``{"error": ...}`` body and extra headers."""

    status: int
    error: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


@dataclass(frozen=True)
class Hang:
    """Accept the request and send nothing.

    ``seconds=None`` hangs until the server stops. After ``seconds`` the server
    replies with ``then`` (a slow server) or, when ``then`` is None, drops the
    connection. Stopping the server always ends the hang by dropping the connection.
    """

    seconds: float | None = None
    then: str | None = None


@dataclass(frozen=True)
class StreamCut:
    """Start replying with ``content``, then stop mid-way.

    Streaming: the role chunk and ``after_chunks`` content chunks are sent.
    Non-streaming: the headers and half of the JSON body are sent. Then the server
    waits ``stall_seconds`` (None: until the server stops) and drops the connection.
    """

    content: str = DEFAULT_REPLY
    after_chunks: int = 1
    stall_seconds: float | None = 0.0


@dataclass(frozen=True)
class Flood:
    """A misbehaving server that ignores ``max_tokens``: it streams ``token`` again and
    again — ``limit`` chunks, or (``limit=None``) until the client hangs up or the server
    stops. ``FakeOpenAI.flooded`` counts the content chunks written."""

    token: str = "more "
    limit: int | None = None


@dataclass(frozen=True)
class RawContent:
    """A streamed reply whose middle content chunk carries ``raw`` exactly as given on the
    wire, inside the JSON string: invalid UTF-8 (``b"\\xff\\xfe"``), or a JSON escape of a
    lone surrogate (``b"\\\\ud800"``), between the chunks ``before`` and ``after``."""

    raw: bytes
    before: str = "Caf"
    after: str = " is open."


Fault = ErrorReply | Hang | StreamCut | Flood | RawContent
Reply = str | Fault


def _mask_key(key: str) -> str:
    """Mask an API key the way OpenAI does in its 401 message (``sk-abc***wxyz``)."""
    if len(key) <= 8:
        return "*" * len(key) if key else ""
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def unauthorized(key: str = "sk-wrong") -> ErrorReply:
    """401 with the real ``invalid_api_key`` error body."""
    return ErrorReply(
        401,
        {
            "message": f"Incorrect API key provided: {_mask_key(key)}. You can find your "
            "API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        },
    )


def rate_limited(
    retry_after: float | None = 1,
    *,
    retry_after_ms: float | None = None,
    model: str = "gpt-4o-mini",
) -> ErrorReply:
    """429 ``rate_limit_exceeded``.

    ``retry_after`` goes in the ``Retry-After`` header (seconds) and
    ``retry_after_ms`` in ``retry-after-ms``; the client prefers the latter.
    """
    headers = [
        ("x-ratelimit-limit-requests", "3"),
        ("x-ratelimit-remaining-requests", "0"),
    ]
    wait = "1s"
    if retry_after is not None:
        headers.append(("Retry-After", _number(retry_after)))
        headers.append(("x-ratelimit-reset-requests", f"{_number(retry_after)}s"))
        wait = f"{_number(retry_after)}s"
    if retry_after_ms is not None:
        headers.append(("retry-after-ms", _number(retry_after_ms)))
    return ErrorReply(
        429,
        {
            "message": f"Rate limit reached for {model} in organization org-fake on requests "
            f"per min (RPM): Limit 3, Used 3, Requested 1. Please try again in {wait}.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        },
        tuple(headers),
    )


def server_error() -> ErrorReply:
    """500 with the real ``server_error`` body."""
    return ErrorReply(
        500,
        {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        },
    )


def context_length_exceeded(maximum: int = 128_000, requested: int = 130_000) -> ErrorReply:
    """400 ``context_length_exceeded``."""
    return ErrorReply(
        400,
        {
            "message": f"This model's maximum context length is {maximum} tokens. However, your "
            f"messages resulted in {requested} tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
    )


def model_not_found(model: str = "gpt-nonexistent") -> ErrorReply:
    """404 ``model_not_found``."""
    return ErrorReply(
        404,
        {
            "message": f"The model `{model}` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_found",
        },
    )


def _invalid_request(status: int, message: str, param: str | None = None) -> ErrorReply:
    return ErrorReply(
        status,
        {"message": message, "type": "invalid_request_error", "param": param, "code": None},
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when there was no (valid JSON) body
    raw_body: bytes = field(default=b"", repr=False)


def message_texts(body: Any) -> list[str]:
    """Every text a chat request body carries in its messages.

    String contents, ``text`` parts of list contents, and tool-call arguments.
    """
    texts: list[str] = []
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return texts
    for message in body["messages"]:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                texts.append(function["arguments"])
    return texts


# --------------------------------------------------------------------------- tokens


_TOKEN = re.compile(r"\S+\s*|\s+")


def completion_tokens(text: str) -> list[str]:
    """Split ``text`` into fake tokens: words with their trailing whitespace.

    ``"".join(completion_tokens(text)) == text``.
    """
    return _TOKEN.findall(text)


def prompt_token_count(body: dict[str, Any]) -> int:
    """Deterministic prompt size: the number of words in all message texts."""
    return sum(len(text.split()) for text in message_texts(body))


# --------------------------------------------------------------------------- server


class _Dropped(Exception):
    """The handler must close the connection without (finishing) a response."""


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5; a burst of clients then waits seconds for
    # SYN retries or is reset. The real servers (Go's net/http, uvicorn) listen with the
    # system's maximum, so the fake does too.
    request_queue_size = socket.SOMAXCONN
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (timeout, closed stream) or a stop is routine here.
        if self.fake._stopping.is_set() or isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self.server.fake._handle(self)
        except (_Dropped, OSError):  # OSError: the client went away
            self._drop()

    # -- low-level writing, used by FakeOpenAI._handle

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def send_json(self, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._common_headers(headers)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self._common_headers(())
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _common_headers(self, headers: Iterable[tuple[str, str]]) -> None:
        self.send_header("x-request-id", self.server.fake._next_id("req_"))
        self.send_header("openai-processing-ms", "1")
        for name, value in headers:
            self.send_header(name, value)


class FakeOpenAI:
    """A fake OpenAI server on ``127.0.0.1`` (random port) in a daemon thread.

    ``with FakeOpenAI() as fake:`` starts it and stops it; ``fake.base_url`` is
    ``http://127.0.0.1:PORT/v1``.

    Arguments:
        models: model ids listed by ``GET /v1/models``.
        api_key: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
        default_reply: the reply when the queue is empty; a string, or a function of
            the parsed request body returning one.
        context_window: when set, prompts of more tokens get ``context_length_exceeded``.
        reject_unknown_models: chat requests for a model not in ``models`` get a 404.
    """

    def __init__(
        self,
        *,
        models: Iterable[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        default_reply: str | Callable[[dict[str, Any]], str] = DEFAULT_REPLY,
        context_window: int | None = None,
        reject_unknown_models: bool = False,
    ) -> None:
        self.models = list(models)
        self.api_key = api_key
        self.default_reply = default_reply
        self.context_window = context_window
        self.reject_unknown_models = reject_unknown_models

        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._sticky: Fault | None = None
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self.flooded = 0  # content chunks sent by Flood replies
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeOpenAI:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; ends hangs and stalled streams by dropping their connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next chat completions: strings (content) or faults."""
        for reply in replies:
            if not isinstance(reply, str | Fault):
                raise TypeError(f"cannot enqueue {reply!r}")
        with self._lock:
            self._queue.extend(replies)

    def set_fault(self, fault: Fault) -> None:
        """Answer every request with ``fault`` until :meth:`clear_fault`.

        Error replies and hangs apply to every endpoint, the others to chat only.
        The sticky fault takes precedence over the queue, which is left untouched.
        """
        if not isinstance(fault, Fault):
            raise TypeError(f"not a fault: {fault!r}")
        with self._lock:
            self._sticky = fault

    def clear_fault(self) -> None:
        with self._lock:
            self._sticky = None

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    # -- capturing

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("FakeOpenAI has received no request")
            return self._requests[-1]

    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/chat/completions`` requests."""
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def all_text(self) -> str:
        """Every message content the server has received, one per line."""
        return "\n".join(text for r in self.requests for text in message_texts(r.body))

    def all_raw_text(self) -> str:
        """Everything received (request lines, headers, raw bodies), decoded leniently."""
        parts = []
        for r in self.requests:
            parts.append(f"{r.method} {r.path}")
            parts.extend(f"{name}: {value}" for name, value in r.headers.items())
            parts.append(r.raw_body.decode("utf-8", errors="replace"))
        return "\n".join(parts)

    def reset(self) -> None:
        """Forget recorded requests, queued replies and the sticky fault."""
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._sticky = None

    # -- internals

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}fake{next(self._ids):06d}"

    def _wait(self, seconds: float | None) -> bool:
        """Sleep up to ``seconds`` (None: forever); True when the server is stopping."""
        return self._stopping.wait(seconds)

    def _handle(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        headers = {name.lower(): value for name, value in h.headers.items()}
        with self._lock:
            self._requests.append(RecordedRequest(h.command, path, headers, body, raw))
            sticky = self._sticky

        if self.api_key is not None:
            auth = headers.get("authorization", "")
            given = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
            if given != self.api_key:
                self._send_error(h, unauthorized(given) if given else _missing_key())
                return

        route = path.rstrip("/")
        is_chat = h.command == "POST" and route == "/v1/chat/completions"
        if isinstance(sticky, ErrorReply):
            self._send_error(h, sticky)
            return
        if isinstance(sticky, Hang) and not is_chat:
            stopped = self._wait(sticky.seconds)
            if stopped or sticky.then is None:
                raise _Dropped
            # A slow server: after the hang, serve the request normally.

        if is_chat:
            if bad_json or not isinstance(body, dict):
                self._send_error(h, _unparsable_body())
                return
            self._chat(h, body, sticky)
        elif h.command == "GET" and route == "/v1/models":
            h.send_json(200, {"object": "list", "data": [_model(m) for m in self.models]})
        elif h.command == "GET" and route.startswith("/v1/models/"):
            model = route[len("/v1/models/") :]
            if model in self.models:
                h.send_json(200, _model(model))
            else:
                self._send_error(h, model_not_found(model))
        else:
            self._send_error(h, _invalid_request(404, f"Invalid URL ({h.command} {path})"))

    def _chat(self, h: _Handler, body: dict[str, Any], sticky: Fault | None) -> None:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            self._send_error(h, _invalid_request(400, "you must provide a model parameter"))
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            self._send_error(
                h,
                _invalid_request(400, "Missing required parameter: 'messages'.", param="messages"),
            )
            return
        if self.reject_unknown_models and model not in self.models:
            self._send_error(h, model_not_found(model))
            return
        prompt_tokens = prompt_token_count(body)
        if self.context_window is not None and prompt_tokens > self.context_window:
            self._send_error(h, context_length_exceeded(self.context_window, prompt_tokens))
            return

        reply: Reply
        if sticky is not None:
            reply = sticky
        else:
            with self._lock:
                queued = self._queue.popleft() if self._queue else None
            if queued is not None:
                reply = queued
            elif callable(self.default_reply):
                reply = self.default_reply(body)
            else:
                reply = self.default_reply
        self._apply(h, reply, body, stream=bool(body.get("stream")))

    def _apply(self, h: _Handler, reply: Reply, body: Any, *, stream: bool) -> None:
        if isinstance(reply, ErrorReply):
            self._send_error(h, reply)
        elif isinstance(reply, Hang):
            if self._wait(reply.seconds) or reply.then is None:
                raise _Dropped
            self._apply(h, reply.then, body, stream=stream)
        elif isinstance(reply, StreamCut):
            self._cut(h, reply, body, stream=stream)
        elif isinstance(reply, Flood):
            self._flood(h, reply, body)
        elif isinstance(reply, RawContent):
            self._raw(h, reply, body)
        elif stream:
            self._stream(h, body, reply)
        else:
            h.send_json(200, self._completion(body, reply))

    def _send_error(self, h: _Handler, error: ErrorReply) -> None:
        h.send_json(error.status, error.body(), error.headers)

    # -- chat completion payloads

    def _truncate(self, body: dict[str, Any], content: str) -> tuple[list[str], str]:
        tokens = completion_tokens(content)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            return tokens[:limit], "length"
        return tokens, "stop"

    def _usage(self, body: dict[str, Any], completion: int) -> dict[str, int]:
        prompt = prompt_token_count(body)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        tokens, finish_reason = self._truncate(body, content)
        return {
            "id": self._next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": CREATED,
            "model": body["model"],
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": self._usage(body, len(tokens)),
        }

    def _chunks(self, body: dict[str, Any], content: str) -> Iterable[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of a streamed reply, in order."""
        tokens, finish_reason = self._truncate(body, content)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunk_id = self._next_id("chatcmpl-")

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
            out = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": body["model"],
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices,
            }
            if include_usage:
                out["usage"] = usage
            return out

        wants_logprobs = body.get("logprobs") is True

        def choice(delta: dict[str, Any], finish: str | None = None,
                   logprobs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]

        yield chunk(choice({"role": "assistant", "content": "", "refusal": None}))
        for token in tokens:
            # OpenAI sends each token's log-probability beside it when asked (logprobs=true).
            logprobs = {"content": [_token_logprob(token)], "refusal": None} if (
                wants_logprobs) else None
            yield chunk(choice({"content": token}, logprobs=logprobs))
        yield chunk(choice({}, finish_reason))
        if include_usage:
            yield chunk([], self._usage(body, len(tokens)))

    def _stream(self, h: _Handler, body: dict[str, Any], content: str) -> None:
        h.start_chunked("text/event-stream; charset=utf-8")
        for item in self._chunks(body, content):
            h.write_chunk(_sse(item))
        h.write_chunk(b"data: [DONE]\n\n")
        h.end_chunked()

    def _flood(self, h: _Handler, flood: Flood, body: dict[str, Any]) -> None:
        """Stream ``flood.token`` past ``max_tokens`` (streaming requests only)."""
        chunks = iter(self._chunks(body, flood.token))
        h.start_chunked("text/event-stream; charset=utf-8")
        h.write_chunk(_sse(next(chunks)))  # the role chunk
        token_chunk = _sse(next(chunks))
        count = itertools.count() if flood.limit is None else range(flood.limit)
        for _ in count:
            if self._stopping.is_set():
                raise _Dropped
            h.write_chunk(token_chunk)  # an OSError here: the client hung up, as it should
            with self._lock:
                self.flooded += 1
        for item in chunks:
            h.write_chunk(_sse(item))
        h.write_chunk(b"data: [DONE]\n\n")
        h.end_chunked()

    def _raw(self, h: _Handler, raw: RawContent, body: dict[str, Any]) -> None:
        marker = "\u2063RAW\u2063"  # replaced by the raw bytes after JSON encoding
        items = list(self._chunks(body, f"{raw.before} {marker} {raw.after}"))
        h.start_chunked("text/event-stream; charset=utf-8")
        for item in items:
            data = _sse(item)
            h.write_chunk(data.replace(json.dumps(marker)[1:-1].encode(), raw.raw))
        h.write_chunk(b"data: [DONE]\n\n")
        h.end_chunked()

    def _cut(self, h: _Handler, cut: StreamCut, body: Any, *, stream: bool) -> None:
        if stream:
            h.start_chunked("text/event-stream; charset=utf-8")
            for item in itertools.islice(self._chunks(body, cut.content), 1 + cut.after_chunks):
                h.write_chunk(_sse(item))
        else:
            data = json.dumps(self._completion(body, cut.content)).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h._common_headers(())
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
        if cut.stall_seconds != 0:
            self._wait(cut.stall_seconds)
        raise _Dropped


LOGPROB = -0.05  # what every token's log-probability is said to be, when asked for


def _token_logprob(token: str) -> dict[str, Any]:
    """One ``logprobs.content`` entry, as OpenAI writes it."""
    return {"token": token, "logprob": LOGPROB, "bytes": list(token.encode("utf-8")),
            "top_logprobs": []}


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "system"}


def _missing_key() -> ErrorReply:
    return ErrorReply(
        401,
        {
            "message": "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
            "as the password field (with blank username) if you're accessing the API from your "
            "browser and are prompted for a username and password. You can obtain an API key "
            "from https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
    )


def _unparsable_body() -> ErrorReply:
    return _invalid_request(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you "
        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but "
        "what was sent was not valid JSON. If you have trouble figuring out how to fix this, "
        "please contact us through our help center at help.openai.com.)",
    )
