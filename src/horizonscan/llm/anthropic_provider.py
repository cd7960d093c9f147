"""Anthropic's Messages API with structured outputs (`output_config.format`, a JSON schema).

Servers or models without structured outputs say so in an `invalid_request_error` that names
`output_config`; that request (and every later one) then uses a forced tool call whose input
schema is the same JSON schema. Anthropic's errors carry a `type` (`authentication_error`,
`permission_error`, `not_found_error`, `rate_limit_error`, `overloaded_error`, …) that decides
between stopping the batch, retrying, and failing the article.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anthropic

from horizonscan.llm.base import ChatRequest, ChatResponse, ConfigurationError, Provider, ProviderError
from horizonscan.llm.errors import (
    context_limit,
    error_info,
    is_context_error,
    retry_after_seconds,
    scrub,
)
from horizonscan.redact import redact_url

TOOL_NAME = "record_analysis"
MODES = ("json_schema", "tool")
CONNECT_TIMEOUT = 10.0
_FORMAT_FIELD = re.compile(r"\b(output_config|output_format)\b")
FATAL_TYPES = {
    "authentication_error": "check ANTHROPIC_API_KEY",
    "permission_error": "this ANTHROPIC_API_KEY may not use this model or feature",
    "not_found_error": "unknown model, or a wrong ANTHROPIC_BASE_URL",
    "billing_error": "check the plan and billing of this ANTHROPIC_API_KEY",
}


class AnthropicProvider(Provider):
    name = "anthropic"
    default_concurrency = 8
    modes = MODES

    def __init__(self, model: str, *, timeout: float = 120.0, context_tokens: int | None = None) -> None:
        if not model:
            raise ConfigurationError("anthropic needs a model name, e.g. --llm anthropic:claude-haiku-4-5")
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ConfigurationError("anthropic: set ANTHROPIC_API_KEY")
        self.model = model
        self._secret = key
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
        self.shown_url = redact_url(base_url) or "https://api.anthropic.com"
        # The SDK is imported on first use: a run that reuses every analysis never pays for it.
        self._client_args: dict[str, Any] = dict(api_key=key, base_url=base_url, max_retries=0)
        self._timeout = timeout
        self._client_obj: Any = None
        self._context_tokens = context_tokens or 200_000

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            import anthropic

            timeout = anthropic.Timeout(self._timeout, connect=min(self._timeout, CONNECT_TIMEOUT))
            self._client_obj = anthropic.AsyncAnthropic(**self._client_args, timeout=timeout)
        return self._client_obj

    def _payload(self, request: ChatRequest, mode: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "system": request.system,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_output_tokens,
        }
        if mode == "json_schema":
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

    def describe(self, request: ChatRequest, mode: str | None = None) -> dict[str, Any]:
        mode = mode or self.mode
        return {"mode": mode, "schema_name": request.schema_name, **self._payload(request, mode)}

    async def chat(self, request: ChatRequest, mode: str | None = None) -> ChatResponse:
        import anthropic

        mode = mode or self.mode
        try:
            resp = await self._client.messages.create(**self._payload(request, mode))
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc, mode) from exc
        except anthropic.APITimeoutError as exc:
            if _cause_name(exc) == "ConnectTimeout":
                raise ProviderError(
                    f"anthropic: cannot connect to {self.shown_url} (timed out)", kind="unreachable"
                ) from exc
            raise ProviderError("anthropic: request timed out", kind="transient") from exc
        except anthropic.APIConnectionError as exc:
            if _cause_name(exc) in ("ConnectError", "UnsupportedProtocol", "InvalidURL"):
                raise ProviderError(
                    f"anthropic: cannot connect to {self.shown_url}", kind="unreachable"
                ) from exc
            raise ProviderError(
                f"anthropic: the connection broke before the answer was complete ({_cause_name(exc)})",
                kind="transient",
            ) from exc
        except (anthropic.APIResponseValidationError, ValueError) as exc:
            raise ProviderError("anthropic: the server's answer is not valid JSON", kind="transient") from exc
        if isinstance(resp, str) or not hasattr(resp, "content") or resp.content is None:
            raise ProviderError("anthropic: the server's answer is not a message", kind="transient")
        if resp.stop_reason == "refusal":
            raise ProviderError(
                "anthropic: the model refused to answer (stop_reason refusal)", kind="refusal"
            )
        if resp.stop_reason == "model_context_window_exceeded":
            raise ProviderError("anthropic: the text does not fit the model's context", kind="context")
        text = ""
        for block in resp.content:
            if block.type == "tool_use" and block.name == TOOL_NAME:
                text = json.dumps(block.input, ensure_ascii=False)
                break
            if block.type == "text":
                text += block.text
        usage = resp.usage
        return ChatResponse(
            text=text,
            input_tokens=(usage.input_tokens or 0) if usage else 0,
            output_tokens=(usage.output_tokens or 0) if usage else 0,
            finish_reason="length" if resp.stop_reason == "max_tokens" else "stop",
        )

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()

    def _status_error(self, exc: anthropic.APIStatusError, mode: str) -> ProviderError:
        status = exc.status_code
        response = getattr(exc, "response", None)
        fallback = ""
        if response is not None:
            try:
                fallback = response.text
            except RuntimeError:  # a streamed body never read: the SDK's parsed `body` must do
                fallback = ""
        info = error_info(exc.body, fallback=fallback)
        body = scrub(info.text, self._secret) or None
        what = scrub(info.message or str(exc), self._secret)
        label = f"anthropic: HTTP {status}"
        kind_hint = FATAL_TYPES.get(info.type) or {
            401: FATAL_TYPES["authentication_error"],
            403: FATAL_TYPES["permission_error"],
            404: FATAL_TYPES["not_found_error"],
        }.get(status)
        if kind_hint:
            return ProviderError(f"{label}: {what} ({kind_hint})", kind="fatal", status=status, body=body)
        if status in (400, 422) and "credit balance" in info.message.lower():
            return ProviderError(
                f"{label}: {what} ({FATAL_TYPES['billing_error']})", kind="fatal", status=status, body=body
            )
        if mode == "json_schema" and (
            info.names("output_config") or bool(_FORMAT_FIELD.search(info.message))
        ):
            return ProviderError(
                f"{label}: structured outputs not accepted: {what}", kind="format", status=status, body=body
            )
        if is_context_error(info) or status == 413:
            return ProviderError(
                f"{label}: the text does not fit the model's context: {what}",
                kind="context",
                status=status,
                body=body,
                context_tokens=context_limit(info.message),
            )
        # 529 is Anthropic's "overloaded"; 408 and 409 are worth another try too.
        transient = status in (408, 409, 429) or status >= 500
        return ProviderError(
            f"{label}: {what}",
            kind="transient" if transient else "rejected",
            status=status,
            retry_after=retry_after_seconds(response.headers) if response is not None else None,
            body=body,
        )


def _cause_name(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause is not None else type(exc).__name__
