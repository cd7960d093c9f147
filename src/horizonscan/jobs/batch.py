"""The batch: a queue of inputs, each taken through `article.process_article` concurrently; then
the corpus stage (`corpus.py`: similarity, stories, trends, pages).

The batch only orchestrates. Loading a document is `load.py`, deciding reuse `reuse.py`, buffering
the call ledger `ledger.py`, holding articles `leases.py`, embedding ahead `embed_ahead.py`, and
one article's whole path `article.py`, which a worker claiming one article calls the same way.

Twice as many queue workers as LLM slots: the next wave is read, extracted and checked while the
current one waits on the provider. Every finished article is committed at once, so a crash or
Ctrl-C keeps everything done so far, and a re-run redoes only what did not finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from horizonscan.analysis.analyzer import Analyzer, make_analyzer
from horizonscan.config import Settings
from horizonscan.jobs.article import (
    ArticleJob,
    BatchOptions,
    Deferred,
    Outcome,
    RunSummary,
    analyze_document,
    process_article,
)
from horizonscan.jobs.corpus import publish_corpus
from horizonscan.jobs.leases import lease_owner, owner_is_gone
from horizonscan.models import ArticleResult, Document, Origin
from horizonscan.sources.inputs import Input, expand_inputs, own_outputs
from horizonscan.store import Store
from horizonscan.store.schema import ArticleRow

if TYPE_CHECKING:
    from horizonscan.jobs.collect import Collector

ProgressHook = Callable[[ArticleResult], None]

__all__ = [
    "Batch",
    "BatchOptions",
    "BatchProgress",
    "RunSummary",
    "lease_owner",
    "owner_is_gone",
    "plan_inputs",
    "run_batch",
]


class Batch:
    def __init__(
        self,
        store: Store,
        analyzer: Analyzer,
        options: BatchOptions,
        *,
        on_result: ProgressHook | None = None,
        run_id: str | None = None,
        collector: Collector | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.job = ArticleJob(store, analyzer, options, run_id=run_id, collector=collector, log=log)
        self.store = store
        self.analyzer = analyzer
        self.opts = options
        self.log = log
        self.on_result = on_result
        self.run_id = self.job.run_id
        self.owner = self.job.owner
        self._queue: asyncio.Queue[Input] | None = None
        self._deferred: dict[str, Document] = {}  # put back once (another run held them), read

    @property
    def summary(self) -> RunSummary:
        return self.job.summary

    async def run(self, inputs: list[Input]) -> RunSummary:
        started = time.perf_counter()
        self.job.start()
        known = self.store.articles.sources_index(i.source for i in inputs if not i.error)
        queue: asyncio.Queue[Input] = asyncio.Queue()
        self._queue = queue
        for item in inputs:
            queue.put_nowait(item)
        renewer = asyncio.create_task(self.job.leases.keep_renewed())
        workers = [
            asyncio.create_task(self._worker(queue, known))
            for _ in range(min(len(inputs), 2 * self.opts.concurrency + 2) or 1)
        ]
        done = False
        try:
            await asyncio.gather(*workers)
            done = True
        except asyncio.CancelledError:
            self.summary.interrupted = True
            for w in workers:
                w.cancel()
            raise
        finally:
            renewer.cancel()
            if done:  # the background embedding goes on: `embedded` waits for it
                self.job.leases.release_all()
            else:
                self.job.finish()  # Ctrl-C included: nothing stays held or running
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    async def embedded(self) -> None:
        """Wait for the background embedding of this batch's documents and items, then end
        its helper: the corpus stage that follows finds the vectors stored."""
        ahead = self.job.ahead
        if ahead is not None:
            try:
                await ahead.drain()
            finally:
                ahead.close()

    def _report(self, result: ArticleResult) -> None:
        self.summary.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    async def _worker(self, queue: asyncio.Queue[Input], known: dict[str, ArticleRow]) -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if self.summary.stopped:
                self._report(
                    ArticleResult(source=item.source, status="not started", error=self.summary.stopped)
                )
                continue
            outcome = await process_article(
                self.job,
                item,
                row=known.get(item.source),
                loaded=self._deferred.get(item.source),
                analyze=self._analyze,
            )
            if isinstance(outcome, Deferred):  # another run holds it: do the rest first, then retry
                self._deferred[item.source] = outcome.doc
                queue.put_nowait(item)
                continue
            self._report(outcome)

    async def _analyze(self, source: str, article_id: int, doc: Document) -> Outcome:
        """The model step (the provider-batch job overrides it). An input met for the first time
        while others wait in the queue is put back rather than waited for."""

        def may_defer() -> bool:
            return source not in self._deferred and self._queue is not None and not self._queue.empty()

        return await analyze_document(self.job, source, article_id, doc, may_defer=may_defer)


def plan_inputs(
    store: Store, settings: Settings, args: list[str], *, retry_failed: bool = False
) -> list[Input]:
    """What `analyze` works on: the files, folders and URLs given (never horizonscan's own
    outputs), and with `retry_failed` the articles that failed before."""
    mine = own_outputs(settings.out, Path(str(settings.db)), settings.archive_dir())
    items = expand_inputs(args, exclude=mine)
    if retry_failed:
        known = {i.source for i in items}
        failed = expand_inputs(store.articles.failed_sources(), exclude=mine)
        items += [i for i in failed if i.source not in known]
    return items


def batch_options(
    settings: Settings, analyzer: Analyzer, *, origin: Origin | None, force: bool
) -> BatchOptions:
    """The batch's options from the settings and the provider (the local model writes each page
    as soon as it is done: a page a minute is worth seeing)."""
    return BatchOptions(
        out=settings.out,
        concurrency=settings.concurrency or analyzer.client.provider.default_concurrency,
        origin=origin,
        force=force,
        min_chars=settings.min_chars,
        live_pages=analyzer.client.provider.name == "local",
        max_file_bytes=settings.max_file_bytes(),
        lease_seconds=settings.lease_seconds,
        audit=settings.audit,
        embed_ahead=settings.embedder if settings.similarity else None,
    )


async def run_batch(
    store: Store,
    settings: Settings,
    inputs: list[Input],
    *,
    origin: Origin | None = None,
    force: bool = False,
    show_progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_result: ProgressHook | None = None,
) -> RunSummary:
    """`on_result` hears of each finished input (when no progress bar is shown)."""
    analyzer = make_analyzer(settings, log=log)
    opts = batch_options(settings, analyzer, origin=origin, force=force)
    batch: Batch | None = None
    try:
        if any(item.is_url for item in inputs):  # the network stack is loaded only when needed
            from horizonscan.jobs.collect import Collector, make_fetcher

            async with make_fetcher(settings) as fetcher:
                batch = Batch(
                    store,
                    analyzer,
                    opts,
                    on_result=on_result,
                    collector=Collector(store, settings, fetcher),
                    log=log,
                )
                summary = await _run(batch, inputs, show_progress)
        else:
            batch = Batch(store, analyzer, opts, on_result=on_result, log=log)
            summary = await _run(batch, inputs, show_progress)
        summary.analysis_seconds = summary.seconds
        started = time.perf_counter()
        if any(r.status in ("analyzed", "reused") for r in summary.results):
            await batch.embedded()  # the part of the corpus stage that ran beside the batch
    finally:
        if batch is not None and batch.job.ahead is not None:
            batch.job.ahead.close()  # an interrupted run does not wait for it
        await analyzer.client.provider.aclose()
    if not any(r.status in ("analyzed", "reused") for r in summary.results):
        return summary  # nothing to show: the pages and the index stay as they are
    published = publish_corpus(
        store, settings, prompt_version=analyzer.prompt_version, model=analyzer.model_spec, log=log
    )
    for result in summary.results:
        if result.page is None and result.article_id in published.pages:
            result.page = str(published.pages[result.article_id])
    summary.index = str(published.index)
    summary.stories = len(published.stories)
    summary.seconds += time.perf_counter() - started
    return summary


async def _run(batch: Batch, inputs: list[Input], show_progress: bool) -> RunSummary:
    if not show_progress:
        return await batch.run(inputs)
    with BatchProgress(len(inputs)) as progress:
        batch.on_result = progress.update
        progress.batch = batch
        return await batch.run(inputs)


class BatchProgress:
    """A Rich progress bar: done / failed counts, ETA, tokens and cost (TTY only)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.batch: Batch | None = None
        self._progress = Progress(
            TextColumn("[bold]analyzing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
            console=Console(stderr=True),
        )
        self._task = self._progress.add_task("analyze", total=total, detail="")

    def __enter__(self) -> BatchProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, _result: ArticleResult) -> None:
        s = self.batch.summary if self.batch else None
        detail = ""
        if s is not None:
            detail = (
                f"ok {s.count('analyzed') + s.count('reused')} · failed {s.count('failed')} · "
                f"skipped {s.count('skipped')} · {s.input_tokens + s.output_tokens} tok · "
                f"${s.cost_usd:.4f}"
            )
        self._progress.update(self._task, advance=1, detail=detail)
