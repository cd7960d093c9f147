"""An OpenAI- and Anthropic-protocol server on 127.0.0.1 for tests and benchmarks.

It speaks the real wire protocols (the official SDKs talk to it over HTTP), answers with a
schema-valid English analysis built from the article it receives (evidence quoted verbatim from
the article), records every request, and can inject latency and faults: 429 (with Retry-After),
500, 503, timeouts, garbage, truncated output and schema-invalid JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
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

FAULTS = ("429", "500", "503", "timeout", "garbage", "truncated", "invalid")
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
            "relevancy": (i % 5) + 1,
            "evidence": _words(text, 8 * i, 8),
        }

    signal = {
        "name": f"Shift around {subject}",
        "description": f"A change involving {subject}.",
        "change": "From the current practice to a new approach.",
        "ten_year": "Organisations may work differently in ten years.",
        "driving_force": "Technology and market pressure.",
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


@dataclass
class MockLLMServer:
    """Start with `with MockLLMServer() as srv:`; point the SDKs at `srv.openai_url` / `srv.anthropic_url`."""

    latency: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    seed: int = 0
    timeout_sleep: float = 5.0
    # Optional scripted answers, used first, one per request: a fault name or a dict/str body.
    script: list[Any] = field(default_factory=list)
    responder: Callable[[str], dict[str, Any]] = fake_analysis
    requests: list[dict[str, Any]] = field(default_factory=list)
    unsupported_formats: tuple[str, ...] = ()  # response_format types answered with HTTP 400
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
            ]
        )
        config = uvicorn.Config(
            app,
            log_level="error",
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

    async def _fault(self, action: Any) -> Response | None:
        if action == "429":
            return JSONResponse(
                {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                status_code=429,
                headers={"retry-after": "0"},
            )
        if action in ("500", "503"):
            return JSONResponse(
                {"error": {"message": "server error", "type": "api_error"}}, status_code=int(action)
            )
        if action == "timeout":
            await asyncio.sleep(self.timeout_sleep)
            return JSONResponse({"error": {"message": "too late"}}, status_code=504)
        return None

    def _body_text(self, action: Any, prompt: str) -> tuple[str, str]:
        """(content, finish_reason) for a 200 answer."""
        if isinstance(action, dict):
            return json.dumps(action), "stop"
        if isinstance(action, str) and action not in FAULTS:
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

    async def _openai(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"protocol": "openai", "headers": dict(request.headers), "body": body})
        fmt = (body.get("response_format") or {}).get("type")
        if fmt in self.unsupported_formats:
            return JSONResponse(
                {
                    "error": {
                        "message": f"response_format {fmt} is not supported",
                        "type": "invalid_request_error",
                    }
                },
                status_code=400,
            )
        action = self._next_action()
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = await self._fault(action)
        if fault is not None:
            return fault
        prompt = "\n".join(
            str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"
        )
        content, finish = self._body_text(action, prompt)
        return JSONResponse(
            {
                "id": "chatcmpl-mock",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "mock"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {
                    "prompt_tokens": len(json.dumps(body)) // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": len(json.dumps(body)) // 4 + len(content) // 4,
                },
            }
        )

    async def _anthropic(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"protocol": "anthropic", "headers": dict(request.headers), "body": body})
        action = self._next_action()
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = await self._fault(action)
        if fault is not None:
            if fault.status_code == 429:
                return JSONResponse(
                    {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
                    status_code=429,
                    headers={"retry-after": "0"},
                )
            return fault
        prompt = "\n".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in body.get("messages", [])
            if m.get("role") == "user"
        )
        if "output_config" in body and "json_schema" in self.unsupported_formats:
            return JSONResponse(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "output_config.format: not supported for this model",
                    },
                },
                status_code=400,
            )
        content, finish = self._body_text(action, prompt)
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}]
        if body.get("tools"):
            with contextlib.suppress(json.JSONDecodeError):  # a garbage answer stays a text block
                blocks = [
                    {
                        "type": "tool_use",
                        "id": "toolu_mock",
                        "name": body["tools"][0]["name"],
                        "input": json.loads(content),
                    }
                ]
        return JSONResponse(
            {
                "id": "msg_mock",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "mock"),
                "content": blocks,
                "stop_reason": "max_tokens"
                if finish == "length"
                else ("tool_use" if body.get("tools") else "end_turn"),
                "stop_sequence": None,
                "usage": {"input_tokens": len(json.dumps(body)) // 4, "output_tokens": len(content) // 4},
            }
        )


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
