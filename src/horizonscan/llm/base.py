"""What every provider implements: one chat turn that must come back as JSON for a schema.

A provider sends exactly one HTTP request per `chat` call and classifies what went wrong, so the
client (`client.py`) can decide, and record in the ledger, every attempt: retry, step down to
another structured-output mode, re-ask the model, fail the article, or stop the whole batch.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["user", "assistant"]

# What a failed call means, and so what the client does about it:
#   transient    a server or transport fault (429, 5xx, 408/409, timeout, dropped connection, a body
#                that is not HTTP JSON): retried with backoff, from the retry budget;
#   unreachable  nothing answered at all (connection refused, DNS, connect timeout): before the
#                run's first answer this becomes fatal after a quick retry or two;
#   fatal        the provider cannot be used as configured (key, permission, model, quota): the
#                batch stops;
#   format       the server does not accept the structured-output mode this request used: the
#                same request is sent again with the next mode;
#   adapted      the provider changed a parameter for the rest of the run (e.g. a reasoning model
#                wants `max_completion_tokens`): the same request is sent again at once;
#   context      the prompt does not fit the model's context window;
#   refusal      the model declined to answer;
#   rejected     any other refusal of this one request (a 400 we cannot act on).
ErrorKind = Literal[
    "transient", "unreachable", "fatal", "format", "adapted", "context", "refusal", "rejected"
]


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
    # For servers that compile the schema into a grammar (llama.cpp's `json_object` + `schema`):
    # the same shape with counts and lengths bounded, so a small model cannot loop on a list until
    # the token cap. Hosted strict modes get `schema` (they ignore or refuse such bounds).
    grammar_schema: dict[str, Any] | None = None

    def chars(self) -> int:
        """Request size as sent (prompt + schema), used by the ledger and the benches."""
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


class ProviderError(Exception):
    """A call that failed, classified (`kind`) so the client knows what to do next.

    `body` is the server's answer as text (already scrubbed of secrets), kept for the audit log.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
        context_tokens: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.status = status
        self.retry_after = retry_after
        self.body = body
        self.context_tokens = context_tokens  # the real window, when a context error names it

    @property
    def transient(self) -> bool:
        return self.kind in ("transient", "unreachable")


class ConfigurationError(Exception):
    """The provider cannot be used as configured (missing key, missing package, bad spec)."""


class Provider(ABC):
    """A chat model that can be asked for JSON matching a schema.

    `modes` lists the structured-output modes the provider can use, best first. Each request is
    sent with a mode; when the server rejects that mode (`kind="format"`), the client asks
    `step_down` for the next one. A mode proven unsupported is never tried again in the run, but a
    request never skips a mode that nobody has seen fail (concurrent requests do not push each
    other down).
    """

    name: str = "provider"
    model: str = ""
    default_concurrency: int = 8
    modes: tuple[str, ...] = ("default",)
    _mode_floor: int = 0
    _context_tokens: int | None = None

    @property
    def constrained_decoding(self) -> bool:
        """True when the schema is enforced by a grammar and costs no prompt tokens (llama.cpp):
        the analyzer then works section by section with a stricter, per-article schema."""
        return False

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.model}"

    @property
    def context_tokens(self) -> int:
        """The model's context window in tokens (what the analyzer splits long texts by)."""
        return self._context_tokens or 128_000

    @context_tokens.setter
    def context_tokens(self, value: int) -> None:
        self._context_tokens = value

    @property
    def mode(self) -> str:
        """The best mode not yet proven unsupported in this run: where each new request starts."""
        return self.modes[self._mode_floor]

    def step_down(self, failed: str) -> str | None:
        """The mode to try after `failed` was rejected, or None when there is none left."""
        nxt = self.modes.index(failed) + 1
        if nxt >= len(self.modes):
            return None
        self._mode_floor = max(self._mode_floor, nxt)
        return self.modes[self._mode_floor]

    @abstractmethod
    async def chat(self, request: ChatRequest, mode: str | None = None) -> ChatResponse:
        """Send one request in `mode` (default: `self.mode`); raise ProviderError on failure."""

    def describe(self, request: ChatRequest, mode: str | None = None) -> dict[str, Any]:
        """The request as it goes on the wire (no headers, no keys), for the audit log."""
        return {
            "model": self.model,
            "mode": mode or self.mode,
            "schema_name": request.schema_name,
            "system": request.system,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_output_tokens": request.max_output_tokens,
            "temperature": request.temperature,
        }

    def count_tokens(self, text: str) -> int:
        """A cheap estimate (4 chars a token) unless the provider knows better."""
        return max(1, len(text) // 4)

    async def aclose(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release connections."""
