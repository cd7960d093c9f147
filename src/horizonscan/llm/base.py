"""What every provider implements: one chat turn that must come back as JSON for a schema."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]


@dataclass
class Message:
    role: Role
    content: str


@dataclass
class ChatRequest:
    system: str
    messages: list[Message]
    schema: dict[str, Any]
    schema_name: str = "analysis"
    max_output_tokens: int = 2000
    temperature: float = 0.2

    def chars(self) -> int:
        """Request size as sent (prompt + schema), used by the ledger and the benches."""
        import json

        return (
            len(self.system)
            + sum(len(m.content) for m in self.messages)
            + len(json.dumps(self.schema, separators=(",", ":")))
        )


@dataclass
class ChatResponse:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = "stop"  # "length" means the output was cut
    raw: dict[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """A call that failed; `transient` says whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


class ConfigurationError(Exception):
    """The provider cannot be used as configured (missing key, missing package, bad spec)."""


class Provider(ABC):
    """A chat model that can be asked for JSON matching a schema."""

    name: str = "provider"
    model: str = ""
    context_tokens: int = 128_000
    default_concurrency: int = 8
    # True when the schema is enforced by a grammar and costs no prompt tokens (local llama.cpp):
    # the analyzer then sends a stricter, per-article schema.
    constrained_decoding: bool = False

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.model}"

    @abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send one request; raise ProviderError on failure."""

    def count_tokens(self, text: str) -> int:
        """A cheap estimate (4 chars a token) unless the provider knows better."""
        return max(1, len(text) // 4)

    async def aclose(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release connections."""
