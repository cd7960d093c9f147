"""Budgets and rate limits that sit in front of every LLM call."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal, Protocol


class BudgetExceeded(Exception):
    """No new call is started once the run's cost or token budget is spent."""


@dataclass
class Reservation:
    """What one call may cost at most, held from before it is sent until it is settled."""

    cost: float
    tokens: int
    settled: bool = False
    key: int | None = None  # the shared backend's reservation (SharedBudget), if any


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


# ----- limits shared by many processes (workers) -------------------------------------------------
# The caps above live in one process. Workers on several machines share theirs through a backend
# the job layer injects (the database: `store/limits.py`); llm/ only knows these small protocols.


@dataclass(frozen=True)
class SharedVerdict:
    """A backend's answer to a reservation: `held` (go; settle `key`), `wait`, or `spent`."""

    outcome: Literal["held", "wait", "spent"]
    key: int | None = None


class BudgetBackend(Protocol):
    """Reserves and settles against caps shared by every process of a pool, atomically."""

    def reserve(
        self, cost: float, tokens: int, max_cost: float | None, max_tokens: int | None
    ) -> SharedVerdict: ...

    def settle(self, key: int, cost: float, tokens: int) -> None: ...


class BucketBackend(Protocol):
    """Token buckets shared by every process of a pool: `take` returns 0 when `amount` was taken,
    else the seconds to wait before asking again."""

    def take(self, bucket: str, rate_per_min: float, amount: float) -> float: ...


class SharedBudget(Budget):
    """`Budget` whose spend and reservations live in a shared backend: N workers with the same
    `--max-cost X` together stop under X, overshooting by at most the calls in flight.

    This object still counts what this process spent (`cost`, `tokens`), for its own report.
    """

    def __init__(
        self,
        backend: BudgetBackend,
        max_cost: float | None = None,
        max_tokens: int | None = None,
        *,
        poll: float = 0.05,
    ) -> None:
        super().__init__(max_cost, max_tokens)
        self.backend = backend
        self.poll = poll

    async def reserve(self, cost: float, tokens: int) -> Reservation:
        delay = self.poll
        while True:
            verdict = await asyncio.to_thread(
                self.backend.reserve, cost, tokens, self.max_cost, self.max_tokens
            )
            if verdict.outcome == "held":
                break
            if verdict.outcome == "spent":
                cap = (
                    f"--max-cost ${self.max_cost:.4f}"
                    if self.max_cost is not None
                    else f"--max-tokens {self.max_tokens}"
                )
                raise BudgetExceeded(f"shared budget reached ({cap}, all workers together)")
            await asyncio.sleep(delay)  # other workers' calls in flight hold the rest: poll
            delay = min(1.0, delay * 1.5)
        self.reserved_cost += cost
        self.reserved_tokens += tokens
        self._in_flight += 1
        return Reservation(cost, tokens, key=verdict.key)

    def settle(self, reservation: Reservation, cost: float, tokens: int) -> None:
        if reservation.settled:
            return
        if reservation.key is not None:
            self.backend.settle(reservation.key, cost, tokens)
        super().settle(reservation, cost, tokens)


class SharedRateLimiter(RateLimiter):
    """`--rpm` / `--tpm` as buckets shared by every worker of a pool (named `<prefix>:rpm`, …)."""

    def __init__(
        self, backend: BucketBackend, prefix: str, rpm: float | None = None, tpm: float | None = None
    ) -> None:
        super().__init__(None, None)
        self.backend = backend
        self.prefix = prefix
        self.rpm = rpm
        self.tpm = tpm

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        async with self._lock:
            for name, rate, amount in (("rpm", self.rpm, 1.0), ("tpm", self.tpm, float(tokens))):
                if not rate:
                    continue
                bucket = f"{self.prefix}:{name}"
                while (delay := await asyncio.to_thread(self.backend.take, bucket, rate, amount)) > 0:
                    await asyncio.sleep(min(delay, 1.0))  # ask again: others may have taken it
