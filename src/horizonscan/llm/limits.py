"""Budgets and rate limits that sit in front of every LLM call."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


class BudgetExceeded(Exception):
    """No new call is started once the run's cost or token budget is spent."""


@dataclass
class Reservation:
    """What one call may cost at most, held from before it is sent until it is settled."""

    cost: float
    tokens: int
    settled: bool = False


class Budget:
    """Spend in this run against optional caps (`--max-cost`, `--max-tokens`), safe under concurrency.

    Each call reserves its worst case (estimated input tokens + its maximum output, priced) before
    it is sent, and settles at its real cost when it ends. A call starts only while the spend plus
    the reservations of the calls in flight stay under the cap; otherwise it waits for those calls
    to settle, and if the spend itself reaches the cap, no call starts again. So concurrent calls
    can overshoot the cap by at most one call's reservation, not by a whole wave of them.
    """

    def __init__(self, max_cost: float | None = None, max_tokens: int | None = None) -> None:
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.cost = 0.0  # settled
        self.tokens = 0
        self.reserved_cost = 0.0  # held by calls in flight
        self.reserved_tokens = 0
        self._in_flight = 0
        self._waiters: list[asyncio.Event] = []

    @property
    def limited(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def check(self) -> None:
        """Raise BudgetExceeded when the settled spend has reached a cap."""
        if self.max_cost is not None and self.cost >= self.max_cost:
            raise BudgetExceeded(f"cost budget reached (--max-cost ${self.max_cost:.4f})")
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            raise BudgetExceeded(f"token budget reached (--max-tokens {self.max_tokens})")

    def _room(self) -> bool:
        if self.max_cost is not None and self.cost + self.reserved_cost >= self.max_cost:
            return False
        return not (self.max_tokens is not None and self.tokens + self.reserved_tokens >= self.max_tokens)

    async def reserve(self, cost: float, tokens: int) -> Reservation:
        """Hold `cost` and `tokens` for one call, waiting while calls in flight hold the rest."""
        while True:
            self.check()
            if self._in_flight == 0 or self._room():
                break
            wake = asyncio.Event()
            self._waiters.append(wake)
            await wake.wait()
        self.reserved_cost += cost
        self.reserved_tokens += tokens
        self._in_flight += 1
        return Reservation(cost, tokens)

    def settle(self, reservation: Reservation, cost: float, tokens: int) -> None:
        """Release a reservation and count what the call really cost (0 for a call that failed)."""
        if reservation.settled:
            return
        reservation.settled = True
        self.add(cost, tokens)
        self.reserved_cost = max(0.0, self.reserved_cost - reservation.cost)
        self.reserved_tokens = max(0, self.reserved_tokens - reservation.tokens)
        self._in_flight -= 1
        waiters, self._waiters = self._waiters, []
        for wake in waiters:
            wake.set()

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
