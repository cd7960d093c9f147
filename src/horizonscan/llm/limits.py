"""Budgets and rate limits that sit in front of every LLM call."""

from __future__ import annotations

import asyncio
import time


class BudgetExceeded(Exception):
    """No new call is started once the run's cost or token budget is spent."""


class Budget:
    """Spend so far in this run, against optional caps (`--max-cost`, `--max-tokens`)."""

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None) -> None:
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.cost = 0.0
        self.tokens = 0

    def check(self) -> None:
        if self.max_cost is not None and self.cost >= self.max_cost:
            raise BudgetExceeded(
                f"cost budget reached: ${self.cost:.4f} spent of --max-cost ${self.max_cost:.4f}"
            )
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            raise BudgetExceeded(
                f"token budget reached: {self.tokens} tokens used of --max-tokens {self.max_tokens}"
            )

    @property
    def exhausted(self) -> bool:
        try:
            self.check()
        except BudgetExceeded:
            return True
        return False

    def add(self, cost: float, tokens: int) -> None:
        self.cost += cost
        self.tokens += tokens


class _Bucket:
    """A token bucket refilled continuously at `rate_per_min` per minute."""

    def __init__(self, rate_per_min: float) -> None:
        self.capacity = float(rate_per_min)
        self.level = float(rate_per_min)
        self.rate = rate_per_min / 60.0
        self.stamp = time.monotonic()

    def wait_time(self, amount: float) -> float:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        amount = min(amount, self.capacity)
        if self.level >= amount:
            self.level -= amount
            return 0.0
        return (amount - self.level) / self.rate


class RateLimiter:
    """`--rpm` requests and `--tpm` tokens per minute, shared by all concurrent calls."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        self._rpm = _Bucket(rpm) if rpm else None
        self._tpm = _Bucket(tpm) if tpm else None
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self._rpm and not self._tpm:
            return
        async with self._lock:
            for bucket, amount in ((self._rpm, 1.0), (self._tpm, float(tokens))):
                if bucket is None:
                    continue
                while (delay := bucket.wait_time(amount)) > 0:
                    await asyncio.sleep(delay)
