"""An OpenAI- and Anthropic-protocol server on 127.0.0.1 for tests and benchmarks.

It speaks the real wire protocols (the official SDKs talk to it over HTTP), answers with a
schema-valid English analysis built from the article it receives (evidence quoted verbatim from
the article), records every request, and can inject latency and faults the way real servers
produce them: 429 with real Retry-After values, 5xx and 529, timeouts, broken HTTP bodies,
dropped connections, and the model's own mistakes (prose, truncated or schema-invalid JSON,
refusals). It is as strict as the real APIs about what they refuse (see `MockLLMServer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ARTICLE = re.compile(r"<<<ARTICLE (\w+)>>>\n(.*?)\n<<<END ARTICLE \1>>>", re.S)
_PARTS = re.compile(r"<<<PARTS (\w+)>>>\n(.*?)\n<<<END PARTS \1>>>", re.S)


def _words(text: str, start: int, n: int) -> str:
    words = text.split()
    if not words:
        return ""
    start = min(start, max(0, len(words) - n))
    return " ".join(words[start : start + n])


def fake_analysis(prompt: str) -> dict[str, Any]:
    """A valid English analysis whose evidence quotes come verbatim from the article."""
    m = _ARTICLE.search(prompt)
    if m is None:
        parts = _PARTS.search(prompt)
        if parts is not None:  # a reduce call: merge the parts' items
            merged: dict[str, Any] = json.loads(parts.group(2).splitlines()[0])
            for line in parts.group(2).splitlines()[1:]:
                other = json.loads(line)
                for key in ("signals", "behaviors", "technologies", "issues"):
                    merged[key] = (merged[key] + other[key])[:6]
            merged["summary"] = "This merged report combines every part of a long article about change."
            return merged
        text = prompt
    else:
        text = m.group(2)
    caps = [w.strip(".,;:«»\"'()") for w in text.split() if w[:1].isupper() and len(w) > 3]
    subject = caps[1] if len(caps) > 1 else "the sector"

    def item(i: int) -> dict[str, Any]:
        return {
            "name": f"Development {i + 1} around {subject}",
            "description": f"The article describes a development involving {subject}.",
            "dimension": ("social", "technological", "economic", "political")[i % 4],
            "relevancy": (i % 5) + 1,
            "evidence": _words(text, 8 * i, 8),
        }

    signal = {
        "name": f"Shift around {subject}",
        "description": f"A change involving {subject}.",
        "change": "From the current practice to a new approach.",
        "ten_year": "Organisations may work differently in ten years.",
        "driving_force": "Technology and market pressure.",
        "horizon": "H2",
        "dimension": "technological",
        "relevancy": 4,
        "evidence": _words(text, 3, 10),
    }
    return {
        "title": f"Report on {subject} and the changes it brings",
        "summary": (
            f"This article reports on a development concerning {subject}. It explains what is "
            "changing, who is affected and why the change matters for organisations and people."
        ),
        "keywords": [subject, "change", "strategy"],
        "themes": ["technology", "society"],
        "category": "technology",
        "type": "news",
        "signals": [signal],
        "behaviors": [item(0)],
        "technologies": [item(1)],
        "issues": [item(2)],
    }


# ---- OpenAI's strict-schema rules -----------------------------------------------------------------
# Structured Outputs accept a subset of JSON Schema. Keywords allowed on a node (OpenAI's guide,
# "Supported schemas"): the types and composition below, plus these constraints: strings `pattern`
# and `format` (from STRICT_FORMATS), numbers `multipleOf`, `maximum`, `exclusiveMaximum`,
# `minimum`, `exclusiveMinimum`, arrays `minItems`, `maxItems`. Anything else (`minLength`,
# `maxLength`, `default`, `uniqueItems`, `allOf`, `not`, `patternProperties`, …) is refused with
# "'<keyword>' is not permitted". Every object must list every property in `required` and set
# `additionalProperties: false`; the root must be an object, not `anyOf`.
STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "$defs",
        "definitions",
        "description",
        "title",
        "pattern",
        "format",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "minItems",
        "maxItems",
    }
)
STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def strict_schema_problem(schema: Any) -> str | None:
    """The first rule of OpenAI's strict mode that `schema` breaks, worded as OpenAI words it."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
        return "In context=(), schema must be a JSON Schema of 'type: \"object\"', got 'type: \"None\"'."
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}

    def walk(node: Any, ctx: tuple[str, ...]) -> str | None:
        if not isinstance(node, dict):
            return None
        where = f"In context={ctx!r}"
        for key in node:
            if key not in STRICT_KEYWORDS:
                return f"{where}, '{key}' is not permitted."
        if "format" in node and node["format"] not in STRICT_FORMATS:
            return f"{where}, '{node['format']}' is not a valid format."
        ref = node.get("$ref")
        if ref is not None and ref != "#" and ref.rsplit("/", 1)[-1] not in defs:
            return f"{where}, reference to component '{ref}' which was not found in the schema."
        types = node.get("type")
        is_object = types == "object" or (isinstance(types, list) and "object" in types)
        if is_object or "properties" in node:
            if node.get("additionalProperties") is not False:
                return f"{where}, 'additionalProperties' is required to be supplied and to be false."
            props = list(node.get("properties", {}))
            required = node.get("required")
            if not isinstance(required, list):
                return (
                    f"{where}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{props[0] if props else ''}'."
                )
            missing = [p for p in props if p not in required]
            extra = [r for r in required if r not in props]
            if missing or extra:
                what = f"Missing '{missing[0]}'" if missing else f"Extra required key '{extra[0]}' supplied"
                return (
                    f"{where}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. {what}."
                )
        children: list[tuple[Any, tuple[str, ...]]] = []
        for name, sub in node.get("properties", {}).items():
            children.append((sub, (*ctx, "properties", name)))
        if "items" in node:
            children.append((node["items"], (*ctx, "items")))
        for i, sub in enumerate(node.get("anyOf", [])):
            children.append((sub, (*ctx, "anyOf", str(i))))
        for key in ("$defs", "definitions"):
            for name, sub in node.get(key, {}).items():
                children.append((sub, (*ctx, key, name)))
        for sub, sub_ctx in children:
            problem = walk(sub, sub_ctx)
            if problem:
                return problem
        return None

    return walk(schema, ())


# ---- faults ---------------------------------------------------------------------------------------
# Injected at random (`fault_rate`) or scripted (`script`), by name:
#   server/transport: "429" (Retry-After in seconds), "429-date" (Retry-After as an HTTP date),
#       "429-ms" (retry-after-ms), "500", "503", "529" (Anthropic's overloaded), "timeout",
#       "http-garbage" (HTTP 200 whose JSON body is broken), "html" (HTTP 200, a proxy's HTML page),
#       "drop" (the connection closes in the middle of the answer), "slow" (a late, good answer);
#   the model's own mistakes: "garbage" (prose instead of JSON), "truncated" (cut at the output
#       limit), "invalid" (JSON that breaks the schema), "refusal";
#   configuration: "401", "403", "404" (unknown model), "quota" (429 insufficient_quota),
#       "context" (the prompt exceeds the context window), "echo-400" (a 400 quoting the URL).
FAULTS = ("429", "500", "503", "timeout", "garbage", "truncated", "invalid")
TRANSPORT_FAULTS = ("429", "429-date", "500", "503", "529", "http-garbage", "html", "drop", "slow")
REASONING_MODELS = ("o1", "o3", "o4", "gpt-5")


def _openai_error(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": param, "code": code}},
        status_code=status,
        headers=headers,
    )


def _anthropic_error(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_mock"},
        status_code=status,
        headers=headers,
    )


class _DroppedAnswer(Response):
    """Headers and half a body, then the connection closes: what a crashed proxy sends."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b'{"id": "chatcmpl-mock", "object": "chat.completion", "choices": [{"index": 0, "mess'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4000")],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        raise _Hangup


class _Hangup(Exception):
    """Raised inside the app after a partial answer, so the server closes the connection."""


@dataclass
class MockLLMServer:
    """Start with `with MockLLMServer() as srv:`; point the SDKs at `srv.openai_url` / `srv.anthropic_url`.

    Strict like the real APIs: `json_schema` requests must follow OpenAI's strict-schema rules,
    reasoning models refuse `max_tokens` and a non-default `temperature`, errors come in each
    API's own shape, and 429s carry real `Retry-After` values (`retry_after` seconds).
    """

    latency: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    seed: int = 0
    timeout_sleep: float = 5.0
    slow_sleep: float = 0.3
    retry_after: float = 1.0
    # Optional scripted answers, used first, one per request: a fault name, a dict/str body for a
    # 200 answer, or a (status, JSON body) tuple for an error answer.
    script: list[Any] = field(default_factory=list)
    responder: Callable[[str], dict[str, Any]] = fake_analysis
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Structured-output modes the server refuses: "json_schema", "json_object_schema" ({"type":
    # "json_object", "schema": …}), "json_object". How it refuses: "openai" (HTTP 400 naming
    # `response_format`) or "llama_cpp" (llama-cpp-python's server: HTTP 500 wrapping a pydantic
    # validation error whose `loc` names `response_format`).
    unsupported_formats: tuple[str, ...] = ()
    format_rejection: str = "openai"
    strict: bool = True
    reasoning_models: tuple[str, ...] = REASONING_MODELS
    api_key: str | None = None  # when set, other keys get 401 (OpenAI) / authentication_error
    n_ctx: int | None = None  # when set, GET /props answers like llama.cpp's llama-server
    owned_by: str = "system"  # GET /v1/models as OpenAI says it; llama-cpp-python's server says "me"
    max_model_len: int | None = None  # when set, GET /v1/models answers like vLLM
    context_window: int = 1_000_000  # prompts larger than this (in tokens, chars/4) are refused
    port: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.base

    def __enter__(self) -> MockLLMServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/props", self._props, methods=["GET"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app,
            log_level="critical",  # a dropped connection is an injected fault, not news
            lifespan="off",
            timeout_keep_alive=30,
            limit_concurrency=1000,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("mock LLM server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ---- behaviour ------------------------------------------------------------------------
    def _next_action(self) -> Any:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.faults)
        return None

    def _retry_headers(self, action: str) -> dict[str, str]:
        if action == "429-date":
            return {"retry-after": email.utils.formatdate(time.time() + self.retry_after, usegmt=True)}
        if action == "429-ms":
            return {"retry-after-ms": str(int(self.retry_after * 1000))}
        return {"retry-after": f"{self.retry_after:g}"}

    async def _openai_fault(self, action: Any, request: Request, body: dict[str, Any]) -> Response | None:
        if isinstance(action, tuple):  # a scripted error answer: (status, JSON body)
            return JSONResponse(action[1], status_code=action[0])
        if not isinstance(action, str):
            return None
        model = body.get("model", "mock")
        if action in ("429", "429-date", "429-ms"):
            return _openai_error(
                429,
                f"Rate limit reached for {model}: Limit 500, Used 500, Requested 1. "
                f"Please try again in {self.retry_after:g}s.",
                "requests",
                "rate_limit_exceeded",
                headers=self._retry_headers(action),
            )
        if action == "500":
            return _openai_error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            )
        if action == "503":
            return _openai_error(
                503, "The engine is currently overloaded, please try again later.", "server_error"
            )
        if action == "529":
            return _openai_error(529, "Overloaded", "overloaded_error")
        if action == "401":
            return _openai_error(
                401,
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if action == "403":
            return _openai_error(
                403,
                f"Project does not have access to model `{model}`",
                "invalid_request_error",
                "model_not_found",
            )
        if action == "404":
            return _openai_error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        if action == "quota":
            return _openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if action == "context":
            return self._context_error(body, len(json.dumps(body)) // 4, 8192)
        if action == "echo-400":
            return _openai_error(400, f"Bad request to {request.url}", "invalid_request_error")
        return await self._common_fault(action)

    async def _common_fault(self, action: str) -> Response | None:
        if action == "timeout":
            await asyncio.sleep(self.timeout_sleep)
            return JSONResponse({"error": {"message": "too late"}}, status_code=504)
        if action == "http-garbage":
            return Response(
                '{"id": "chatcmpl-mock", "choices": [{"index": 0, <<garbled>>', media_type="application/json"
            )
        if action == "html":
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", media_type="text/html")
        if action == "drop":
            return _DroppedAnswer()
        if action == "slow":
            await asyncio.sleep(self.slow_sleep)
        return None

    def _context_error(self, body: dict[str, Any], used: int, limit: int) -> JSONResponse:
        return _openai_error(
            400,
            f"This model's maximum context length is {limit} tokens. However, your messages resulted "
            f"in {used} tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        )

    def _check_openai(self, request: Request, body: dict[str, Any]) -> Response | None:
        """What the real servers refuse before any generation (key, format, schema, parameters)."""
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _openai_error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        fmt = body.get("response_format") or {}
        kind = fmt.get("type")
        if kind == "json_object" and "schema" in fmt:
            kind = "json_object_schema"
        if kind in self.unsupported_formats:
            if self.format_rejection == "llama_cpp":
                detail = (
                    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
                    "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
                    f"'input': '{fmt.get('type')}', 'ctx': {{'expected': \"'text' or 'json_object'\"}}}}"
                )
                return _openai_error(500, detail, "internal_server_error")
            if kind == "json_object_schema":
                return _openai_error(
                    400,
                    "Invalid parameter: 'response_format.schema': Unrecognized request argument supplied.",
                    "invalid_request_error",
                    "unknown_parameter",
                    "response_format.schema",
                )
            return _openai_error(
                400,
                f"Invalid value: '{fmt.get('type')}'. Supported values are: 'json_object' and 'text'.",
                "invalid_request_error",
                "invalid_value",
                "response_format.type",
            )
        if kind == "json_schema" and self.strict:
            spec = fmt.get("json_schema") or {}
            name = spec.get("name", "")
            if not _SCHEMA_NAME.match(str(name)):
                return _openai_error(
                    400,
                    "Invalid 'response_format.json_schema.name': string does not match pattern. "
                    f"Got '{name}'.",
                    "invalid_request_error",
                    "invalid_value",
                    "response_format.json_schema.name",
                )
            if spec.get("strict"):
                problem = strict_schema_problem(spec.get("schema"))
                if problem:
                    return _openai_error(
                        400,
                        f"Invalid schema for response_format '{name}': {problem}",
                        "invalid_request_error",
                        "invalid_json_schema",
                        "response_format",
                    )
        model = str(body.get("model", ""))
        if model.startswith(self.reasoning_models):
            if "max_tokens" in body:
                return _openai_error(
                    400,
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead.",
                    "invalid_request_error",
                    "unsupported_parameter",
                    "max_tokens",
                )
            if "temperature" in body and body["temperature"] != 1:
                return _openai_error(
                    400,
                    f"Unsupported value: 'temperature' does not support {body['temperature']} with this "
                    "model. Only the default (1) value is supported.",
                    "invalid_request_error",
                    "unsupported_value",
                    "temperature",
                )
        used = len(json.dumps(body)) // 4
        if used > self.context_window:
            return self._context_error(body, used, self.context_window)
        return None

    def _body_text(self, action: Any, prompt: str) -> tuple[str, str]:
        """(content, finish_reason) for a 200 answer."""
        if isinstance(action, dict):
            return json.dumps(action), "stop"
        if isinstance(action, str) and action not in _NAMED_ACTIONS:
            return action, "stop"
        answer = self.responder(prompt)
        text = json.dumps(answer, ensure_ascii=False)
        if action == "garbage":
            return "I am sorry, I cannot produce JSON today <html>oops</html>", "stop"
        if action == "truncated":
            return text[: len(text) // 2], "length"
        if action == "invalid":
            answer.pop("signals", None)
            answer["category"] = 17
            return json.dumps(answer), "stop"
        return text, "stop"

    async def _read(self, request: Request, protocol: str) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.requests.append(
            {"protocol": protocol, "headers": dict(request.headers), "body": body, "url": str(request.url)}
        )
        return body

    async def _openai(self, request: Request) -> Response:
        body = await self._read(request, "openai")
        refused = self._check_openai(request, body)
        if refused is not None:
            return refused
        action = self._next_action()
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = await self._openai_fault(action, request, body)
        if fault is not None:
            return fault
        prompt = "\n".join(
            str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"
        )
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if action == "refusal":
            message["refusal"] = "I'm sorry, but I can't help with that request."
            content, finish = "", "stop"
        else:
            content, finish = self._body_text(action, prompt)
            message["content"] = content
        prompt_tokens = len(json.dumps(body)) // 4
        return JSONResponse(
            {
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "mock"),
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": prompt_tokens + len(content) // 4,
                },
            }
        )

    async def _anthropic_fault(self, action: Any, request: Request, body: dict[str, Any]) -> Response | None:
        if isinstance(action, tuple):  # a scripted error answer: (status, JSON body)
            return JSONResponse(action[1], status_code=action[0])
        if not isinstance(action, str):
            return None
        if action in ("429", "429-date", "429-ms"):
            return _anthropic_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit.",
                headers=self._retry_headers(action),
            )
        if action == "500":
            return _anthropic_error(500, "api_error", "Internal server error")
        if action in ("503", "529"):
            return _anthropic_error(529, "overloaded_error", "Overloaded")
        if action == "401":
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if action == "403":
            return _anthropic_error(
                403,
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            )
        if action == "404":
            return _anthropic_error(404, "not_found_error", f"model: {body.get('model')}")
        if action == "quota":
            return _anthropic_error(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API. "
                "Please go to Plans & Billing to upgrade or purchase credits.",
            )
        if action == "context":
            used = len(json.dumps(body)) // 4
            return _anthropic_error(
                400,
                "invalid_request_error",
                f"prompt is too long: {used} tokens > {min(used - 1, 8192)} maximum",
            )
        if action == "echo-400":
            return _anthropic_error(400, "invalid_request_error", f"Bad request to {request.url}")
        return await self._common_fault(action)

    async def _anthropic(self, request: Request) -> Response:
        body = await self._read(request, "anthropic")
        if self.api_key is not None and request.headers.get("x-api-key") != self.api_key:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if "output_config" in body and "json_schema" in self.unsupported_formats:
            return _anthropic_error(
                400, "invalid_request_error", "output_config: Extra inputs are not permitted"
            )
        action = self._next_action()
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = await self._anthropic_fault(action, request, body)
        if fault is not None:
            return fault
        prompt = "\n".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in body.get("messages", [])
            if m.get("role") == "user"
        )
        if action == "refusal":
            content, finish = "", "refusal"
        else:
            content, finish = self._body_text(action, prompt)
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
        if body.get("tools") and content:
            with contextlib.suppress(json.JSONDecodeError):  # a garbage answer stays a text block
                blocks = [
                    {
                        "type": "tool_use",
                        "id": "toolu_mock",
                        "name": body["tools"][0]["name"],
                        "input": json.loads(content),
                    }
                ]
        stop = {"length": "max_tokens", "refusal": "refusal"}.get(
            finish, "tool_use" if body.get("tools") else "end_turn"
        )
        return JSONResponse(
            {
                "id": "msg_mock",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "mock"),
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": len(json.dumps(body)) // 4, "output_tokens": len(content) // 4},
            }
        )

    async def _props(self, request: Request) -> Response:
        if self.n_ctx is None:
            return JSONResponse(
                {"error": {"message": "File Not Found", "type": "not_found_error"}}, status_code=404
            )
        return JSONResponse(
            {"default_generation_settings": {"n_ctx": self.n_ctx, "temperature": 0.8}, "total_slots": 1}
        )

    async def _models(self, request: Request) -> Response:
        entry: dict[str, Any] = {"id": "mock", "object": "model", "owned_by": self.owned_by}
        entry["permissions"] = []
        if self.max_model_len is not None:
            entry["max_model_len"] = self.max_model_len
        return JSONResponse({"object": "list", "data": [entry]})


_NAMED_ACTIONS = frozenset(
    FAULTS + TRANSPORT_FAULTS + ("429-ms", "401", "403", "404", "quota", "context", "echo-400", "refusal")
)


_BLOCK = r"<<<{tag} (\w+)>>>\n(.*?)\n<<<END {tag} \1>>>"


def _block(prompt: str, tag: str) -> str | None:
    m = re.search(_BLOCK.format(tag=tag), prompt, re.S)
    return m.group(2) if m else None


def trends_responder(prompt: str) -> dict[str, Any]:
    """Canned answers for `trends interpret`, `review` and `explore` (recognised by their data
    blocks), citing the numbered sources they were given; anything else gets `fake_analysis`."""
    members = _block(prompt, "MEMBERS")
    facts = _block(prompt, "FACTS")
    topic = _block(prompt, "TOPIC")
    sources = _block(prompt, "SOURCES") or members
    if sources is None:
        return fake_analysis(prompt)
    found = re.findall(r"^\[(\d+)\] (.*)$", sources, re.M)
    numbers = [int(n) for n, _ in found] or [1]
    titles = [t.split(" (")[0] for _, t in found] or ["the sources"]
    first, last = numbers[0], numbers[-1]

    def point(text: str, *cites: int) -> dict[str, Any]:
        return {"text": text, "cites": list(cites) or [first]}

    if members is not None:
        others = re.findall(r"^T(\d+): ", _block(prompt, "TRENDS") or "", re.M)
        return {
            "what_is_new": [point(f"The latest article, {titles[0]}, extends the change further.", first)],
            "short_term": [point("Early adopters scale up pilots within a few years.", first, last)],
            "long_term": [point("The practice may become a default expectation within a decade.", last)],
            "optimistic": point("Costs fall and the change spreads widely, with shared benefits.", first),
            "pessimistic": point("Backlash and uneven access stall the change after early pilots.", last),
            "drivers": [point("Falling costs and public pressure push the change.", first)],
            "inhibitors": [point("Regulation and funding gaps slow it down.", last)],
            "connections": [
                {"trend_id": int(t), "text": "Both trends draw on the same investments.", "cites": [first]}
                for t in others[:1]
            ],
            "caveat": "",
        }
    if facts is not None:
        return {
            "headline": f"A period shaped by {titles[0]}",
            "narrative": [
                point(f"The period opened with {titles[0]}.", first),
                point("Several trends gained new sources during the period.", first, last),
                point(f"It closed with {titles[-1]}.", last),
            ],
            "watch": [point("Whether the rising trends keep their pace next period.", last)],
        }
    return {
        "summary": [point(f"The sources on {(topic or 'the topic').strip()} start with {titles[0]}.", first)],
        "signals": [point("From isolated pilots to broader adoption.", first, last)],
        "questions": [point("Who pays for the transition remains open.", last)],
    }


def main() -> None:
    """Serve standalone (benchmarks run it in its own process so it does not share our GIL)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    srv = MockLLMServer(latency=args.latency, fault_rate=args.fault_rate, seed=args.seed, port=args.port)
    with srv:
        print(srv.port, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
