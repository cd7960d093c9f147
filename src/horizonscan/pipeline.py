"""The batch: inputs → extract → analyze → store, concurrently and without losing work; then
the corpus stage (`publishing.py`: similarity, stories, pages).

Workers pull inputs from a queue. Reading and extraction run in threads, LLM calls are awaited
under a semaphore of `concurrency`, and every finished article is committed at once, so a crash
or Ctrl-C keeps everything done so far, and a re-run redoes only what did not finish. Known texts
(same bytes, same text, or a near-duplicate, with the same prompt and model) cost no call.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from horizonscan.analysis.analyzer import Analyzer, make_analyzer, recheck
from horizonscan.analysis.reuse import new_facts
from horizonscan.config import Settings
from horizonscan.extract import (
    MAX_FILE_BYTES,
    ExtractionError,
    extract_bytes,
    kind_of,
    quality_flags,
    raw_hash,
    read_local_file,
)
from horizonscan.llm.client import LLMFailure, LLMFatal
from horizonscan.llm.limits import BudgetExceeded
from horizonscan.models import Analysis, ArticleResult, CallRecord, Document, Origin, ResultStatus
from horizonscan.publish.site import write_pages
from horizonscan.publishing import publish_corpus
from horizonscan.similarity.corpus import find_near_duplicate
from horizonscan.sources.inputs import Input
from horizonscan.store.repo import ArticleView, Store
from horizonscan.store.schema import ArticleRow

if TYPE_CHECKING:
    from horizonscan.collect import Collector

ProgressHook = Callable[[ArticleResult], None]


@dataclass
class RunSummary:
    results: list[ArticleResult] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped early (budget, or a fatal provider error)
    fatal: str | None = None  # the provider cannot be used as configured: what to do about it
    interrupted: bool = False
    seconds: float = 0.0
    stories: int = 0
    analysis_seconds: float = 0.0  # the batch alone, before similarity and publishing
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    index: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def as_dict(self) -> dict[str, object]:
        return {
            "analyzed": self.count("analyzed"),
            "reused": self.count("reused"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "not_started": self.count("not started"),
            "stopped": self.stopped,
            "fatal": self.fatal,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "llm_calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "stories": self.stories,
            "index": self.index,
        }


@dataclass
class BatchOptions:
    out: Path
    concurrency: int
    origin: Origin | None = None
    force: bool = False
    min_chars: int = 300
    write_pages: bool = True
    # Write each page the moment its analysis is done (worth it when each takes a minute, as with
    # the local model); otherwise pages are written once, at the end of the batch, from the database.
    live_pages: bool = False
    max_file_bytes: int = MAX_FILE_BYTES  # local files over this are refused before being read
    lease_seconds: float = 120.0  # how long an article is held for this run (renewed while working)
    audit: bool = False  # keep each call's prompt and raw answer in the ledger


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
        self.store = store
        self.log = log
        self.collector = collector
        self.analyzer = analyzer
        self.opts = options
        self.on_result = on_result
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.owner = lease_owner(self.run_id)
        self.summary = RunSummary()
        self._llm_slots = asyncio.Semaphore(options.concurrency)
        self._inflight: dict[str, asyncio.Future[Analysis | None]] = {}
        self._keys: set[str] = set()
        self._pending: dict[str, list[CallRecord]] = {}
        self._queue: asyncio.Queue[Input] | None = None
        self._deferred: dict[str, Document] = {}  # put back once (another run held them), read

    # ----- public ----------------------------------------------------------------------------
    async def run(self, inputs: list[Input]) -> RunSummary:
        started = time.perf_counter()
        client = self.analyzer.client
        client.on_call = self._on_call
        self.analyzer.parts = self.store  # long articles' parts are saved as they arrive
        self._keys = self.store.analysis_keys(self.analyzer.prompt_version, self.analyzer.model_spec)
        known = self.store.sources_index(i.source for i in inputs if not i.error)
        queue: asyncio.Queue[Input] = asyncio.Queue()
        self._queue = queue
        for item in inputs:
            queue.put_nowait(item)
        renewer = asyncio.create_task(self._renew_leases())
        # Twice as many workers as LLM slots: the next wave is extracted and checked while the
        # current one waits on the provider, so a freed slot is refilled at once.
        workers = [
            asyncio.create_task(self._worker(queue, known))
            for _ in range(min(len(inputs), 2 * self.opts.concurrency + 2) or 1)
        ]
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            self.summary.interrupted = True
            for w in workers:
                w.cancel()
            raise
        finally:
            renewer.cancel()
            self.store.release_leases(self.owner)  # Ctrl-C included: nothing stays held
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    # ----- internals -------------------------------------------------------------------------
    async def _renew_leases(self) -> None:
        """Keep this run's articles held while it works on them (a killed run's leases expire)."""
        while True:
            await asyncio.sleep(self.opts.lease_seconds / 3)
            self.store.renew_leases(self.owner, seconds=self.opts.lease_seconds)

    async def _claim(self, source: str, article_id: int, doc: Document) -> Analysis | None:
        """Hold the article (and its text) for this run before any paid call.

        Another run (or worker) that holds it is left to finish: this input is put back once
        while other inputs wait, then waited for; its analysis is reused when it comes. Returns
        that analysis, or None once this run holds the lease and must do the work itself.
        """
        delay, noted = 0.1, False
        while True:
            if self.store.claim_article(
                article_id, self.owner, seconds=self.opts.lease_seconds, text_hash=doc.text_hash
            ):
                done = self.store.find_analysis(
                    doc.text_hash, self.analyzer.prompt_version, self.analyzer.model_spec
                )
                if done is not None:  # finished by another run since this one started
                    self.store.release_article(article_id, self.owner)
                return done
            holders = self.store.lease_holders(article_id, text_hash=doc.text_hash) - {self.owner}
            gone = {h for h in holders if owner_is_gone(h)}
            if gone:  # a killed run on this machine: its leases need not expire first
                for holder in gone:
                    self.store.release_leases(holder)
                continue
            if source not in self._deferred and self._queue is not None and not self._queue.empty():
                raise _Busy(doc)
            if not noted and self.log is not None:
                self.log(f"{source}: being analyzed by another run; waiting for its result")
            noted = True
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 1.5)

    def _on_call(self, rec: CallRecord) -> None:
        if not self.opts.audit and (rec.prompt is not None or rec.response is not None):
            rec = rec.model_copy(update={"prompt": None, "response": None})  # the audit log is opt-in
        # Failed attempts are committed at once; successful ones with the analysis they produced.
        if rec.status == "ok" and rec.text_hash is not None:
            self._pending.setdefault(rec.text_hash, []).append(rec)
        else:
            self.store.record_calls([rec], self.run_id)
        self.summary.calls += 1
        self.summary.input_tokens += rec.input_tokens
        self.summary.output_tokens += rec.output_tokens
        self.summary.cost_usd += rec.cost_usd

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
            try:
                result = await self._one(item, known)
            except _Busy as busy:  # another run holds it: do the rest first, then come back to it
                self._deferred[item.source] = busy.doc
                queue.put_nowait(item)
                continue
            self._report(result)

    async def _one(self, item: Input, known: dict[str, ArticleRow]) -> ArticleResult:
        if item.error:
            return ArticleResult(source=item.source, status="failed", error=item.error)
        try:
            doc = await self._document(item, known)
        except _Reused as hit:
            return hit.result
        except (ExtractionError, OSError) as exc:
            return self._fail_extraction(item.source, str(exc))
        except Exception as exc:  # a fetch failure from sources (reason carried in the message)
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            return self._fail_extraction(item.source, reason)
        if self.opts.origin is not None and doc.origin is None:
            doc = doc.model_copy(update={"origin": self.opts.origin})
        article_id = self.store.upsert_article(doc)
        flags = quality_flags(doc.text, min_chars=self.opts.min_chars)
        if flags and not self.opts.force:
            reason = "; ".join(flags) + " (use --force to analyze anyway)"
            self.store.set_status(article_id, "skipped", reason)
            return ArticleResult(
                source=item.source,
                status="skipped",
                article_id=article_id,
                title=doc.title,
                language=doc.language,
                error=reason,
            )
        if doc.text_hash in self._keys:  # same text known under another name, or re-extracted
            existing = self.store.find_analysis(
                doc.text_hash, self.analyzer.prompt_version, self.analyzer.model_spec
            )
            if existing is not None:
                self.store.set_status(article_id, "analyzed")
                return self._done("reused", item.source, article_id, existing, 0, doc)
        twin = find_near_duplicate(self.store, doc.text_hash, doc.text, self._keys)
        if twin is not None:  # the same article with other boilerplate: its analysis serves...
            original = self.store.find_analysis(twin, self.analyzer.prompt_version, self.analyzer.model_spec)
            old_text = self.store.texts([twin]).get(twin, "")
            # ...unless it is an updated story: new numbers or sentences get their own analysis.
            if original is not None and not new_facts(old_text, doc.text):
                source_id = self.store.article_id_of_text(twin)
                copy = recheck(original, doc, reused_from=source_id)
                copy.id = self.store.save_analysis(copy, article_id)
                self._keys.add(doc.text_hash)
                result = self._done("reused", item.source, article_id, copy, 0, doc)
                result.note = f"near-duplicate of article {source_id}: its analysis is reused"
                return result
        return await self._analyze(item.source, article_id, doc)

    async def _document(self, item: Input, known: dict[str, ArticleRow]) -> Document:
        if item.source in self._deferred:  # read (or fetched) on the first pass already
            return self._deferred[item.source]
        origin = self.opts.origin
        row = known.get(item.source)
        if item.is_url:
            if row is not None and row.text and row.status != "failed":
                # Collected or analyzed before: its text is in the database, no refetch.
                if row.status == "analyzed" and row.text_hash in self._keys:
                    raise _Reused.of(item, row)
                doc = self.store.document(row.id)
                if doc is not None:
                    return doc
            if self.collector is None:
                raise ExtractionError("URL inputs need a fetcher")
            return await self.collector.fetch_document(item.source, origin)
        path = Path(item.source)
        data = await asyncio.to_thread(read_local_file, path, max_bytes=self.opts.max_file_bytes)
        digest = raw_hash(data)
        if (
            row is not None
            and row.raw_hash == digest
            and row.status == "analyzed"
            and row.text_hash in self._keys
        ):
            # Same bytes, already analyzed with this prompt and model: nothing to extract or call.
            if origin is not None and row.origin_label is None:
                self.store.set_origin(row.id, origin)
            raise _Reused.of(item, row)
        return await asyncio.to_thread(
            extract_bytes, data, source=item.source, kind=kind_of(path), origin=origin
        )

    async def _analyze(self, source: str, article_id: int, doc: Document) -> ArticleResult:
        waiter = self._inflight.get(doc.text_hash)
        if waiter is not None:  # the same text is being analyzed for another input: share it
            shared = await waiter
            if shared is not None:
                self.store.set_status(article_id, "analyzed")
                return self._done("reused", source, article_id, shared, 0, doc)
        future: asyncio.Future[Analysis | None] = asyncio.get_running_loop().create_future()
        self._inflight[doc.text_hash] = future
        calls_before = self.summary.calls
        try:
            other = await self._claim(source, article_id, doc)
            if other is not None:
                self._keys.add(doc.text_hash)
                future.set_result(other)
                self.store.set_status(article_id, "analyzed")
                shared_result = self._done("reused", source, article_id, other, 0, doc)
                shared_result.note = "analyzed by another run"
                return shared_result
            async with self._llm_slots:
                if self.summary.stopped:
                    raise BudgetExceeded(self.summary.stopped)
                analysis = await self.analyzer.analyze(doc)
            analysis.id = self.store.save_analysis(
                analysis, article_id, run_id=self.run_id, calls=self._pending.pop(doc.text_hash, [])
            )
            self._keys.add(doc.text_hash)
            future.set_result(analysis)
            return self._done(
                "analyzed", source, article_id, analysis, self.summary.calls - calls_before, doc
            )
        except BudgetExceeded as exc:
            self.summary.stopped = self.summary.stopped or str(exc)
            future.set_result(None)
            return ArticleResult(
                source=source, status="not started", article_id=article_id, error=self.summary.stopped
            )
        except LLMFatal as exc:
            # Not the article's fault (key, model, quota, dead server): it stays pending, and no
            # other article starts; a re-run after the fix picks them all up.
            self.summary.fatal = self.summary.fatal or str(exc)
            self.summary.stopped = self.summary.stopped or self.summary.fatal
            future.set_result(None)
            return ArticleResult(
                source=source, status="not started", article_id=article_id, error=self.summary.fatal
            )
        except LLMFailure as exc:
            future.set_result(None)
            self.store.set_status(article_id, "failed", str(exc), count_attempt=True)
            return ArticleResult(
                source=source,
                status="failed",
                article_id=article_id,
                title=doc.title,
                language=doc.language,
                error=str(exc),
                llm_calls=self.summary.calls - calls_before,
            )
        except BaseException:
            if not future.done():
                future.set_result(None)
            raise
        finally:
            self.store.release_article(article_id, self.owner)
            self._inflight.pop(doc.text_hash, None)
            leftover = self._pending.pop(doc.text_hash, [])
            if leftover:  # e.g. the parts of a long article whose merge failed
                self.store.record_calls(leftover, self.run_id)

    def _done(
        self,
        status: ResultStatus,
        source: str,
        article_id: int,
        analysis: Analysis,
        calls: int,
        doc: Document,
    ) -> ArticleResult:
        page = None
        if self.opts.write_pages and self.opts.live_pages and status == "analyzed":
            view = ArticleView(
                id=article_id,
                source=source,
                url=doc.url,
                origin=doc.origin,
                title=doc.title,
                language=doc.language,
                status="analyzed",
                error=None,
                text_hash=doc.text_hash,
                analysis=analysis,
            )
            page = str(write_pages(self.opts.out, [view])[article_id])
        return ArticleResult(
            source=source,
            status=status,
            article_id=article_id,
            analysis_id=analysis.id,
            title=analysis.title,
            language=analysis.language,
            page=page,
            llm_calls=calls,
        )

    def _fail_extraction(self, source: str, reason: str) -> ArticleResult:
        row = self.store.article_by_source(source)
        if row is not None:
            self.store.set_status(row.id, "failed", reason, count_attempt=True)
        return ArticleResult(source=source, status="failed", error=reason)


def lease_owner(run_id: str) -> str:
    """Who holds a lease: host and process too, so a run can tell that a holder on the same
    machine was killed and take its articles over at once instead of waiting for expiry."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{run_id}"


def owner_is_gone(owner: str) -> bool:
    """True only when the holder ran on this machine and its process no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, but not ours to signal
        return False
    return False


class _Busy(Exception):
    """Raised when another run holds an input's article: the worker puts the input back once."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc


class _Reused(Exception):
    """Raised while reading an input that needs no work at all: its analysis is already stored."""

    def __init__(self, result: ArticleResult) -> None:
        self.result = result

    @classmethod
    def of(cls, item: Input, row: ArticleRow) -> _Reused:
        return cls(
            ArticleResult(
                source=item.source, status="reused", article_id=row.id, title=row.title, language=row.language
            )
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
    concurrency = settings.concurrency or analyzer.client.provider.default_concurrency
    opts = BatchOptions(
        out=settings.out,
        concurrency=concurrency,
        origin=origin,
        force=force,
        min_chars=settings.min_chars,
        live_pages=analyzer.client.provider.name == "local",
        max_file_bytes=settings.max_file_bytes(),
        lease_seconds=settings.lease_seconds,
        audit=settings.audit,
    )
    try:
        if any(item.is_url for item in inputs):  # the network stack is loaded only when needed
            from horizonscan.collect import Collector, make_fetcher

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
    finally:
        await analyzer.client.provider.aclose()
    summary.analysis_seconds = summary.seconds
    if not any(r.status in ("analyzed", "reused") for r in summary.results):
        return summary  # nothing to show: the pages and the index stay as they are
    started = time.perf_counter()
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
