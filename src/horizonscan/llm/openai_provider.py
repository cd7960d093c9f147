"""Any OpenAI-compatible server: OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openai

from horizonscan.llm.base import ChatRequest, ChatResponse, ConfigurationError, Provider, ProviderError
from horizonscan.llm.errors import retry_after_seconds, scrub

# Tried in order; a server that rejects a mode with HTTP 400 is asked again with the next one.
MODES = ("json_schema", "json_object", "text")


class OpenAIProvider(Provider):
    name = "openai"
    default_concurrency = 8

    def __init__(self, model: str, *, timeout: float = 120.0, context_tokens: int | None = None) -> None:
        if not model:
            raise ConfigurationError("openai needs a model name, e.g. --llm openai:gpt-4o-mini")
        key = os.environ.get("OPENAI_API_KEY")
        base_url = os.environ.get("OPENAI_BASE_URL") or None
        if not key and not base_url:
            raise ConfigurationError(
                "openai: set OPENAI_API_KEY (or OPENAI_BASE_URL for a self-hosted server)"
            )
        self.model = model
        self._secret = key or ""
        # Self-hosted servers usually need no key, but the SDK insists on one.
        # The SDK is imported on first use: a run that reuses every analysis never pays for it.
        self._client_args: dict[str, Any] = dict(
            api_key=key or "not-needed", base_url=base_url, max_retries=0, timeout=timeout
        )
        self._client_obj: Any = None
        self.mode_index = 0
        if context_tokens:
            self.context_tokens = context_tokens

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            import openai

            self._client_obj = openai.AsyncOpenAI(**self._client_args)
        return self._client_obj

    @property
    def mode(self) -> str:
        return MODES[self.mode_index]

    def _messages(self, request: ChatRequest) -> list[dict[str, str]]:
        system = request.system
        if self.mode != "json_schema":
            schema = json.dumps(request.schema, separators=(",", ":"))
            system += f"\n\nReturn only a JSON object valid against this JSON schema:\n{schema}"
        out = [{"role": "system", "content": system}]
        out += [{"role": m.role, "content": m.content} for m in request.messages]
        return out

    def _response_format(self, request: ChatRequest) -> dict[str, Any] | None:
        if self.mode == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
            }
        if self.mode == "json_object":
            return {"type": "json_object"}
        return None

    async def chat(self, request: ChatRequest) -> ChatResponse:
        import openai

        while True:
            kwargs: dict[str, Any] = {
                "model": self.model,
                "messages": self._messages(request),
                "max_tokens": request.max_output_tokens,
                "temperature": request.temperature,
            }
            fmt = self._response_format(request)
            if fmt is not None:
                kwargs["response_format"] = fmt
            try:
                resp = await self._client.chat.completions.create(**kwargs)
            except openai.BadRequestError as exc:
                text = str(exc).lower()
                if self.mode_index + 1 < len(MODES) and ("response_format" in text or "json" in text):
                    self.mode_index += 1  # the server does not know this mode: step down once
                    continue
                raise ProviderError(
                    f"openai: bad request: {scrub(str(exc), self._secret)}", transient=False, status=400
                ) from exc
            except openai.APIStatusError as exc:
                raise _status_error(exc, self._secret) from exc
            except openai.APITimeoutError as exc:
                raise ProviderError("openai: request timed out", transient=True) from exc
            except openai.APIConnectionError as exc:
                raise ProviderError(
                    f"openai: cannot connect to {self._client.base_url}", transient=True
                ) from exc
            if not resp.choices:
                raise ProviderError("openai: answer has no choices", transient=True)
            choice = resp.choices[0]
            msg = choice.message
            text = msg.content or ""
            if not text and getattr(msg, "refusal", None):
                raise ProviderError(f"openai: model refused: {msg.refusal}", transient=False)
            usage = resp.usage
            return ChatResponse(
                text=text,
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
                finish_reason=choice.finish_reason or "stop",
            )

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()


def _status_error(exc: openai.APIStatusError, secret: str) -> ProviderError:
    status = exc.status_code
    message = scrub(str(exc), secret)
    if status in (401, 403):
        return ProviderError(
            f"openai: HTTP {status} (check OPENAI_API_KEY and access to the model): {message}",
            transient=False,
            status=status,
        )
    if status == 404:
        return ProviderError(
            f"openai: HTTP 404 (unknown model or wrong OPENAI_BASE_URL): {message}",
            transient=False,
            status=status,
        )
    transient = status == 429 or status == 408 or status >= 500
    return ProviderError(
        f"openai: HTTP {status}: {message}",
        transient=transient,
        status=status,
        retry_after=retry_after_seconds(exc.response.headers) if exc.response is not None else None,
    )
