"""A protocol-faithful fake Ollama server for tests (standard library only).

It imitates the parts of the Ollama REST API that Ambient and the official
``ollama`` Python client use, closely enough that ``ollama.Client(host=fake.host)``
cannot tell it from a real server:

* ``GET /`` and ``HEAD /``      -> ``200 text/plain`` "Ollama is running"
* ``GET /api/version``          -> ``{"version": "..."}``
* ``GET /api/tags``             -> installed models (name, model, modified_at, size,
  digest, details{parent_model, format, family, families, parameter_size,
  quantization_level})
* ``GET /api/ps``               -> models "loaded" by earlier chat/generate calls
* ``POST /api/show``            -> details, model_info (with e.g.
  ``"gemma2.context_length"``), template, parameters, capabilities, modelfile;
  ``404 {"error": "model 'x' not found"}`` for an unknown model
* ``POST /api/chat``            -> NDJSON stream (``application/x-ndjson``, chunked) of
  ``{"model", "created_at", "message": {"role": "assistant", "content"}, "done": false}``
  lines and a final ``done: true`` line carrying ``done_reason`` ("stop" or "length")
  and the counters ``total_duration, load_duration, prompt_eval_count,
  prompt_eval_duration, eval_count, eval_duration``; or, with ``"stream": false``, one
  JSON object with the whole message and the same counters.  As in Ollama, a
  missing ``stream`` means streaming.
* ``POST /api/generate``        -> the same with a ``"response"`` field (and ``context``)
* anything else                 -> ``404 "404 page not found"`` / ``405`` like gin.

Errors use Ollama's shapes: malformed JSON -> ``400 {"error": "invalid character ..."}``,
empty body -> ``400 {"error": "missing request body"}``, unknown model on chat ->
``404 {"error": "model \\"x\\" not found, try pulling it first"}`` (pass
``chat_not_found=NOT_FOUND_SHORT`` for the wording of newer servers,
``model 'x' not found``, which /api/generate and /api/show always use).
A chat without messages (or a generate without prompt) only "loads" the model and
answers ``done_reason: "load"`` (``"unload"`` with ``keep_alive: 0``), as Ollama does.

Scripted behaviour
------------------
Replies to /api/chat and /api/generate come from a FIFO queue
(``fake.enqueue("text", Reply(...), {...})``); when it is empty a deterministic
default is used (``"Echo: <last user message>"``, or a JSON object when the request
has ``format``).  With ``format`` ("json" or a JSON schema) the scripted text is
returned as is, valid or not; the request body (and so the format) is recorded.
Each reply is split into word-sized chunks (``" word"``), one NDJSON line each.

Counters are deterministic: ``prompt_eval_count`` = 1 (BOS) + for each message
(chat: every message content; generate: system and prompt) its whitespace-split
word count + 4 template tokens, capped at ``num_ctx`` (``options.num_ctx``, else
``default_num_ctx``), the way Ollama truncates a prompt that does not fit;
``eval_count`` = number of chunks sent.  ``options.num_predict`` > 0 truncates the
reply to that many chunks and sets ``done_reason`` to ``"length"``.  Durations (ns):
load 5 ms, prompt eval 1 ms per prompt token, eval 10 ms per chunk, total = their sum.

Fault injection
---------------
A :class:`Reply` (or a dict with its fields) can carry, per scripted reply, or for
every chat/generate request through ``FakeOllama(fault=Reply(...))`` /
``fake.fault = ...`` (fields set on the scripted reply win):

* ``status=500, error="..."``   -> HTTP error ``{"error": "..."}`` instead of a reply;
* ``error_after=N``             -> N content lines, then an ``{"error": "..."}`` line and
  a normal end of stream, as Ollama does when generation fails mid-way (a non-streamed
  request gets ``500 {"error": ...}``);
* ``cut_after=N``               -> N content lines, then the connection is closed without
  the done line or the final empty chunk (non-streamed: closed without a response);
* ``first_byte_delay=s``        -> sleep before the status line (model loading);
* ``chunk_delay=s``             -> sleep before each chunk (slow generation; a
  non-streamed request waits for all of them);
* ``flood=True``                -> a misbehaving server (a patched build, a proxy) that
  ignores ``num_predict`` and repeats the reply's chunks until the client hangs up or
  the server stops (streamed requests only); ``fake.flooded`` counts the lines sent.

"Ollama not running" is not a fault of this server: use :func:`closed_port_host`,
an ``http://127.0.0.1:PORT`` where nothing listens.

Every request (method, path, headers, parsed JSON body, raw bytes) is recorded in
``fake.requests`` (a thread-safe snapshot list of :class:`RecordedRequest`).

The server runs a ``ThreadingHTTPServer`` on 127.0.0.1, port 0, in a daemon thread;
handler threads are daemons too, sockets have a timeout, and ``stop()`` (also the end
of a ``with`` block) wakes up sleeping handlers and closes open connections, so a test
never hangs on it.

Usage::

    with FakeOllama(models=["gemma2:2b"]) as fake:
        fake.enqueue("Hello there!", Reply.error_mid_stream("partial answer", after=1))
        client = ollama.Client(host=fake.host, timeout=5)
        client.chat(model="gemma2:2b", messages=[{"role": "user", "content": "hi"}])
        assert fake.last_request("/api/chat").body["model"] == "gemma2:2b"
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_MODELS",
    "NOT_FOUND_PULL_HINT",
    "NOT_FOUND_SHORT",
    "FakeOllama",
    "ModelSpec",
    "RecordedRequest",
    "Reply",
    "closed_port_host",
    "count_prompt_tokens",
    "split_into_chunks",
]

DEFAULT_MODELS = ("gemma2:2b", "llama3.2:1b")

# Ollama's own wordings for an unknown model.  /api/chat in the servers of the
# 0.1-0.5 era (and the scheduler of every version) says the first one; /api/generate,
# /api/show and the /api/chat of newer servers say the second one.
NOT_FOUND_PULL_HINT = 'model "{model}" not found, try pulling it first'
NOT_FOUND_SHORT = "model '{model}' not found"

DEFAULT_ERROR = "an error was encountered while running the model: unexpected EOF"

BOS_TOKENS = 1  # counted once per prompt
TEMPLATE_TOKENS_PER_MESSAGE = 4  # role markers around each message

LOAD_DURATION_NS = 5_000_000
PROMPT_EVAL_NS_PER_TOKEN = 1_000_000
EVAL_NS_PER_TOKEN = 10_000_000


# --------------------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One installed model, as /api/tags, /api/show and /api/ps describe it."""

    name: str
    family: str = "llama"
    architecture: str = "llama"  # prefix of the model_info keys ("llama.context_length")
    parameter_size: str = "7B"
    quantization_level: str = "Q4_K_M"
    context_length: int = 4096
    embedding_length: int = 4096
    size: int = 4_000_000_000
    template: str = "{{ .Prompt }}"
    parameters: str = ""
    capabilities: tuple[str, ...] = ("completion",)
    modified_at: str = "2024-10-01T12:00:00.123456789Z"

    @property
    def digest(self) -> str:
        """A stable 64-hex digest derived from the name (real ones hash the manifest)."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }

    def model_info(self) -> dict[str, Any]:
        arch = self.architecture
        return {
            "general.architecture": arch,
            "general.basename": self.name.split(":")[0],
            "general.file_type": 15,
            "general.parameter_count": _parameter_count(self.parameter_size),
            "general.quantization_version": 2,
            f"{arch}.attention.head_count": 8,
            f"{arch}.block_count": 26,
            f"{arch}.context_length": self.context_length,
            f"{arch}.embedding_length": self.embedding_length,
            "tokenizer.ggml.model": "llama",
        }

    def tags_entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": self.digest,
            "details": self.details(),
        }


_GEMMA_TEMPLATE = (
    "<start_of_turn>user\n{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}<end_of_turn>\n"
    "<start_of_turn>model\n{{ .Response }}<end_of_turn>\n"
)
_LLAMA3_TEMPLATE = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def _params(**values: Any) -> str:
    """Format model parameters the way /api/show does (``%-30s %#v``, one per line)."""
    lines = []
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {json.dumps(item)}")
    return "\n".join(lines)


# Realistic metadata for the models Ambient talks about; others get guessed values.
_KNOWN: dict[str, dict[str, Any]] = {
    "gemma2:2b": dict(
        family="gemma2",
        architecture="gemma2",
        parameter_size="2.6B",
        quantization_level="Q4_0",
        context_length=8192,
        embedding_length=2304,
        size=1_629_518_495,
        template=_GEMMA_TEMPLATE,
        parameters=_params(stop=["<start_of_turn>", "<end_of_turn>"]),
    ),
    "gemma2:9b": dict(
        family="gemma2",
        architecture="gemma2",
        parameter_size="9.2B",
        quantization_level="Q4_0",
        context_length=8192,
        embedding_length=3584,
        size=5_443_152_417,
        template=_GEMMA_TEMPLATE,
        parameters=_params(stop=["<start_of_turn>", "<end_of_turn>"]),
    ),
    "llama3.2:1b": dict(
        family="llama",
        architecture="llama",
        parameter_size="1.2B",
        quantization_level="Q8_0",
        context_length=131072,
        embedding_length=2048,
        size=1_321_098_329,
        template=_LLAMA3_TEMPLATE,
        capabilities=("completion", "tools"),
        parameters=_params(stop=["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]),
    ),
    "llama3.2:3b": dict(
        family="llama",
        architecture="llama",
        parameter_size="3.2B",
        quantization_level="Q4_K_M",
        context_length=131072,
        embedding_length=3072,
        size=2_019_393_189,
        template=_LLAMA3_TEMPLATE,
        capabilities=("completion", "tools"),
        parameters=_params(stop=["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]),
    ),
}


def _parameter_count(parameter_size: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMBT]?)", parameter_size.strip().upper())
    if not match:
        return 0
    scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[match.group(2)]
    return int(float(match.group(1)) * scale)


def canonical_name(name: str) -> str:
    """Normalise a model name the way Ollama matches it: lower case, ``:latest`` default."""
    name = name.strip().lower()
    for prefix in ("registry.ollama.ai/library/", "registry.ollama.ai/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def model_spec(name: str) -> ModelSpec:
    """A :class:`ModelSpec` for ``name``: known metadata, or values guessed from it."""
    name = name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
    if name in _KNOWN:
        return ModelSpec(name=name, **_KNOWN[name])
    base, _, tag = name.rpartition(":")
    family_match = re.match(r"[a-z]+", base.rsplit("/", 1)[-1])
    family = family_match.group(0) if family_match else "llama"
    size_match = re.match(r"(\d+(?:\.\d+)?)([bm])", tag)
    parameter_size = size_match.group(0).upper() if size_match else "7B"
    return ModelSpec(name=name, family=family, architecture=family, parameter_size=parameter_size)


# --------------------------------------------------------------------------- replies


def _token_logprob(chunk: str, scripted: tuple[float, ...] | None, index: int) -> dict:
    """One entry of a streamed line's ``logprobs`` list, as Ollama writes it."""
    value = scripted[index] if scripted is not None and index < len(scripted) else -0.05
    return {"token": chunk, "logprob": value, "bytes": list(chunk.encode("utf-8"))}


@dataclasses.dataclass
class Reply:
    """A scripted reply to one /api/chat or /api/generate request, with optional faults.

    ``None`` means "not set": the instance-wide ``fault`` (if any) fills the gap.
    ``error_after`` and ``cut_after`` count content chunks sent before the fault.
    """

    text: str = ""
    status: int | None = None
    error: str | None = None
    error_after: int | None = None
    cut_after: int | None = None
    first_byte_delay: float | None = None
    chunk_delay: float | None = None
    done_reason: str | None = None
    flood: bool | None = None
    # Each chunk's log-probability when the request asks for ``"logprobs": true``
    # (Ollama sends ``logprobs: [{token, logprob, bytes}]`` on every streamed line);
    # chunks past the end of this tuple, or all when it is None, get -0.05.
    logprobs: tuple[float, ...] | None = None

    @classmethod
    def http_error(cls, status: int = 500, error: str = DEFAULT_ERROR) -> Reply:
        """Answer with ``status`` and ``{"error": error}`` instead of generating."""
        return cls(status=status, error=error)

    @classmethod
    def error_mid_stream(cls, text: str, after: int = 1, error: str = DEFAULT_ERROR) -> Reply:
        """Send ``after`` chunks of ``text``, then an ``{"error": ...}`` line, then end."""
        return cls(text=text, error_after=after, error=error)

    @classmethod
    def cut_mid_stream(cls, text: str, after: int = 1) -> Reply:
        """Send ``after`` chunks of ``text``, then drop the connection."""
        return cls(text=text, cut_after=after)

    @classmethod
    def flooding(cls, text: str = "more") -> Reply:
        """Ignore ``num_predict`` and repeat ``text``'s chunks until the client hangs up."""
        return cls(text=text, flood=True)

    @classmethod
    def slow(cls, text: str, first_byte_delay: float = 0.0, chunk_delay: float = 0.0) -> Reply:
        """Delay the first byte and/or every chunk."""
        return cls(text=text, first_byte_delay=first_byte_delay, chunk_delay=chunk_delay)

    def merged_with(self, fault: Reply | None) -> Reply:
        """This reply with unset fault fields taken from ``fault``."""
        if fault is None:
            return self
        values = {
            field.name: getattr(self, field.name)
            if getattr(self, field.name) is not None
            else getattr(fault, field.name)
            for field in dataclasses.fields(self)
            if field.name != "text"
        }
        return Reply(text=self.text, **values)


def _as_reply(value: str | Reply | Mapping[str, Any]) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(text=value)
    if isinstance(value, Mapping):
        return Reply(**value)
    raise TypeError(f"a reply is a str, a Reply or a dict, not {type(value).__name__}")


def split_into_chunks(text: str) -> list[str]:
    """Split ``text`` into word-sized chunks, each word with its leading whitespace.

    ``"".join(split_into_chunks(t)) == t`` always holds.
    """
    chunks = re.findall(r"\s*\S+", text)
    tail = text[len("".join(chunks)) :]
    if tail:
        if chunks:
            chunks[-1] += tail
        else:
            chunks = [tail]
    return chunks


def count_prompt_tokens(texts: Iterable[str]) -> int:
    """Deterministic prompt size: BOS + per message (words + template tokens)."""
    return BOS_TOKENS + sum(len(t.split()) + TEMPLATE_TOKENS_PER_MESSAGE for t in texts)


def _now() -> str:
    """``created_at`` the way Go marshals ``time.Now().UTC()`` (nanosecond RFC 3339)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def _go_json(obj: Any) -> bytes:
    """JSON as Go's encoder writes it: compact, with <, >, & escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode()


_GO_SYNTAX_CONTEXTS = (
    # (start of Python's message, how Go's encoding/json goes on)
    ("Expecting value", "looking for beginning of value"),
    ("Expecting property name", "looking for beginning of object key string"),
    ("Expecting ':' delimiter", "after object key"),
    ("Expecting ',' delimiter", "after object key:value pair"),
)


def _go_json_error(exc: json.JSONDecodeError) -> str:
    """Approximate Go's encoding/json syntax error text."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected EOF"
    context = next((go for py, go in _GO_SYNTAX_CONTEXTS if exc.msg.startswith(py)), "in literal")
    return f"invalid character '{exc.doc[exc.pos]}' {context}"


# --------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None when there was no body or it was not JSON
    raw: bytes

    @property
    def format(self) -> Any:
        """The ``format`` of a chat/generate request ("json", a schema dict, or None)."""
        return self.body.get("format") if isinstance(self.body, dict) else None

    @property
    def options(self) -> dict[str, Any]:
        options = self.body.get("options") if isinstance(self.body, dict) else None
        return options if isinstance(options, dict) else {}


class _Abort(Exception):
    """Raised inside a handler to drop the connection without more output."""


# --------------------------------------------------------------------------- the server


class FakeOllama:
    """A fake Ollama server on 127.0.0.1 (see the module docstring).

    Args:
        models: installed models, names or :class:`ModelSpec` (default: DEFAULT_MODELS).
        default_reply: text, or ``callable(endpoint, body) -> str``, used when the queue
            is empty (``endpoint`` is "chat" or "generate").  Default: echo.
        fault: a :class:`Reply` (or dict) whose fault fields apply to every chat and
            generate request; also settable later as ``fake.fault``.
        version: what /api/version reports.
        default_num_ctx: context size when a request sets no ``options.num_ctx``.
        chat_not_found: the /api/chat 404 message, a format string with ``{model}``.
        request_timeout: socket timeout of every connection, in seconds.
    """

    def __init__(
        self,
        models: Iterable[str | ModelSpec] | None = None,
        *,
        default_reply: str | Callable[[str, dict[str, Any]], str] | None = None,
        fault: Reply | Mapping[str, Any] | None = None,
        version: str = "0.6.8",
        default_num_ctx: int = 4096,
        chat_not_found: str = NOT_FOUND_PULL_HINT,
        request_timeout: float = 10.0,
    ) -> None:
        self._lock = threading.Lock()
        self._models: list[ModelSpec] = []
        self.set_models(DEFAULT_MODELS if models is None else models)
        self.default_reply = default_reply
        self.fault: Reply | None = None if fault is None else _as_reply(fault)
        self.version = version
        self.default_num_ctx = default_num_ctx
        self.chat_not_found = chat_not_found
        self.request_timeout = request_timeout
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._loaded: dict[str, tuple[ModelSpec, int]] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self.flooded = 0  # lines sent by ``flood`` replies
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeOllama:
        if self._httpd is not None:
            raise RuntimeError("FakeOllama is already running")
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeOllama:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers and close open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        """Client connections whose handler has not finished yet."""
        with self._lock:
            return len(self._connections)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOllama is not running")
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        """``http://127.0.0.1:PORT``, for ``ollama.Client(host=...)`` or OLLAMA_HOST."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.host + path

    # -- scripting ------------------------------------------------------------------

    def set_models(self, models: Iterable[str | ModelSpec]) -> None:
        """Replace the installed models."""
        specs = [m if isinstance(m, ModelSpec) else model_spec(m) for m in models]
        with self._lock:
            self._models = specs

    @property
    def models(self) -> list[ModelSpec]:
        with self._lock:
            return list(self._models)

    def enqueue(self, *replies: str | Reply | Mapping[str, Any]) -> None:
        """Queue replies for the next chat/generate requests, in order."""
        converted = [_as_reply(r) for r in replies]
        with self._lock:
            self._queue.extend(converted)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._queue)

    def clear_queue(self) -> None:
        with self._lock:
            self._queue.clear()

    # -- assertions -----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def last_request(self, path: str | None = None) -> RecordedRequest:
        found = self.requests if path is None else self.requests_to(path)
        if not found:
            raise AssertionError(f"no request{' to ' + path if path else ''} was received")
        return found[-1]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- used by the handler ---------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _find_model(self, name: str) -> ModelSpec | None:
        wanted = canonical_name(name)
        with self._lock:
            return next((m for m in self._models if canonical_name(m.name) == wanted), None)

    def _mark_loaded(self, spec: ModelSpec, num_ctx: int) -> None:
        with self._lock:
            self._loaded[spec.name] = (spec, num_ctx)

    def _loaded_models(self) -> list[tuple[ModelSpec, int]]:
        with self._lock:
            return list(self._loaded.values())

    def _next_reply(self, endpoint: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            reply = self._queue.popleft() if self._queue else None
            fault = self.fault
        if reply is None:
            reply = Reply(text=self._default_text(endpoint, body))
        return reply.merged_with(fault)

    def _default_text(self, endpoint: str, body: dict[str, Any]) -> str:
        if callable(self.default_reply):
            return self.default_reply(endpoint, body)
        if isinstance(self.default_reply, str):
            return self.default_reply
        if endpoint == "chat":
            users = [m for m in body.get("messages", []) if m.get("role") == "user"]
            last = str(users[-1].get("content", "")) if users else ""
        else:
            last = str(body.get("prompt", ""))
        if body.get("format"):
            return json.dumps({"echo": last})
        return f"Echo: {last}"

    def _sleep(self, seconds: float | None) -> None:
        """Sleep, but give up (and drop the connection) as soon as the server stops."""
        if seconds and self._stopping.wait(seconds):
            raise _Abort
        if self._stopping.is_set():
            raise _Abort


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5; a burst of clients then waits seconds for
    # SYN retries or is reset. The real servers (Go's net/http, uvicorn) listen with the
    # system's maximum, so the fake does too.
    request_queue_size = socket.SOMAXCONN
    block_on_close = False
    allow_reuse_address = True
    fake: FakeOllama


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the fake; one instance per connection."""

    protocol_version = "HTTP/1.1"
    server: _Server
    _wants_logprobs = False

    # -- plumbing -------------------------------------------------------------------

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake

    def setup(self) -> None:
        self.timeout = self.server.fake.request_timeout
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.fake._track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        with contextlib.suppress(OSError, _Abort):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def send_response(self, code: int, message: str | None = None) -> None:
        # Go's net/http sends a Date header but no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any) -> None:
        self._send(status, _go_json(obj), "application/json; charset=utf-8")

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _stream_line(self, obj: Any) -> None:
        data = _go_json(obj) + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        """Close the socket now, leaving the response unfinished."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Abort

    # -- routing --------------------------------------------------------------------

    _ROUTES: dict[str, dict[str, str]] = {
        "/": {"GET": "_root", "HEAD": "_root"},
        "/api/version": {"GET": "_version", "HEAD": "_version"},
        "/api/tags": {"GET": "_tags", "HEAD": "_tags"},
        "/api/ps": {"GET": "_ps"},
        "/api/show": {"POST": "_show"},
        "/api/chat": {"POST": "_chat"},
        "/api/generate": {"POST": "_generate"},
    }

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        body = None
        decode_error: json.JSONDecodeError | None = None
        if raw.strip():
            try:
                body = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError as exc:
                decode_error = exc
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(RecordedRequest(self.command, path, headers, body, raw))

        methods = self._ROUTES.get(path)
        if methods is None:
            self._send_text(404, "404 page not found")
            return
        if self.command not in methods:
            self._send_text(405, "405 method not allowed")
            return
        handler = getattr(self, methods[self.command])
        if self.command == "POST":
            if decode_error is not None:
                self._send_error(400, _go_json_error(decode_error))
                return
            if not raw.strip():
                self._send_error(400, "missing request body")
                return
            if body is None:
                body = {}  # JSON null decodes into an empty Go struct
            if not isinstance(body, dict):
                self._send_error(
                    400,
                    f"json: cannot unmarshal {_go_kind(body)} into Go value "
                    f"of type api.{_REQUEST_TYPES[path]}",
                )
                return
            handler(body)
        else:
            handler()

    # -- simple endpoints -----------------------------------------------------------

    def _root(self) -> None:
        self._send_text(200, "Ollama is running")

    def _version(self) -> None:
        self._send_json(200, {"version": self.fake.version})

    def _tags(self) -> None:
        self._send_json(200, {"models": [m.tags_entry() for m in self.fake.models]})

    def _ps(self) -> None:
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        models = [
            {
                "name": spec.name,
                "model": spec.name,
                "size": spec.size,
                "digest": spec.digest,
                "details": spec.details(),
                "expires_at": expires,
                "size_vram": 0,
                "context_length": num_ctx,
            }
            for spec, num_ctx in self.fake._loaded_models()
        ]
        self._send_json(200, {"models": models})

    def _show(self, body: dict[str, Any]) -> None:
        name = body.get("model") or body.get("name") or ""
        if not isinstance(name, str) or not name:
            self._send_error(400, "model is required")
            return
        spec = self.fake._find_model(name)
        if spec is None:
            self._send_error(404, NOT_FOUND_SHORT.format(model=name))
            return
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {spec.name}\n\n"
            f"FROM /root/.ollama/models/blobs/sha256-{spec.digest}\n"
            f'TEMPLATE """{spec.template}"""\n'
            + "".join(
                f"PARAMETER {' '.join(line.split(None, 1))}\n"
                for line in spec.parameters.splitlines()
            )
        )
        self._send_json(
            200,
            {
                "license": "",
                "modelfile": modelfile,
                "parameters": spec.parameters,
                "template": spec.template,
                "details": spec.details(),
                "model_info": spec.model_info(),
                "capabilities": list(spec.capabilities),
                "modified_at": spec.modified_at,
            },
        )

    # -- generation -----------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        self._generation("chat", body)

    def _generate(self, body: dict[str, Any]) -> None:
        self._generation("generate", body)

    def _generation(self, endpoint: str, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model is None:
            model = ""
        if not isinstance(model, str):
            self._send_error(
                400,
                f"json: cannot unmarshal {_go_kind(model)} into Go struct "
                f"field {_REQUEST_TYPES_BY_ENDPOINT[endpoint]}.model of type "
                "string",
            )
            return
        options = body.get("options") or {}
        messages = body.get("messages") or []
        if not isinstance(options, dict):
            self._send_error(
                400,
                "json: cannot unmarshal into Go struct field .options of "
                "type map[string]interface {}",
            )
            return
        if endpoint == "chat":
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                self._send_error(
                    400,
                    "json: cannot unmarshal into Go struct field "
                    "ChatRequest.messages of type []api.Message",
                )
                return
            if not model:
                self._send_error(400, "model is required")
                return
        spec = self.fake._find_model(model) if model else None
        if spec is None:
            template = self.fake.chat_not_found if endpoint == "chat" else NOT_FOUND_SHORT
            self._send_error(404, template.format(model=model))
            return

        num_ctx = options.get("num_ctx")
        if not isinstance(num_ctx, int) or num_ctx <= 0:
            num_ctx = self.fake.default_num_ctx
        if endpoint == "chat":
            texts = [str(m.get("content") or "") for m in messages]
            empty = not messages
        else:
            texts = [str(body[k]) for k in ("system", "prompt") if body.get(k)]
            empty = not body.get("prompt")
        if empty:
            # Ollama only loads (or, with keep_alive 0, unloads) the model.
            reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
            if reason == "load":
                self.fake._mark_loaded(spec, num_ctx)
            final = self._frame(endpoint, model, "")
            final.update(done=True, done_reason=reason)
            self._send_json(200, final)
            return

        self._wants_logprobs = body.get("logprobs") is True
        reply = self.fake._next_reply(endpoint, body)
        self.fake._sleep(reply.first_byte_delay)
        if reply.status is not None:
            self._send_error(reply.status, reply.error or DEFAULT_ERROR)
            return
        self.fake._mark_loaded(spec, num_ctx)

        chunks = split_into_chunks(reply.text)
        done_reason = "stop"
        num_predict = options.get("num_predict")
        if isinstance(num_predict, int) and 0 < num_predict < len(chunks):
            chunks = chunks[:num_predict]
            done_reason = "length"
        done_reason = reply.done_reason or done_reason
        prompt_tokens = min(count_prompt_tokens(texts), num_ctx)

        if body.get("stream", True) is False:
            self._reply_whole(endpoint, model, reply, chunks, done_reason, prompt_tokens)
        else:
            self._reply_stream(endpoint, model, reply, chunks, done_reason, prompt_tokens)

    @staticmethod
    def _frame(endpoint: str, model: str, content: str) -> dict[str, Any]:
        frame: dict[str, Any] = {"model": model, "created_at": _now()}
        if endpoint == "chat":
            frame["message"] = {"role": "assistant", "content": content}
        else:
            frame["response"] = content
        frame["done"] = False
        return frame

    def _final(
        self,
        endpoint: str,
        model: str,
        content: str,
        done_reason: str,
        prompt_tokens: int,
        eval_tokens: int,
    ) -> dict[str, Any]:
        final = self._frame(endpoint, model, content)
        final["done"] = True
        final["done_reason"] = done_reason
        if endpoint == "generate":
            final["context"] = list(range(1, prompt_tokens + eval_tokens + 1))
        prompt_ns = prompt_tokens * PROMPT_EVAL_NS_PER_TOKEN
        eval_ns = eval_tokens * EVAL_NS_PER_TOKEN
        final.update(
            total_duration=LOAD_DURATION_NS + prompt_ns + eval_ns,
            load_duration=LOAD_DURATION_NS,
            prompt_eval_count=prompt_tokens,
            prompt_eval_duration=prompt_ns,
            eval_count=eval_tokens,
            eval_duration=eval_ns,
        )
        return final

    def _reply_stream(
        self,
        endpoint: str,
        model: str,
        reply: Reply,
        chunks: list[str],
        done_reason: str,
        prompt_tokens: int,
    ) -> None:
        self._start_stream()
        if reply.flood:
            self._flood(endpoint, model, split_into_chunks(reply.text) or ["more"], reply)
        for index, chunk in enumerate(chunks):
            if reply.error_after is not None and index >= reply.error_after:
                break
            if reply.cut_after is not None and index >= reply.cut_after:
                break
            self.fake._sleep(reply.chunk_delay)
            frame = self._frame(endpoint, model, chunk)
            if self._wants_logprobs:
                frame["logprobs"] = [_token_logprob(chunk, reply.logprobs, index)]
            self._stream_line(frame)
        if reply.error_after is not None:
            self._stream_line({"error": reply.error or DEFAULT_ERROR})
            self._end_stream()
            return
        if reply.cut_after is not None:
            self._drop_connection()
        self.fake._sleep(reply.chunk_delay)
        self._stream_line(self._final(endpoint, model, "", done_reason, prompt_tokens, len(chunks)))
        self._end_stream()

    def _flood(self, endpoint: str, model: str, chunks: list[str], reply: Reply) -> None:
        for index in itertools.count():
            if self.fake._stopping.is_set():
                self._drop_connection()
            self.fake._sleep(reply.chunk_delay)
            try:
                self._stream_line(self._frame(endpoint, model, chunks[index % len(chunks)]))
            except OSError:  # the client hung up, as it should
                self._drop_connection()
            with self.fake._lock:
                self.fake.flooded += 1

    def _reply_whole(
        self,
        endpoint: str,
        model: str,
        reply: Reply,
        chunks: list[str],
        done_reason: str,
        prompt_tokens: int,
    ) -> None:
        limits = [n for n in (reply.error_after, reply.cut_after) if n is not None]
        produced = min([len(chunks), *limits])
        for _ in range(produced + (0 if limits else 1)):
            self.fake._sleep(reply.chunk_delay)
        if reply.error_after is not None:
            self._send_error(500, reply.error or DEFAULT_ERROR)
            return
        if reply.cut_after is not None:
            self._drop_connection()
        self._send_json(
            200,
            self._final(endpoint, model, "".join(chunks), done_reason, prompt_tokens, len(chunks)),
        )


_REQUEST_TYPES = {
    "/api/show": "ShowRequest",
    "/api/chat": "ChatRequest",
    "/api/generate": "GenerateRequest",
}
_REQUEST_TYPES_BY_ENDPOINT = {"chat": "ChatRequest", "generate": "GenerateRequest"}


def _go_kind(value: Any) -> str:
    """The JSON kind Go names in "cannot unmarshal <kind>" errors."""
    kinds = {list: "array", dict: "object", str: "string", bool: "bool"}
    return kinds.get(type(value), "number")


def closed_port_host() -> str:
    """``http://127.0.0.1:PORT`` with nothing listening, to imitate Ollama not running.

    The port was free a moment ago (bound, then released without listening); a
    connection to it is refused.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
