"""Recurring collection: `horizonscan watch --every 6h` collects the saved sources (`sources add`)
and analyzes what is new, cycle after cycle; `--once` runs one cycle (for cron or a systemd timer).

Two watchers on one database never overlap: each holds an exclusive OS file lock
(`fcntl.flock`) on `<db>.watch.lock` beside the database for as long as it runs. The kernel drops
the lock when the process ends, however it ends (kill -9 included), so a crashed watcher never
leaves a stale lock behind. A second watcher says who holds the lock and exits 1, or, with
`wait_lock`, waits for it. (Manual `analyze` and `collect` runs take no watch lock: the article
leases already keep them from paying twice for an article.)

A cycle analyzes this cycle's new links and every article collected earlier but never analyzed
(an interrupted cycle's), through the ordinary batch, or with `batch=True` through the
providers' batch engines (each cycle also ingests the batches that ended since the last one).
SIGINT (Ctrl-C) and SIGTERM (systemd's stop) end the watcher cleanly: between cycles at once,
during a cycle as an interrupted batch does (everything finished is kept).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

from horizonscan.config import Settings
from horizonscan.jobs.batch import RunSummary, run_batch
from horizonscan.jobs.collect import CollectReport, run_collect
from horizonscan.jobs.provider_batch import BatchReport, poll_batches, submit_batch
from horizonscan.sources.inputs import Input
from horizonscan.store import Store
from horizonscan.store.batches import new_article_sources

Log = Callable[[str], None]
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.I)
MIN_EVERY = 1.0


class WatchError(Exception):
    """The watcher cannot run as asked (no sources, a bad interval, no file locks here)."""


class WatchBusy(WatchError):
    """Another watcher holds the lock on this database."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(
            f"another `horizonscan watch` is running on this database ({holder or 'holder unknown'}; "
            f"lock {path}); this one exits. Use --wait-lock to wait for it instead"
        )
        self.path = path
        self.holder = holder


def parse_every(text: str, *, minimum: float = MIN_EVERY) -> float:
    """Seconds in an interval such as `6h`, `30m`, `1h30m`, `90s`, `1d` (a bare number: seconds)."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or _DURATION.sub("", value).strip():
            raise WatchError(f"--every {text!r}: use a duration such as 6h, 30m, 1h30m or 90s") from None
        seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    if seconds < minimum or seconds <= 0:
        raise WatchError(f"--every {text!r}: at least {minimum:g} second(s)")
    return seconds


def lock_path(db: Path) -> Path:
    return db.with_name(f"{db.name}.watch.lock")


class WatchLock:
    """An exclusive `flock` on `path`; the file says who holds it (pid, host, since when)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self, *, wait: bool = False, poll: float = 0.5, log: Log | None = None) -> None:
        try:
            import fcntl
        except ImportError as exc:  # pragma: no cover - Windows
            raise WatchError(
                "watch needs POSIX file locks (fcntl); schedule `collect --analyze` instead"
            ) from exc
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")
        told = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip()
                if not wait:
                    fh.close()
                    raise WatchBusy(self.path, holder) from None
                if log is not None and not told:
                    log(f"waiting for the other watcher to finish ({holder or 'holder unknown'})")
                    told = True
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {since}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Unlocked explicitly on a clean exit; the kernel does it on any other exit."""
        if self._fh is None:
            return
        import fcntl

        self._fh.seek(0)
        self._fh.truncate()
        self._fh.flush()
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None

    def __enter__(self) -> WatchLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class CycleReport:
    number: int
    started: datetime
    collect: CollectReport
    analysis: RunSummary | None = None
    batch: BatchReport | None = None
    seconds: float = 0.0

    @property
    def fatal(self) -> str | None:
        if self.analysis is not None and self.analysis.fatal:
            return self.analysis.fatal
        return self.batch.fatal if self.batch is not None else None

    @property
    def failed(self) -> bool:
        counts = self.counts()
        return bool(self.collect.failed) or counts["failed"] > 0 or counts["skipped"] > 0

    def counts(self) -> dict[str, int]:
        out = {"analyzed": 0, "reused": 0, "failed": 0, "skipped": 0, "queued": 0}
        if self.analysis is not None:
            for key in ("analyzed", "reused", "failed", "skipped"):
                out[key] += self.analysis.count(key)
        if self.batch is not None:
            for key in ("analyzed", "reused", "failed", "skipped"):
                out[key] += self.batch.count(key)
            out["queued"] = self.batch.queued
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "cycle": self.number,
            "started": self.started.isoformat(timespec="seconds"),
            "seconds": round(self.seconds, 3),
            "sources": len(self.collect.sources),
            "new_articles": len(self.collect.new_articles),
            "fetch_failed": len(self.collect.failed),
            **self.counts(),
            "fatal": self.fatal,
            "collect": self.collect.as_dict(),
            "analysis": self.analysis.as_dict() if self.analysis is not None else None,
            "batch": self.batch.as_dict() if self.batch is not None else None,
        }


async def run_cycle(
    store: Store,
    settings: Settings,
    *,
    number: int = 1,
    batch: bool = False,
    fallback: bool = True,
    log: Log | None = None,
) -> CycleReport:
    """Collect every saved source, then analyze what is new (or send it to a provider batch)."""
    specs = [row.spec for row in store.sources.list_sources()]
    if not specs:
        raise WatchError("no saved sources to watch; add some with: horizonscan sources add URL|PATH")
    started = time.perf_counter()
    report = CycleReport(number, datetime.now(UTC), await run_collect(store, settings, specs))
    pending = dict.fromkeys([*report.collect.new_articles, *new_article_sources(store.engine)])
    items = [Input(source, is_url="://" in source) for source in pending]
    if batch:
        if items:
            report.batch = await submit_batch(store, settings, items, fallback=fallback, log=log)
        else:
            report.batch = await poll_batches(store, settings, fallback=fallback, log=log)
    elif items:
        report.analysis = await run_batch(store, settings, items, log=log)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        # Exactly what Ctrl-C does: inside a cycle, asyncio cancels the batch cleanly (leases
        # released, finished articles kept); between cycles, the sleep ends.
        signal.raise_signal(signal.SIGINT)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class WatchResult:
    cycles: int = 0
    interrupted: bool = False  # stopped during a cycle (work finished so far is kept)
    stopped: bool = False  # stopped between cycles
    last: CycleReport | None = None


def watch(
    store: Store,
    settings: Settings,
    *,
    every: float,
    once: bool = False,
    batch: bool = False,
    fallback: bool = True,
    wait_lock: bool = False,
    log: Log | None = None,
    on_cycle: Callable[[CycleReport], None] | None = None,
    max_cycles: int | None = None,
) -> WatchResult:
    """Hold the lock, then run a cycle every `every` seconds (start to start) until stopped.

    A cycle that overruns `every` is followed at once by the next. A fatal provider error in a
    cycle ends a `once` run (the caller exits 3) but not a long-running watcher, which says so
    and tries again at the next cycle (keys get fixed, credit gets topped up).
    """
    log = log or (lambda _msg: None)
    result = WatchResult()
    # A server database (postgresql://…) has no file beside it: the lock is in the working folder.
    lock = WatchLock(lock_path(settings.db_file() or Path("horizonscan.db")))
    lock.acquire(wait=wait_lock, log=log)
    try:
        with _sigterm_as_interrupt():
            while True:
                start = time.monotonic()
                try:
                    cycle = asyncio.run(
                        run_cycle(
                            store, settings, number=result.cycles + 1, batch=batch, fallback=fallback, log=log
                        )
                    )
                except KeyboardInterrupt:
                    result.interrupted = True
                    return result
                result.cycles += 1
                result.last = cycle
                if on_cycle is not None:
                    on_cycle(cycle)
                if once or (max_cycles is not None and result.cycles >= max_cycles):
                    return result
                if cycle.fatal:
                    log(f"cycle {cycle.number}: {cycle.fatal}; trying again at the next cycle")
                wait = start + every - time.monotonic()
                if wait <= 0:
                    log(f"cycle {cycle.number} took longer than --every ({every:g}s): the next starts now")
                    continue
                resume = datetime.now(UTC).timestamp() + wait
                log(f"next cycle at {datetime.fromtimestamp(resume, UTC).isoformat(timespec='seconds')}")
                try:
                    time.sleep(wait)
                except KeyboardInterrupt:
                    result.stopped = True
                    return result
    finally:
        lock.release()
