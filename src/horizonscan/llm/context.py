"""Asking a self-hosted server how large its context window really is.

Ollama and llama.cpp silently cut a prompt longer than their context, which is often far smaller
than the model's: assuming 128 k tokens there means long articles are truncated instead of split.
So, once per run, with a short timeout, and never fatally, we ask where the server can say:

- llama.cpp `llama-server`: `GET /props` → `default_generation_settings.n_ctx`;
- vLLM: `GET /v1/models` → `max_model_len`; OpenRouter and others: `context_length`;
- Ollama: `GET /api/ps` (the loaded model's `context_length`), else `POST /api/show`
  (`num_ctx` in the Modelfile's parameters), else Ollama's small default, 4096.

Anything else gets a conservative 8192 (`--context-tokens` / `context_tokens` overrides all).

The same probe tells whether the server is llama.cpp (`llama-server` answers `/props`;
llama-cpp-python's `llama_cpp.server` lists its models as `owned_by: "me"`): there the schema is
compiled into a grammar, so the analyzer can send the stricter per-article schema (evidence as a
choice among the article's own sentences) that keeps a small model from translating its quotes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

DEFAULT_SELF_HOSTED = 8192
OLLAMA_DEFAULT = 4096
PROBE_TIMEOUT = 2.0


def _root(base_url: str) -> str:
    """The server root: the base URL without its `/v1` (where llama.cpp and Ollama serve extras)."""
    url = base_url.split("?", 1)[0].rstrip("/")
    return re.sub(r"/v\d+$", "", url)


def _int(value: Any) -> int | None:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if n >= 256 else None


def _get(client: httpx.Client, url: str) -> Any:
    resp = client.get(url)
    if resp.status_code != 200:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _from_props(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    if isinstance(settings, dict) and _int(settings.get("n_ctx")):
        return _int(settings.get("n_ctx"))
    return _int(data.get("n_ctx"))


def _from_models(data: Any, model: str) -> int | None:
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    mine = [e for e in entries if isinstance(e, dict) and e.get("id") == model]
    if not mine and len(entries) == 1 and isinstance(entries[0], dict):
        mine = [entries[0]]  # a server that serves one model under any name
    for entry in mine:
        meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
        for value in (
            entry.get("max_model_len"),  # vLLM
            meta.get("n_ctx"),  # llama.cpp, when it reports the runtime context
            entry.get("loaded_context_length"),  # LM Studio
            entry.get("context_length"),  # OpenRouter, Together, …
            entry.get("context_window"),
        ):
            if _int(value):
                return _int(value)
    return None


def _from_ollama(client: httpx.Client, root: str, model: str) -> int | None:
    version = _get(client, f"{root}/api/version")
    if not isinstance(version, dict) or "version" not in version:
        return None
    ps = _get(client, f"{root}/api/ps")
    for entry in (ps or {}).get("models", []) if isinstance(ps, dict) else []:
        named = isinstance(entry, dict) and entry.get("name") in (model, f"{model}:latest")
        if named and _int(entry.get("context_length")):
            return _int(entry.get("context_length"))
    resp = client.post(f"{root}/api/show", json={"model": model})
    if resp.status_code == 200:
        try:
            params = str(resp.json().get("parameters") or "")
        except (ValueError, AttributeError):
            params = ""
        m = re.search(r"^\s*num_ctx\s+(\d+)", params, re.M)
        if m:
            return int(m.group(1))
    return OLLAMA_DEFAULT


GRAMMAR_OWNERS = frozenset({"me", "llamacpp"})  # llama-cpp-python's server, llama.cpp's llama-server


def _grammar_server(props: Any, models: Any) -> bool:
    if isinstance(props, dict) and "default_generation_settings" in props:
        return True
    entries = models.get("data") if isinstance(models, dict) else None
    return isinstance(entries, list) and any(
        isinstance(e, dict) and e.get("owned_by") in GRAMMAR_OWNERS for e in entries
    )


def discover_server(
    base_url: str, model: str, *, key: str = "", timeout: float = PROBE_TIMEOUT
) -> tuple[int, bool]:
    """(context window in tokens or a conservative default, whether decoding is grammar-constrained);
    never raises."""
    root = _root(base_url)
    base = base_url.split("?", 1)[0].rstrip("/")
    query = dict(parse_qsl(urlsplit(base_url).query))  # e.g. ?key=… travels with every request
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with httpx.Client(timeout=timeout, headers=headers, params=query, follow_redirects=False) as client:
            props = _get(client, f"{root}/props")
            models = _get(client, f"{base}/models")
            grammar = _grammar_server(props, models)
            found = _from_props(props)
            if found is None:
                found = _from_models(models, model)
            if found is None:
                found = _from_ollama(client, root, model)
    except httpx.HTTPError:
        found, grammar = None, False  # unreachable or too slow: the first real call will say so
    return found or DEFAULT_SELF_HOSTED, grammar
