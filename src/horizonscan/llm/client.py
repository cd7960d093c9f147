"""One structured LLM call with everything around it: retries, re-asks, modes, budget, ledger.

Each attempt is one HTTP request, and each is reported to `on_call`, rejected ones included, so
the ledger misses nothing. What happens after a failed attempt depends on whose fault it was:

- the server or the transport (429, 5xx, timeouts, dropped connections, a body that is not JSON):
  retried with exponential backoff and jitter, honouring `Retry-After` up to `backoff_max`, from
  the retry budget (`max_retries`);
- the model (an answer that is not valid JSON for the schema, or was cut off at the output
  limit): asked again with the problem stated, from the separate repair budget (`max_repairs`),
  so a flaky server never uses up the re-asks meant for the model's own mistakes;
- the structured-output mode (the server rejects `json_schema`, say): the same request is sent
  again in the provider's next mode, and the mode that works is kept for the run;
- the configuration (bad key, no permission, unknown model, no credit, nothing listening): the
  call raises `LLMFatal`, and every later call fails at once without a request;
- the context window (the server answers "context length exceeded"): the call fails with a clear
  message (the window the server named, and `--context-tokens N --retry-failed` to redo it), and
  the provider keeps that window, so the analyzer splits every later text of the run to fit. The
  client cannot split a request itself: the text to split is the analyzer's.

Until the provider has answered once, calls wait for the first one to finish its attempt: a run
against a wrong key or a dead port costs one request, not one per article in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar, cast

from pydantic import ValidationError

from horizonscan.llm.base import (
    ChatRequest,
    ChatResponse,
    ConfigurationError,
    Message,
    Provider,
    ProviderError,
)
from horizonscan.llm.limits import Budget, RateLimiter, Reservation
from horizonscan.llm.pricing import PriceTable
from horizonscan.models import CallRecord, CallStatus
from horizonscan.redact import scrub
from horizonscan.retry import RetryPolicy

T = TypeVar("T")

# A parameter adaptation (e.g. `max_tokens` → `max_completion_tokens`) is made once per run; a few
# per call cover every combination, and more would mean a server that keeps changing its mind.
MAX_ADAPTATIONS = 4
# Chars per token when reserving budget: lower than the usual 4, so the estimate stays on the safe
# side for most languages.
RESERVE_CHARS_PER_TOKEN = 3


class LLMFailure(Exception):
    """The call could not produce a valid answer within its attempt budget."""


class LLMFatal(LLMFailure):
    """The provider cannot be used as configured; no later call in this run can succeed."""


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
        audit: bool = False,
        probe_first: bool = True,
        unreachable_retries: int = 2,
    ) -> None:
        self.provider = provider
        self.prices = prices or PriceTable()
        self.budget = budget or Budget()
        if self.budget.max_cost is not None and self.prices.price(provider.spec) is None:
            raise ConfigurationError(
                f"--max-cost needs a price for {provider.spec}, and none is known: add one under "
                f'[prices] in horizonscan.toml, e.g. "{provider.spec}" = {{ input = 1.0, output = 4.0 }} '
                "(USD per million tokens), or use --max-tokens"
            )
        self.limiter = limiter or RateLimiter()
        self.on_call = on_call
        self.max_retries = max_retries
        self.max_repairs = max_repairs
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.audit = audit
        self.probe_first = probe_first
        self.unreachable_retries = unreachable_retries
        self._sleep = sleep
        self.fatal: str | None = None  # set once the provider proved unusable
        self._answered = False  # the provider has answered (anything, even an error) in this run
        self._probing = False
        self._gate: asyncio.Event | None = None

    # ---- helpers ----------------------------------------------------------------------------
    def _backoff(self, failures: int, retry_after: float | None) -> float:
        """The project's one retry rule (shared with the web fetcher): Retry-After, else backoff."""
        return RetryPolicy(self.backoff_base, self.backoff_max).delay(failures, retry_after)

    def _record(self, rec: CallRecord) -> None:
        if self.on_call is not None:
            self.on_call(rec)

    def _reservation(self, req: ChatRequest) -> tuple[float, int]:
        tokens_in = req.chars() // RESERVE_CHARS_PER_TOKEN + 1
        cost = self.prices.cost(self.provider.spec, tokens_in, req.max_output_tokens)
        return cost, tokens_in + req.max_output_tokens

    async def _wait_for_first_answer(self) -> bool:
        """Hold every call until the provider has answered once; True for the call that goes first."""
        if not self.probe_first or self._answered or self.fatal:
            return False
        if not self._probing:
            self._probing = True
            return True
        if self._gate is None:
            self._gate = asyncio.Event()
        await self._gate.wait()
        return False

    def _open_gate(self) -> None:
        self._probing = False
        if self._gate is not None:
            self._gate.set()

    def _stop(self, message: str) -> LLMFatal:
        self.fatal = self.fatal or scrub(message)
        self._open_gate()
        return LLMFatal(self.fatal)

    # ---- the call ---------------------------------------------------------------------------
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
        probe: list[bool] = []  # non-empty while this call is the run's first (see the gate)
        try:
            return await self._structured(request, parse, repair_prompt, text_hash, purpose, probe)
        finally:
            if probe:
                self._open_gate()

    async def _structured(
        self,
        request: ChatRequest,
        parse: Callable[[str], T],
        repair_prompt: str,
        text_hash: str | None,
        purpose: str,
        probe_ref: list[bool],
    ) -> T:
        provider = self.provider
        messages = list(request.messages)
        mode: str | None = None
        attempt = failures = repairs = adaptations = unreachable = 0
        pause = 0.0
        while True:
            if pause:
                await self._sleep(pause)
                pause = 0.0
            if self.fatal:
                raise LLMFatal(self.fatal)
            req = replace(request, messages=messages)
            est_cost, est_tokens = self._reservation(req)
            reservation: Reservation = await self.budget.reserve(est_cost, est_tokens)
            spent_cost, spent_tokens = 0.0, 0
            try:
                await self.limiter.acquire(est_tokens)
                if not probe_ref and await self._wait_for_first_answer():
                    probe_ref.append(True)
                if self.fatal:
                    raise LLMFatal(self.fatal)
                mode = mode or provider.mode  # read after waiting: start at the best mode known
                attempt += 1
                base = CallRecord(
                    provider=provider.name,
                    model=provider.model,
                    purpose=purpose,
                    text_hash=text_hash,
                    attempt=attempt,
                    request_chars=req.chars(),
                    prompt=self._audit_prompt(req, mode),
                )
                started = time.perf_counter()
                try:
                    resp: ChatResponse = await provider.chat(req, mode)
                except ProviderError as exc:
                    latency = time.perf_counter() - started
                    if exc.kind != "unreachable":
                        self._answered = True
                    # -- what to do next, decided before recording so the row can say it
                    next_mode: str | None = None
                    if exc.kind == "format":
                        next_mode = provider.step_down(mode)
                    note = f"; next: {next_mode}" if next_mode else ""
                    self._record(
                        base.model_copy(
                            update={
                                "status": "error",
                                "error": scrub(f"{exc}{note}"),
                                "latency_s": latency,
                                "response": self._audit_text(exc.body or str(exc)),
                            }
                        )
                    )
                    if probe_ref and exc.kind != "unreachable":
                        self._open_gate()
                    if exc.kind == "fatal":
                        raise self._stop(str(exc)) from exc
                    if exc.kind == "unreachable" and not self._answered:
                        unreachable += 1
                        if unreachable > self.unreachable_retries:
                            raise self._stop(
                                f"{exc}: nothing answered after {unreachable} tries; check that the "
                                "server is running and the base URL is right"
                            ) from exc
                        pause = min(self.backoff_max, 0.25 * unreachable)
                        continue
                    if exc.kind == "format":
                        if next_mode is None:
                            raise LLMFailure(
                                f"{scrub(str(exc))} (no structured-output mode left to try)"
                            ) from exc
                        mode = next_mode
                        continue
                    if exc.kind == "adapted":
                        adaptations += 1
                        if adaptations > MAX_ADAPTATIONS:
                            raise LLMFailure(scrub(str(exc))) from exc
                        continue
                    if exc.kind == "context":
                        raise LLMFailure(self._context_failure(exc)) from exc
                    if exc.kind in ("refusal", "rejected"):
                        raise LLMFailure(scrub(str(exc))) from exc
                    # transient (and unreachable after the provider has answered once)
                    if failures >= self.max_retries:
                        raise LLMFailure(f"{scrub(str(exc))} (gave up after {failures + 1} tries)") from exc
                    failures += 1
                    pause = self._backoff(failures, exc.retry_after)
                    continue
                latency = time.perf_counter() - started
                self._answered = True
                if probe_ref:
                    self._open_gate()
                spent_cost = self.prices.cost(provider.spec, resp.input_tokens, resp.output_tokens)
                spent_tokens = resp.input_tokens + resp.output_tokens
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
                            "error": scrub(problem) or None,
                            "latency_s": latency,
                            "input_tokens": resp.input_tokens,
                            "output_tokens": resp.output_tokens,
                            "cost_usd": spent_cost,
                            "response": self._audit_text(resp.text),
                        }
                    )
                )
            finally:
                self.budget.settle(reservation, spent_cost, spent_tokens)
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

    def _context_failure(self, exc: ProviderError) -> str:
        """Learn the real window for the rest of the run, and say how to redo this article."""
        provider = self.provider
        limit = exc.context_tokens
        assumed = provider.context_tokens
        if limit and limit < assumed:
            provider.context_tokens = limit  # later articles in this run are split to fit
            hint = (
                f"the model's context is {limit} tokens, not {assumed}; later articles in this run "
                f"are split to fit. Redo this one with --context-tokens {limit} --retry-failed"
            )
        else:
            hint = "set --context-tokens to the server's real context window and run with --retry-failed"
        return f"{scrub(str(exc))} ({hint})"

    def _audit_prompt(self, req: ChatRequest, mode: str) -> str | None:
        if not self.audit:
            return None
        return scrub(json.dumps(self.provider.describe(req, mode), ensure_ascii=False))

    def _audit_text(self, text: str | None) -> str | None:
        if not self.audit or text is None:
            return None
        return scrub(text)
