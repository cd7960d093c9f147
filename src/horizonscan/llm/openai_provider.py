"""Any OpenAI-compatible server: OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter.

Structured output, best first (each request steps down only when the server says *that* mode is
what it rejects, whatever the HTTP status):

1. `json_schema` with `strict` (OpenAI, vLLM, llama.cpp `llama-server`, LM Studio, OpenRouter);
2. `json_object` with a `schema` (llama-cpp-python's `llama_cpp.server` turns it into a grammar);
3. plain `json_object`;
4. no `response_format`: the schema is in the prompt and the answer is validated.

From mode 2 on, the schema is also written into the system prompt, for servers that ignore it.

Reasoning models (o-series, gpt-5 family) get `max_completion_tokens` and no `temperature`; any
other server that answers `unsupported_parameter` / `unsupported_value` about one of them is
adapted to once, for the rest of the run.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

if TYPE_CHECKING:
    import openai

from horizonscan.llm.base import ChatRequest, ChatResponse, ConfigurationError, Provider, ProviderError
from horizonscan.llm.context import discover_server
from horizonscan.llm.errors import (
    ErrorInfo,
    context_limit,
    error_info,
    is_context_error,
    retry_after_seconds,
    scrub,
)
from horizonscan.redact import redact_url

MODES = ("json_schema", "json_object_schema", "json_object", "text")
# o1, o3-mini, o4-mini, gpt-5, gpt-5-mini… also behind a router prefix such as "openai/".
REASONING = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)(?:$|[-.:])", re.I)
OPENAI_CONTEXT = 128_000  # every current OpenAI chat model holds at least this much
CONNECT_TIMEOUT = 10.0


def is_reasoning_model(model: str) -> bool:
    return bool(REASONING.match(model))


def split_base_url(url: str) -> tuple[str, dict[str, str]]:
    """The SDK appends paths to the base URL verbatim, so a query (`?key=…`, `?api-version=…`)
    must travel as `default_query` instead."""
    parts = urlsplit(url)
    query: dict[str, str] = {}
    for pair in parts.query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            query[unquote_plus(name)] = unquote_plus(value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), query


class OpenAIProvider(Provider):
    name = "openai"
    default_concurrency = 8
    modes = MODES

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
        self.base_url = base_url
        self.shown_url = redact_url(base_url) or "https://api.openai.com/v1"
        query: dict[str, str] = {}
        if base_url:
            base_url, query = split_base_url(base_url)
        # Self-hosted servers usually need no key, but the SDK insists on one.
        # The SDK is imported on first use: a run that reuses every analysis never pays for it.
        self._client_args: dict[str, Any] = dict(
            api_key=key or "not-needed",
            base_url=base_url,
            default_query=query or None,
            max_retries=0,
            timeout=timeout,
        )
        self._timeout = timeout
        self._client_obj: Any = None
        self._context_tokens = context_tokens
        self._context_known = context_tokens is not None
        self._probed = False
        self._grammar = False
        reasoning = is_reasoning_model(model)
        self.token_param = "max_completion_tokens" if reasoning else "max_tokens"
        self.send_temperature = not reasoning

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            import openai

            args = dict(self._client_args)
            args["timeout"] = openai.Timeout(self._timeout, connect=min(self._timeout, CONNECT_TIMEOUT))
            self._client_obj = openai.AsyncOpenAI(**args)
        return self._client_obj

    # ---- what the server is: context window, grammar ------------------------------------------
    def _probe(self) -> None:
        """Once per run, for a self-hosted server only: its context window and whether it decodes
        under a grammar (see llm/context.py). OpenAI itself is never probed."""
        if self._probed:
            return
        self._probed = True
        if not self.base_url or urlsplit(self.base_url).hostname == "api.openai.com":
            if not self._context_known:
                self._context_tokens, self._context_known = OPENAI_CONTEXT, True
            return
        context, self._grammar = discover_server(self.base_url, self.model, key=self._secret)
        if not self._context_known:
            self._context_tokens, self._context_known = context, True

    @property
    def constrained_decoding(self) -> bool:
        """True for llama.cpp servers: the analyzer then sends the per-article constrained schema."""
        self._probe()
        return self._grammar

    @property
    def context_tokens(self) -> int:
        """The setting, else what the server says, else 128 k on OpenAI and 8192 elsewhere."""
        if not self._context_known:
            self._probe()
        return self._context_tokens or OPENAI_CONTEXT

    @context_tokens.setter
    def context_tokens(self, value: int) -> None:
        self._context_tokens = value
        self._context_known = True

    # ---- the request ------------------------------------------------------------------------
    def _payload(self, request: ChatRequest, mode: str) -> dict[str, Any]:
        system = request.system
        if mode != "json_schema" and not (mode == "json_object_schema" and self._grammar):
            schema = json.dumps(request.schema, separators=(",", ":"))
            system += f"\n\nReturn only a JSON object valid against this JSON schema:\n{schema}"
        messages = [{"role": "system", "content": system}]
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            self.token_param: request.max_output_tokens,
        }
        if self.send_temperature:
            kwargs["temperature"] = request.temperature
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
            }
        elif mode == "json_object_schema":
            bounded = request.grammar_schema or request.schema
            kwargs["response_format"] = {"type": "json_object", "schema": bounded}
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def describe(self, request: ChatRequest, mode: str | None = None) -> dict[str, Any]:
        mode = mode or self.mode
        return {"mode": mode, "schema_name": request.schema_name, **self._payload(request, mode)}

    async def chat(self, request: ChatRequest, mode: str | None = None) -> ChatResponse:
        import openai

        mode = mode or self.mode
        kwargs = self._payload(request, mode)
        try:
            resp = await self._client.chat.completions.create(**kwargs)
        except openai.APIStatusError as exc:
            raise self._status_error(exc, mode, kwargs) from exc
        except openai.APITimeoutError as exc:
            if _cause_name(exc) == "ConnectTimeout":
                raise ProviderError(
                    f"openai: cannot connect to {self.shown_url} (timed out)", kind="unreachable"
                ) from exc
            raise ProviderError("openai: request timed out", kind="transient") from exc
        except openai.APIConnectionError as exc:
            if _cause_name(exc) in ("ConnectError", "UnsupportedProtocol", "InvalidURL"):
                raise ProviderError(
                    f"openai: cannot connect to {self.shown_url}", kind="unreachable"
                ) from exc
            raise ProviderError(
                f"openai: the connection broke before the answer was complete ({_cause_name(exc)})",
                kind="transient",
            ) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:  # JSONDecodeError included
            raise ProviderError("openai: the server's answer is not valid JSON", kind="transient") from exc
        if isinstance(resp, str) or not getattr(resp, "choices", None):
            # A proxy's HTML page or a JSON body without choices: broken in transit, not the model.
            body = resp if isinstance(resp, str) else None
            raise ProviderError(
                "openai: the server's answer is not a chat completion",
                kind="transient",
                body=scrub(body or "", self._secret) or None,
            )
        choice = resp.choices[0]
        msg = choice.message
        text = (msg.content or "") if msg is not None else ""
        refusal = getattr(msg, "refusal", None)
        if not text and refusal:
            raise ProviderError(
                f"openai: the model refused: {scrub(str(refusal), self._secret)}",
                kind="refusal",
                body=scrub(str(refusal), self._secret),
            )
        if choice.finish_reason == "content_filter" and not text:
            raise ProviderError("openai: the answer was withheld by the content filter", kind="refusal")
        usage = resp.usage
        return ChatResponse(
            text=text,
            input_tokens=(usage.prompt_tokens or 0) if usage else 0,
            output_tokens=(usage.completion_tokens or 0) if usage else 0,
            finish_reason=choice.finish_reason or "stop",
        )

    async def aclose(self) -> None:
        if self._client_obj is not None:
            await self._client_obj.close()

    # ---- errors -----------------------------------------------------------------------------
    def _adapt(self, info: ErrorInfo, sent: dict[str, Any]) -> bool:
        """Switch a parameter the server refuses, for the rest of the run; False if none applies."""
        if info.code not in ("unsupported_parameter", "unsupported_value"):
            return False
        if info.names("max_tokens") and "max_tokens" in sent:
            self.token_param = "max_completion_tokens"
            return True
        if info.names("max_completion_tokens") and "max_completion_tokens" in sent:
            self.token_param = "max_tokens"
            return True
        if info.names("temperature") and "temperature" in sent:
            self.send_temperature = False
            return True
        return False

    def _status_error(self, exc: openai.APIStatusError, mode: str, sent: dict[str, Any]) -> ProviderError:
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
        label = f"openai: HTTP {status}"
        if status in (401, 403):
            return ProviderError(
                f"{label}: {what} (check OPENAI_API_KEY, and that it may use {self.model})",
                kind="fatal",
                status=status,
                body=body,
            )
        about_format = info.names("response_format") or info.code == "invalid_json_schema"
        if "response_format" in sent and about_format:
            return ProviderError(
                f"{label}: response_format {mode} not accepted: {what}",
                kind="format",
                status=status,
                body=body,
            )
        if status in (400, 422) and self._adapt(info, sent):
            return ProviderError(
                f"{label}: {what} (adapted: {self.token_param}, "
                f"{'with' if self.send_temperature else 'no'} temperature)",
                kind="adapted",
                status=status,
                body=body,
            )
        if is_context_error(info):
            return ProviderError(
                f"{label}: the text does not fit the model's context: {what}",
                kind="context",
                status=status,
                body=body,
                context_tokens=context_limit(info.message),
            )
        if status == 404 or info.code == "model_not_found":
            return ProviderError(
                f"{label}: {what} (unknown model {self.model!r}, or a wrong OPENAI_BASE_URL: "
                f"{self.shown_url})",
                kind="fatal",
                status=status,
                body=body,
            )
        if info.code == "insufficient_quota" or status == 402:
            return ProviderError(
                f"{label}: {what} (out of credit: check the plan and billing of this OPENAI_API_KEY)",
                kind="fatal",
                status=status,
                body=body,
            )
        transient = status in (408, 409, 429) or status >= 500
        return ProviderError(
            f"{label}: {what}",
            kind="transient" if transient else "rejected",
            status=status,
            retry_after=retry_after_seconds(response.headers) if response is not None else None,
            body=body,
        )


def _cause_name(exc: BaseException) -> str:
    """The transport exception's class name (httpx and httpx2 share these names)."""
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause is not None else type(exc).__name__
