"""In-process llama.cpp with JSON-schema-constrained decoding: works with no network and no key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from horizonscan.llm.base import ChatRequest, ChatResponse, ConfigurationError, Provider, ProviderError
from horizonscan.llm.errors import context_limit
from horizonscan.llm.local_model import MODEL_NAME, default_model_path

# The model is loaded once per process and shared: loading costs seconds and a GB of memory.
_MODELS: dict[tuple[str, int], Any] = {}
_LOAD_LOCK = threading.Lock()


class LocalProvider(Provider):
    name = "local"
    default_concurrency = 1
    modes = ("grammar",)  # llama.cpp's JSON-schema grammar: nothing to step down to

    def __init__(
        self,
        path: str | None = None,
        *,
        n_ctx: int = 8192,
        threads: int | None = None,
        progress: Callable[[str], None] | None = None,
        sampling: dict[str, float] | None = None,
    ) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise ConfigurationError(
                "local: llama-cpp-python is not installed; run: "
                "CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'horizonscan[local]'"
            ) from exc
        self._path = path
        self._progress = progress
        self.model = Path(path).stem if path else MODEL_NAME
        self.n_ctx = n_ctx
        self.context_tokens = n_ctx
        self._threads = threads
        self._lock = threading.Lock()  # a llama.cpp context serves one request at a time
        self._llm: Any = None
        # Small models loop and copy under near-greedy decoding; these settings keep them varied.
        self.sampling = {"repeat_penalty": 1.1, "presence_penalty": 0.0, "frequency_penalty": 0.0}
        self.sampling.update(sampling or {})

    @property
    def constrained_decoding(self) -> bool:
        return True  # llama.cpp's grammar, in process

    def _load(self) -> Any:
        if self._llm is not None:
            return self._llm
        import llama_cpp

        if self._path:
            path = Path(self._path).expanduser()
            if not path.is_file():
                raise ConfigurationError(f"local: no model file at {path}")
        else:
            path = default_model_path(self._progress)
        key = (str(path), self.n_ctx)
        with _LOAD_LOCK:
            if key not in _MODELS:
                if self._progress:
                    self._progress(f"Loading local model {path.name} …")
                _MODELS[key] = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=self.n_ctx,
                    n_threads=self._threads,
                    verbose=False,
                )
            self._llm = _MODELS[key]
        return self._llm

    def count_tokens(self, text: str) -> int:
        llm = self._load()
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False))

    def describe(self, request: ChatRequest, mode: str | None = None) -> dict[str, Any]:
        return {
            **super().describe(request, mode),
            "response_format": {"type": "json_object", "schema": request.schema},
            "sampling": self.sampling,
        }

    def _chat_sync(self, request: ChatRequest) -> ChatResponse:
        llm = self._load()
        messages = [{"role": "system", "content": request.system}]
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        with self._lock:
            try:
                out = llm.create_chat_completion(
                    messages=messages,
                    response_format={"type": "json_object", "schema": request.schema},
                    max_tokens=request.max_output_tokens,
                    temperature=request.temperature,
                    **self.sampling,
                )
            except ValueError as exc:  # e.g. the prompt exceeds the context window
                limit = context_limit(str(exc))
                raise ProviderError(
                    f"local: {exc}", kind="context" if limit else "rejected", context_tokens=limit
                ) from exc
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatResponse(
            text=choice["message"].get("content") or "",
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason") or "stop",
        )

    async def chat(self, request: ChatRequest, mode: str | None = None) -> ChatResponse:
        return await asyncio.to_thread(self._chat_sync, request)
