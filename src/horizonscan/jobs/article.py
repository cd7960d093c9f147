"""One article's path: load → store → skip or reuse → claim → analyze → save.

`process_article` is the whole path for one input. The batch (`batch.py`) calls it for each input
of its queue; a worker that claims one article from the database calls it the same way. What it
needs is an `ArticleJob`: the store, the analyzer and the run's shared parts (call ledger,
reuse decisions, texts in flight, leases, LLM slots, the background embedder).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from horizonscan.analysis.analyzer import Analyzer
from horizonscan.extract import MAX_FILE_BYTES, ExtractionError, quality_flags
from horizonscan.jobs.embed_ahead import EmbedAhead
from horizonscan.jobs.leases import Leases, lease_owner
from horizonscan.jobs.ledger import CallLedger, Tally
from horizonscan.jobs.load import DocumentLoader
from horizonscan.jobs.reuse import InFlight, ReuseCheck
from horizonscan.llm.client import LLMFailure, LLMFatal
from horizonscan.llm.limits import BudgetExceeded
from horizonscan.models import Analysis, ArticleResult, ArticleView, Document, Origin, ResultStatus
from horizonscan.publish.site import write_pages
from horizonscan.sources.inputs import Input
from horizonscan.store import Store
from horizonscan.store.schema import ArticleRow

if TYPE_CHECKING:
    from horizonscan.jobs.collect import Collector


@dataclass
class RunSummary(Tally):
    """What a run did: one result per input, why it stopped early if it did, and its calls."""

    results: list[ArticleResult] = field(default_factory=list)
    stopped: str | None = None  # why the batch stopped early (budget, or a fatal provider error)
    fatal: str | None = None  # the provider cannot be used as configured: what to do about it
    interrupted: bool = False
    seconds: float = 0.0
    stories: int = 0
    analysis_seconds: float = 0.0  # the batch alone, before similarity and publishing
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
            **self.usage(),
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
    # The embedder spec to embed documents and items with as they land (None: the corpus stage
    # embeds everything after the last answer).
    embed_ahead: str | None = None


@dataclass(frozen=True)
class Deferred:
    """Another run holds this input's article: come back to it once the rest is done."""

    doc: Document


Outcome = ArticleResult | Deferred
# The model step of the path: (source, article id, document) → result. The provider-batch job
# replaces it by "queue this document for the provider's batch API".
AnalyzeStep = Callable[[str, int, Document], Awaitable[Outcome]]


class ArticleJob:
    """The parts every article of one run (or one worker) shares."""

    def __init__(
        self,
        store: Store,
        analyzer: Analyzer,
        options: BatchOptions,
        *,
        run_id: str | None = None,
        collector: Collector | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.analyzer = analyzer
        self.opts = options
        self.log = log
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.owner = lease_owner(self.run_id)
        self.summary = RunSummary()
        self.ledger = CallLedger(store, self.run_id, audit=options.audit, tally=self.summary)
        self.reuse = ReuseCheck(store, analyzer.prompt_version, analyzer.model_spec)
        self.flight = InFlight()
        self.loader = DocumentLoader(store, collector=collector, max_file_bytes=options.max_file_bytes)
        self.leases = Leases(
            store,
            self.owner,
            seconds=options.lease_seconds,
            prompt_version=analyzer.prompt_version,
            model=analyzer.model_spec,
            log=log,
        )
        self.llm_slots = asyncio.Semaphore(options.concurrency)
        self.ahead = EmbedAhead(store, options.embed_ahead, log=log) if options.embed_ahead else None

    def start(self) -> None:
        """Hook the analyzer to this run (its calls to the ledger, long articles' parts to the
        store) and read the known texts."""
        self.analyzer.client.on_call = self.ledger.record
        self.analyzer.parts = self.store.analyses  # long articles' parts are saved as they arrive
        self.reuse.load()

    def stop(self, reason: str) -> str:
        """Record why no further call starts (the first reason wins); returns that reason."""
        self.summary.stopped = self.summary.stopped or reason
        return self.summary.stopped

    def finish(self) -> None:
        """Release every lease (Ctrl-C included: nothing stays held), and stop the background
        embedding (what it did not do, the corpus stage does)."""
        self.leases.release_all()
        if self.ahead is not None:
            self.ahead.close()


async def process_article(
    job: ArticleJob,
    item: Input,
    *,
    row: ArticleRow | None = None,
    loaded: Document | None = None,
    analyze: AnalyzeStep | None = None,
) -> Outcome:
    """The whole path of one input. `row`: its stored article, if any (read in bulk by a batch);
    `loaded`: its document when already read (a deferred input, or a worker's stored article);
    `analyze`: the model step (default: `analyze_document`, waiting for another run's lease)."""
    if item.error:
        return ArticleResult(source=item.source, status="failed", error=item.error)
    store, opts = job.store, job.opts
    doc = loaded
    if doc is None:
        try:
            if item.is_url:
                if row is not None and job.reuse.unchanged(row):  # stored and analyzed: no fetch
                    return _unchanged(item, row)
                doc = await job.loader.url_document(item.source, row, opts.origin)
            else:
                raw = await job.loader.read_file(item.source)
                if row is not None and job.reuse.unchanged(row, digest=raw.digest):  # same bytes
                    if opts.origin is not None and row.origin_label is None:
                        store.articles.set_origin(row.id, opts.origin)
                    return _unchanged(item, row)
                doc = await job.loader.extract(raw, source=item.source, origin=opts.origin)
        except (ExtractionError, OSError) as exc:
            return fail_extraction(job, item.source, str(exc))
        except Exception as exc:  # a fetch failure from sources (reason carried in the message)
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            return fail_extraction(job, item.source, reason)
    if opts.origin is not None and doc.origin is None:
        doc = doc.model_copy(update={"origin": opts.origin})
    article_id = store.articles.upsert_article(doc)
    if job.ahead is not None:
        job.ahead.document(doc)  # its signature is computed while the model works
    flags = quality_flags(doc.text, min_chars=opts.min_chars)
    if flags and not opts.force:
        reason = "; ".join(flags) + " (use --force to analyze anyway)"
        store.articles.set_status(article_id, "skipped", reason)
        return ArticleResult(
            source=item.source,
            status="skipped",
            article_id=article_id,
            title=doc.title,
            language=doc.language,
            error=reason,
        )
    reuse = job.reuse.known(doc)
    if reuse is not None:
        analysis = reuse.analysis
        if reuse.save:
            analysis.id = store.analyses.save_analysis(analysis, article_id)
            job.reuse.learn(doc.text_hash)
        else:
            store.articles.set_status(article_id, "analyzed")
        result = landed(job, "reused", item.source, article_id, analysis, 0, doc)
        result.note = reuse.note
        return result
    if analyze is None:
        return await analyze_document(job, item.source, article_id, doc)
    return await analyze(item.source, article_id, doc)


async def analyze_document(
    job: ArticleJob,
    source: str,
    article_id: int,
    doc: Document,
    *,
    may_defer: Callable[[], bool] = lambda: False,
) -> Outcome:
    """The model step: share a call in flight for the same text, else hold the article's lease
    and call the model under the run's LLM slots; save the analysis with its ledger rows."""
    store, summary = job.store, job.summary
    waiter = job.flight.running(doc.text_hash)
    if waiter is not None:  # the same text is being analyzed for another input: share it
        shared = await waiter
        if shared is not None:
            store.articles.set_status(article_id, "analyzed")
            return landed(job, "reused", source, article_id, shared, 0, doc)
    future = job.flight.start(doc.text_hash)
    calls_before = summary.calls
    try:
        claim = await job.leases.claim(source, article_id, doc, may_defer=may_defer)
        if claim.outcome == "busy":
            return Deferred(doc)
        if claim.analysis is not None:  # finished by another run meanwhile
            job.reuse.learn(doc.text_hash)
            future.set_result(claim.analysis)
            store.articles.set_status(article_id, "analyzed")
            shared_result = landed(job, "reused", source, article_id, claim.analysis, 0, doc)
            shared_result.note = "analyzed by another run"
            return shared_result
        async with job.llm_slots:
            if summary.stopped:
                raise BudgetExceeded(summary.stopped)
            analysis = await job.analyzer.analyze(doc)
        analysis.id = store.analyses.save_analysis(
            analysis, article_id, run_id=job.run_id, calls=job.ledger.take(doc.text_hash)
        )
        job.reuse.learn(doc.text_hash)
        future.set_result(analysis)
        return landed(job, "analyzed", source, article_id, analysis, summary.calls - calls_before, doc)
    except BudgetExceeded as exc:
        return ArticleResult(
            source=source, status="not started", article_id=article_id, error=job.stop(str(exc))
        )
    except LLMFatal as exc:
        # Not the article's fault (key, model, quota, dead server): it stays pending, and no
        # other article starts; a re-run after the fix picks them all up.
        summary.fatal = summary.fatal or str(exc)
        job.stop(summary.fatal)
        return ArticleResult(source=source, status="not started", article_id=article_id, error=summary.fatal)
    except LLMFailure as exc:
        store.articles.set_status(article_id, "failed", str(exc), count_attempt=True)
        return ArticleResult(
            source=source,
            status="failed",
            article_id=article_id,
            title=doc.title,
            language=doc.language,
            error=str(exc),
            llm_calls=summary.calls - calls_before,
        )
    finally:
        job.leases.release(article_id)
        job.flight.end(doc.text_hash, future)
        job.ledger.flush(doc.text_hash)  # e.g. the parts of a long article whose merge failed


def landed(
    job: ArticleJob,
    status: ResultStatus,
    source: str,
    article_id: int,
    analysis: Analysis,
    calls: int,
    doc: Document,
) -> ArticleResult:
    """An analysis is saved (or reused) for the article: its items are embedded in the
    background, its page written at once when pages are live; the result says so."""
    if job.ahead is not None:
        job.ahead.landed(analysis)
    page = None
    opts = job.opts
    if opts.write_pages and opts.live_pages and status == "analyzed":
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
        page = str(write_pages(opts.out, [view])[article_id])
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


def fail_extraction(job: ArticleJob, source: str, reason: str) -> ArticleResult:
    row = job.store.articles.article_by_source(source)
    if row is not None:
        job.store.articles.set_status(row.id, "failed", reason, count_attempt=True)
    return ArticleResult(source=source, status="failed", error=reason)


def _unchanged(item: Input, row: ArticleRow) -> ArticleResult:
    """An input that needs no work at all: its analysis is already stored."""
    return ArticleResult(
        source=item.source, status="reused", article_id=row.id, title=row.title, language=row.language
    )
