"""Pick a provider from a spec: `openai:MODEL`, `anthropic:MODEL`, `local[:PATH.gguf]`, or `auto`.

To add a provider: write a `Provider` subclass next to this file and add a branch below.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from horizonscan.llm.base import ConfigurationError, Provider

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"


def resolve_spec(spec: str | None) -> str:
    """Turn `auto` (or nothing) into a concrete spec from the environment."""
    spec = (spec or "auto").strip()
    if spec != "auto":
        return spec
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return f"openai:{os.environ.get('HORIZONSCAN_OPENAI_MODEL', DEFAULT_OPENAI_MODEL)}"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return f"anthropic:{os.environ.get('HORIZONSCAN_ANTHROPIC_MODEL', DEFAULT_ANTHROPIC_MODEL)}"
    return "local"


def make_provider(
    spec: str | None,
    *,
    timeout: float = 120.0,
    context_tokens: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Provider:
    spec = resolve_spec(spec)
    kind, _, model = spec.partition(":")
    kind = kind.lower()
    if kind == "openai":
        from horizonscan.llm.openai_provider import OpenAIProvider

        return OpenAIProvider(model, timeout=timeout, context_tokens=context_tokens)
    if kind == "anthropic":
        from horizonscan.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(model, timeout=timeout, context_tokens=context_tokens)
    if kind == "local":
        from horizonscan.llm.local_provider import LocalProvider

        return LocalProvider(model or None, n_ctx=context_tokens or 8192, progress=progress)
    raise ConfigurationError(
        f"unknown LLM provider {kind!r} in {spec!r}; use openai:MODEL, anthropic:MODEL, local[:PATH] or auto"
    )
