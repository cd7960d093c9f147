"""Anthropic's Messages API with structured outputs (`output_config.format`, a JSON schema).

Servers or models without structured outputs answer 400; we then step down once to a forced
tool call whose input schema is the same JSON schema.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anthropic

from horizonscan.llm.base import ChatRequest, ChatResponse, ConfigurationError, Provider, ProviderError
from horizonscan.llm.errors import retry_after_seconds, scrub

TOOL_NAME = "record_analysis"
MODES = ("json_schema", "tool")


class AnthropicProvider(Provider):
    name = "anthropic"
    default_concurrency = 8
    context_tokens = 200_000

    def __init__(self, model: str, *, timeout: float = 120.0, context_tokens: int | None = None) -> None:
        if not model:
            raise ConfigurationError("anthropic needs a model name, e.g. --llm anthropic:claude-haiku-4-5")
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ConfigurationError("anthropic: set ANTHROPIC_API_KEY")
        self.model = model
        self._secret = key
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
        # The SDK is imported on first use: a run that reuses every analysis never pays for it.
        self._client_args: dict[str, Any] = dict(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout
        )
        self._client_obj: Any = None
        self.mode_index = 0
        if context_tokens:
            self.context_tokens = context_tokens

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            import anthropic

            self._client_obj = anthropic.AsyncAnthropic(**self._client_args)
        return self._client_obj

    @property
    def mode(self) -> str:
        return MODES[self.mode_index]

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "system": request.system,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_output_tokens,
        }
        if self.mode == "json_schema":
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": request.schema}}
        else:
            kwargs["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": "Record the foresight analysis of the article.",
                    "input_schema": request.schema,
                }
            ]
            kwargs["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return kwargs

    async def chat(self, request: ChatRequest) -> ChatResponse:
        import anthropic

        while True:
            try:
                resp = await self._client.messages.create(**self._kwargs(request))
                break
            except anthropic.BadRequestError as exc:
                text = str(exc).lower()
                if self.mode_index + 1 < len(MODES) and ("output_config" in text or "format" in text):
                    self.mode_index += 1
                    continue
                raise ProviderError(
                    f"anthropic: bad request: {scrub(str(exc), self._secret)}", transient=False, status=400
                ) from exc
            except anthropic.APIStatusError as exc:
                raise _status_error(exc, self._secret) from exc
            except anthropic.APITimeoutError as exc:
                raise ProviderError("anthropic: request timed out", transient=True) from exc
            except anthropic.APIConnectionError as exc:
                raise ProviderError("anthropic: cannot connect", transient=True) from exc
        text = ""
        for block in resp.content:
            if block.type == "tool_use" and block.name == TOOL_NAME:
                text = json.dumps(block.input, ensure_ascii=False)
                break
            if block.type == "text":
                text += block.text
        return ChatResponse(
            text=text,
            input_tokens=resp.usage.input_tokens,
            output_tokens=resp.usage.output_tokens,
            finish_reason="length" if resp.stop_reason == "max_tokens" else "stop",
        )

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()


def _status_error(exc: anthropic.APIStatusError, secret: str) -> ProviderError:
    status = exc.status_code
    message = scrub(str(exc), secret)
    if status in (401, 403):
        return ProviderError(
            f"anthropic: HTTP {status} (check ANTHROPIC_API_KEY): {message}", transient=False, status=status
        )
    if status == 404:
        return ProviderError(
            f"anthropic: HTTP 404 (unknown model?): {message}", transient=False, status=status
        )
    # 529 is Anthropic's "overloaded"; 409 and 408 are worth another try too.
    return ProviderError(
        f"anthropic: HTTP {status}: {message}",
        transient=status in (408, 409, 429) or status >= 500,
        status=status,
        retry_after=retry_after_seconds(exc.response.headers),
    )
