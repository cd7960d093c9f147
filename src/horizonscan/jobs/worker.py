"""Workers: any number of processes, on any number of machines, analyzing what was enqueued.

`analyze … --enqueue` and `collect … --enqueue` only store the articles as pending (status
"new"). A `horizonscan worker` claims one pending article at a time from the database with a
lease (`store.articles.claim_next`: one atomic UPDATE … RETURNING, `FOR UPDATE SKIP LOCKED` on
PostgreSQL), takes it through the same per-article path as a batch (`article.process_article`),
renews its leases while it works and releases them on Ctrl-C (SIGINT) or SIGTERM. A killed
worker stops renewing: its leases expire after `lease_seconds` and another worker takes the
article over. A successful call's ledger row is committed with its analysis, so an answer that
reached a worker is never paid for twice; only the calls in flight at a kill may be.

Why leases in the database rather than a queue library (procrastinate, Celery, RQ): the articles
table already is the queue (status, text, lease columns), so there is no second store to keep in
step with it and no broker to run; it works the same on SQLite (one user, one machine, several
processes) and on PostgreSQL (a team); and a batch run and workers respect the same leases.

Budgets and rate limits are shared through the database too (`store/limits.py`): N workers with
`--max-cost X` together stop under X (plus at most one call's reservation), and `--rpm` is one
bucket for the pool. The corpus stage (similarity, stories, trends, pages) runs once per change,
not once per worker: an idle worker compares a stored marker of the corpus with the current one
and, if it changed, takes the named lock "corpus" and runs it; the others skip.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from horizonscan.analysis.analyzer import Analyzer, make_analyzer
from horizonscan.config import Settings
from horizonscan.extract import ExtractionError, quality_flags
from horizonscan.jobs.article import ArticleJob, Deferred, RunSummary, process_article
from horizonscan.jobs.batch import batch_options
from horizonscan.jobs.corpus import publish_corpus
from horizonscan.jobs.leases import owner_is_gone
from horizonscan.jobs.load import DocumentLoader
from horizonscan.llm.limits import SharedBudget, SharedRateLimiter, SharedVerdict
from horizonscan.models import ArticleResult, Origin
from horizonscan.sources.inputs import Input
from horizonscan.store import Store
from horizonscan.store.limits import LimitRepo

CORPUS_LOCK = "corpus"
CORPUS_MARKER = "worker.corpus_marker"  # meta key: the corpus marker the last corpus stage saw

ResultHook = Callable[[ArticleResult], None]


def is_url(source: str) -> bool:
    return "://" in source


# ----- shared limits: the database as the llm layer's budget and bucket backend -------------------
class PoolLimits:
    """Adapts `store.limits.LimitRepo` to the protocols of `llm.limits` for one worker (llm/
    never imports the store: the job layer wires them)."""

    def __init__(self, repo: LimitRepo, pool: str, owner: str, *, seconds: float) -> None:
        self.repo = repo
        self.pool = pool
        self.owner = owner
        self.seconds = seconds

    def reserve(
        self, cost: float, tokens: int, max_cost: float | None, max_tokens: int | None
    ) -> SharedVerdict:
        hold = self.repo.reserve(
            self.pool,
            self.owner,
            cost=cost,
            tokens=tokens,
            max_cost=max_cost,
            max_tokens=max_tokens,
            seconds=self.seconds,
        )
        return SharedVerdict(hold.outcome, hold.key)

    def settle(self, key: int, cost: float, tokens: int) -> None:
        self.repo.settle(self.pool, key, cost=cost, tokens=tokens)

    def take(self, bucket: str, rate_per_min: float, amount: float) -> float:
        return self.repo.take(bucket, rate_per_min=rate_per_min, amount=amount)


def share_limits(analyzer: Analyzer, settings: Settings, limits: PoolLimits) -> None:
    """Put the analyzer's budget and rate limits in the database, shared by the pool."""
    client = analyzer.client
    if settings.max_cost is not None or settings.max_tokens is not None:
        client.budget = SharedBudget(limits, settings.max_cost, settings.max_tokens)
    if settings.rpm or settings.tpm:
        prefix = f"{limits.pool}:{client.provider.spec}"
        client.limiter = SharedRateLimiter(limits, prefix, settings.rpm, settings.tpm)


# ----- the worker ----------------------------------------------------------------------------------
@dataclass
class WorkerOptions:
    concurrency: int | None = None  # articles at once (default: the provider's)
    until_empty: bool = False  # exit once nothing is pending (cron, tests, benchmarks)
    poll_seconds: float = 1.0  # how often an idle worker looks for work
    corpus: bool = True  # run the corpus stage when the queue is empty and the corpus changed
    force: bool = False  # analyze articles flagged as too short, paywall or error page
    pool: str = "default"  # workers sharing one budget and one set of rate buckets


@dataclass
class WorkerReport:
    owner: str
    summary: RunSummary
    corpus_runs: int = 0
    pool_spent: float | None = None  # what the whole pool spent (shared budget), when capped

    def as_dict(self) -> dict[str, object]:
        return {
            "owner": self.owner,
            **self.summary.as_dict(),
            "corpus_runs": self.corpus_runs,
            "pool_spent_usd": None if self.pool_spent is None else round(self.pool_spent, 6),
        }


class Worker:
    """One worker process: `concurrency` slots, each claiming and analyzing one article at a time."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        analyzer: Analyzer,
        options: WorkerOptions,
        *,
        log: Callable[[str], None] | None = None,
        on_result: ResultHook | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.analyzer = analyzer
        self.options = options
        self.log = log
        self.on_result = on_result
        opts = batch_options(settings, analyzer, origin=None, force=options.force)
        if options.concurrency:
            opts.concurrency = options.concurrency
        opts.live_pages = False  # pages are the corpus stage's, once per change
        self.job = ArticleJob(store, analyzer, opts, log=log)
        self.limits = store.limits
        self.pool_limits = PoolLimits(self.limits, options.pool, self.owner, seconds=opts.lease_seconds)
        self.corpus_runs = 0
        self._busy = 0  # slots working on an article now
        self._empty = False  # the last claim found nothing pending
        self._stopping = False  # the slots are done: the idle loop ends

    @property
    def owner(self) -> str:
        return self.job.owner

    @property
    def summary(self) -> RunSummary:
        return self.job.summary

    async def run(self) -> RunSummary:
        """Work until stopped (a budget, a fatal provider error, cancellation) or, with
        `until_empty`, until nothing is pending. Cancellation (Ctrl-C) is not an error: the
        leases are released and the summary says `interrupted`."""
        started = time.perf_counter()
        self.job.start()
        share_limits(self.analyzer, self.settings, self.pool_limits)
        renewer = asyncio.create_task(self._renew())
        slots = [asyncio.create_task(self._slot()) for _ in range(self.job.opts.concurrency)]
        corpus = None
        if not self.options.until_empty:
            corpus = asyncio.create_task(self._idle_loop())
        try:
            await asyncio.gather(*slots)
            if corpus is not None:  # let a corpus stage in progress finish, not cancel it midway
                self._stopping = True
                await corpus
            if self.options.corpus:  # the queue is empty, or a budget stopped the pool
                await self.publish_if_changed()
        except asyncio.CancelledError:
            self.summary.interrupted = True
            for task in slots:
                task.cancel()
            await asyncio.gather(*slots, return_exceptions=True)  # their leases go at once
        except Exception:
            for task in slots:
                task.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
            raise
        finally:
            renewer.cancel()
            if corpus is not None:
                corpus.cancel()
            self.job.finish()
            self.limits.drop_reservations(self.owner)
            self.limits.unlock(CORPUS_LOCK, self.owner)
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    async def _slot(self) -> None:
        articles = self.store.articles
        while not self.summary.stopped:
            try:
                article_id = articles.claim_next(self.owner, seconds=self.job.opts.lease_seconds)
            except OperationalError as exc:  # the server restarting, a lock held too long: try again
                if self.log is not None:
                    self.log(f"cannot claim an article now ({str(exc.orig).strip()[:200]}); trying again")
                await asyncio.sleep(max(1.0, self.options.poll_seconds))
                continue
            if article_id is None:
                self._empty = True
                if self.options.until_empty and self._busy == 0 and self.limits.pending() == 0:
                    return
                if self._release_dead_holders():
                    continue
                await asyncio.sleep(self.options.poll_seconds)
                continue
            self._empty = False
            self._busy += 1
            try:
                await self._one(article_id)
            finally:
                self._busy -= 1
                articles.release_article(article_id, self.owner)

    def _release_dead_holders(self) -> bool:
        """A worker killed on this machine (its process is gone) need not wait for its leases to
        expire: its articles and budget reservations are freed now. Holders on other machines
        are left to expire."""
        gone = {h for h in self.limits.queue_holders() if h != self.owner and owner_is_gone(h)}
        for holder in gone:
            self.store.articles.release_leases(holder)
            self.limits.drop_reservations(holder)
            if self.log is not None:
                self.log(f"{holder} is gone: its articles are pending again")
        return bool(gone)

    async def _one(self, article_id: int) -> None:
        doc = self.store.articles.document(article_id)
        if doc is None:  # claim_next only hands out articles with text: deleted meanwhile
            return
        outcome = await process_article(self.job, Input(doc.source, is_url=is_url(doc.source)), loaded=doc)
        if isinstance(outcome, Deferred):  # not with the default model step (it waits instead)
            return
        self.summary.results.append(outcome)
        if self.on_result is not None:
            self.on_result(outcome)

    async def _renew(self) -> None:
        """Keep this worker's article leases and budget reservations alive while it runs; a
        killed worker stops renewing, and both expire."""
        seconds = self.job.opts.lease_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            self.store.articles.renew_leases(self.owner, seconds=seconds)
            self.limits.renew_reservations(self.owner, seconds=seconds)

    async def _idle_loop(self) -> None:
        """While idle: learn what other workers analyzed (for reuse), and run the corpus stage
        when the corpus changed since it last ran. Two small queries per poll."""
        seen: str | None = None
        while not self._stopping:
            await asyncio.sleep(self.options.poll_seconds)
            if self._busy or not self._empty:
                continue
            marker = self.limits.corpus_marker()
            if marker != seen:
                seen = marker
                self.job.reuse.load()
            # Until the stored marker matches (another worker may be running the stage for an
            # older state of the corpus: then this one runs it again after).
            if self.options.corpus and marker is not None and marker != self.store.meta.get(CORPUS_MARKER):
                await self.publish_if_changed()

    async def publish_if_changed(self) -> bool:
        """Run the corpus stage if the corpus changed since it last ran and no other worker is
        running it now; True when this worker ran it."""
        marker = self.limits.corpus_marker()
        if marker is None or marker == self.store.meta.get(CORPUS_MARKER):
            return False
        seconds = max(60.0, self.job.opts.lease_seconds)
        if not self.limits.try_lock(CORPUS_LOCK, self.owner, seconds=seconds):
            return False  # another worker is on it; it will see what changed after it started

        async def keep_locked() -> None:
            while True:
                await asyncio.sleep(seconds / 3)
                self.limits.try_lock(CORPUS_LOCK, self.owner, seconds=seconds)

        keeper = asyncio.create_task(keep_locked())
        try:
            marker = self.limits.corpus_marker()  # read under the lock: what this run covers
            if marker is None or marker == self.store.meta.get(CORPUS_MARKER):
                return False
            if self.job.ahead is not None:
                await self.job.ahead.drain()  # this worker's last vectors, embedded ahead
            if self.log is not None:
                self.log("queue empty and the corpus changed: running the corpus stage")
            await asyncio.to_thread(
                publish_corpus,
                self.store,
                self.settings,
                prompt_version=self.analyzer.prompt_version,
                model=self.analyzer.model_spec,
                log=self.log,
            )
            self.store.meta.set(CORPUS_MARKER, marker)
            self.corpus_runs += 1
            return True
        finally:
            keeper.cancel()
            self.limits.unlock(CORPUS_LOCK, self.owner)


async def run_worker(
    store: Store,
    settings: Settings,
    options: WorkerOptions,
    *,
    log: Callable[[str], None] | None = None,
    on_result: ResultHook | None = None,
) -> WorkerReport:
    """One worker process's life: SIGINT and SIGTERM stop it cleanly (leases released)."""
    analyzer = make_analyzer(settings, log=log)
    worker = Worker(store, settings, analyzer, options, log=log, on_result=on_result)
    loop = asyncio.get_running_loop()
    main = asyncio.ensure_future(worker.run())
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, main.cancel)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            continue
    try:
        summary = await asyncio.shield(main)
    except asyncio.CancelledError:  # cancelled from outside: let the worker finish its clean-up
        main.cancel()
        summary = await main
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await analyzer.client.provider.aclose()
    spent = None
    if settings.max_cost is not None or settings.max_tokens is not None:
        spent = worker.limits.spent(options.pool)[0]
    return WorkerReport(worker.owner, summary, worker.corpus_runs, spent)


# ----- enqueue -------------------------------------------------------------------------------------
@dataclass
class EnqueueReport:
    enqueued: list[str] = field(default_factory=list)  # pending now: a worker will analyze them
    known: list[str] = field(default_factory=list)  # already analyzed with the same text
    skipped: list[tuple[str, str]] = field(default_factory=list)  # flagged (too short, paywall, …)
    failed: list[tuple[str, str]] = field(default_factory=list)  # could not be read or fetched

    def as_dict(self) -> dict[str, object]:
        return {
            "enqueued": len(self.enqueued),
            "known": len(self.known),
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "failed": [{"source": s, "reason": r} for s, r in self.failed],
        }


async def enqueue_inputs(
    store: Store,
    settings: Settings,
    items: list[Input],
    *,
    origin: Origin | None = None,
    force: bool = False,
) -> EnqueueReport:
    """Read (or fetch) and store each input as a pending article, and nothing more: no LLM call.
    An input whose text is already analyzed stays as it is; a failed or skipped one is pending
    again (as `analyze` would retry it)."""
    report = EnqueueReport()
    known = store.articles.sources_index(i.source for i in items if not i.error)
    gate = asyncio.Semaphore(8)

    async def one(loader: DocumentLoader, item: Input) -> None:
        if item.error:
            report.failed.append((item.source, item.error))
            return
        async with gate:
            try:
                if item.is_url:
                    doc = await loader.url_document(item.source, known.get(item.source), origin)
                else:
                    raw = await loader.read_file(item.source)
                    doc = await loader.extract(raw, source=item.source, origin=origin)
            except (ExtractionError, OSError) as exc:
                report.failed.append((item.source, str(exc)))
                return
            except Exception as exc:  # a fetch failure from sources (reason carried in the message)
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                if item.is_url:
                    store.articles.record_fetch_failure(item.source, origin, reason)
                report.failed.append((item.source, reason))
                return
        if origin is not None and doc.origin is None:
            doc = doc.model_copy(update={"origin": origin})
        article_id = store.articles.upsert_article(doc)
        flags = quality_flags(doc.text, min_chars=settings.min_chars)
        if flags and not force:
            reason = "; ".join(flags) + " (use --force to analyze anyway)"
            store.articles.set_status(article_id, "skipped", reason)
            report.skipped.append((item.source, reason))
            return
        row = store.articles.article_by_source(doc.source)
        if row is not None and row.status == "analyzed":
            report.known.append(item.source)
            return
        if row is not None and row.status != "new":
            store.articles.set_status(article_id, "new")
        report.enqueued.append(item.source)

    if any(item.is_url for item in items):  # the network stack is loaded only when needed
        from horizonscan.jobs.collect import Collector, make_fetcher

        async with make_fetcher(settings) as fetcher:
            loader = DocumentLoader(
                store, collector=Collector(store, settings, fetcher), max_file_bytes=settings.max_file_bytes()
            )
            await asyncio.gather(*(one(loader, item) for item in items))
    else:
        loader = DocumentLoader(store, max_file_bytes=settings.max_file_bytes())
        await asyncio.gather(*(one(loader, item) for item in items))
    return report
