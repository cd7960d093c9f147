"""One structured LLM call with everything around it: retries, re-asks, budget, rate limits, ledger.

Transient faults (429 with Retry-After, 5xx, timeouts, connection errors) are retried with
exponential backoff and jitter; answers that are not valid JSON for the schema, or were cut off
(`finish_reason: length`), are re-asked with the problem stated, at most `max_repairs` times.
Every attempt, good or bad, is reported to `on_call` so the ledger misses nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar, cast

from pydantic import ValidationError

from horizonscan.llm.base import ChatRequest, ChatResponse, Message, Provider, ProviderError
from horizonscan.llm.limits import Budget, RateLimiter
from horizonscan.llm.pricing import PriceTable
from horizonscan.models import CallRecord, CallStatus

T = TypeVar("T")


class LLMFailure(Exception):
    """The call could not produce a valid answer within its attempt budget."""


def describe_invalid(exc: Exception) -> str:
    """A short, model-readable account of what was wrong with an answer."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:8]:
            loc = ".".join(str(p) for p in err["loc"]) or "(root)"
            parts.append(f"{loc}: {err['msg']}")
        return "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at char {exc.pos})"
    return str(exc)[:300]


class LLMClient:
    def __init__(
        self,
        provider: Provider,
        *,
        prices: PriceTable | None = None,
        budget: Budget | None = None,
        limiter: RateLimiter | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        max_retries: int = 6,
        max_repairs: int = 2,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.prices = prices or PriceTable()
        self.budget = budget or Budget()
        self.limiter = limiter or RateLimiter()
        self.on_call = on_call
        self.max_retries = max_retries
        self.max_repairs = max_repairs
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.backoff_max, retry_after)
        delay = min(self.backoff_max, self.backoff_base * 2.0 ** (failures - 1))
        return float(delay * random.uniform(0.5, 1.5))

    def _record(self, rec: CallRecord) -> None:
        if self.on_call is not None:
            self.on_call(rec)

    async def structured(
        self,
        request: ChatRequest,
        parse: Callable[[str], T],
        *,
        repair_prompt: str,
        text_hash: str | None = None,
        purpose: str = "analyze",
    ) -> T:
        """Return `parse(answer)`; `repair_prompt` (with `{problem}`) asks again after a bad answer."""
        provider = self.provider
        messages = list(request.messages)
        attempt = failures = repairs = 0
        while True:
            self.budget.check()
            req = replace(request, messages=messages)
            await self.limiter.acquire(req.chars() // 4 + req.max_output_tokens)
            attempt += 1
            base = CallRecord(
                provider=provider.name,
                model=provider.model,
                purpose=purpose,
                text_hash=text_hash,
                attempt=attempt,
                request_chars=req.chars(),
            )
            started = time.perf_counter()
            try:
                resp: ChatResponse = await provider.chat(req)
            except ProviderError as exc:
                self._record(
                    base.model_copy(
                        update={
                            "status": "error",
                            "error": str(exc),
                            "latency_s": time.perf_counter() - started,
                        }
                    )
                )
                if not exc.transient or failures >= self.max_retries:
                    tail = "" if not exc.transient else f" (gave up after {failures + 1} tries)"
                    raise LLMFailure(f"{exc}{tail}") from exc
                failures += 1
                await self._sleep(self._backoff(failures, exc.retry_after))
                continue
            latency = time.perf_counter() - started
            cost = self.prices.cost(provider.spec, resp.input_tokens, resp.output_tokens)
            self.budget.add(cost, resp.input_tokens + resp.output_tokens)
            status: CallStatus
            value: T | None = None
            if resp.finish_reason == "length":
                status = "truncated"
                problem = (
                    "your answer was cut off at the output limit. Answer again, complete and "
                    "shorter: brief descriptions, fewer items"
                )
            else:
                try:
                    value = parse(resp.text)
                    status = "ok"
                    problem = ""
                except (ValueError, ValidationError) as exc:
                    status = "invalid"
                    problem = describe_invalid(exc)
            self._record(
                base.model_copy(
                    update={
                        "status": status,
                        "error": problem or None,
                        "latency_s": latency,
                        "input_tokens": resp.input_tokens,
                        "output_tokens": resp.output_tokens,
                        "cost_usd": cost,
                    }
                )
            )
            if status == "ok":
                return cast(T, value)
            if repairs >= self.max_repairs:
                raise LLMFailure(f"{provider.spec} gave no valid answer after {repairs + 1} tries: {problem}")
            repairs += 1
            if status == "truncated":
                # Resending a cut answer is waste: ask afresh, with the note in the same user turn.
                last = request.messages[-1]
                note = repair_prompt.format(problem=problem)
                messages = [*request.messages[:-1], Message(last.role, f"{last.content}\n\n{note}")]
            else:
                messages = [
                    *request.messages,
                    Message("assistant", resp.text[:4000]),
                    Message("user", repair_prompt.format(problem=problem)),
                ]
