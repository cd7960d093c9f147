"""Analyze through the providers' batch engines, at half price: submit, persist, poll, ingest.

`analyze --batch` reads and extracts its inputs exactly as the ordinary batch does (the same
`pipeline.Batch`, up to the point where it would call the model: known texts and near-duplicates
are reused, short texts skipped), then sends one request per article, built by the same
`Analyzer` code as an ordinary call, to OpenAI's Batch API or Anthropic's Message Batches.

- Persisted first: the batch and its items are rows (`store/batches.py`) before anything is sent,
  and the articles are marked `batched`. A killed process leaves them there: the next `batches
  poll` (or `analyze --batch`, or `watch --batch`) polls the same remote batch, and a submission
  whose answer was lost is found by its tag instead of being sent twice.
- Ingested idempotently: each answer is parsed (`parse_output`) and checked (`Analyzer.checked`)
  like an ordinary one, and saved with its ledger row (real usage, the batch price: half the
  ordinary one) in one transaction. An item moves on only from `queued`, and an answer whose
  ledger row exists already is never recorded again, so reading the same results twice, or
  after a crash mid-ingest, changes nothing.
- Fallback: an item with no usable answer (errored, expired, cancelled, refused, invalid,
  truncated) is redone by an ordinary call through the normal `LLMClient` path (retries, re-asks,
  modes, budget), or, with `fallback=False`, reported with its reason and left `failed` for
  `analyze --retry-failed`.

Everything is keyed by the database, never by this process, so a worker can run `poll_batches`
on its own.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from horizonscan.analysis.analyzer import Analyzer, make_analyzer, parse_output
from horizonscan.config import Settings
from horizonscan.jobs.batch import Batch, BatchOptions, RunSummary, lease_owner, owner_is_gone
from horizonscan.jobs.corpus import publish_corpus
from horizonscan.jobs.ledger import Tally
from horizonscan.llm.base import ChatRequest
from horizonscan.llm.batch_api import BatchAPI, BatchAPIError, BatchRequest, ItemResult, make_batch_api
from horizonscan.llm.client import RESERVE_CHARS_PER_TOKEN, LLMFailure, LLMFatal, describe_invalid
from horizonscan.llm.limits import BudgetExceeded
from horizonscan.models import ArticleResult, CallRecord, CallStatus, Document, Origin
from horizonscan.redact import scrub
from horizonscan.sources.inputs import Input
from horizonscan.store import Store
from horizonscan.store.batches import BatchRepo, NewItem
from horizonscan.store.schema_batches import ProviderBatchItemRow, ProviderBatchRow

if TYPE_CHECKING:
    from horizonscan.jobs.collect import Collector

Log = Callable[[str], None]
QUEUED = "queued in batch"
# How long a process holds a batch it polls or ingests (renewed on every poll).
BATCH_LEASE_SECONDS = 600.0
DEFAULT_POLL_SECONDS = 60.0


@dataclass
class BatchReport(Tally):
    """What a batch command did: per-article results (the last word on each article), the
    batches it created, and what it spent (batch answers and fallback calls alike)."""

    results: dict[str, ArticleResult] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    still_open: int = 0  # batches the provider is still working on
    fatal: str | None = None
    stopped: str | None = None
    interrupted: bool = False
    seconds: float = 0.0
    index: str | None = None
    stories: int = 0

    def add(self, result: ArticleResult) -> None:
        key = f"article:{result.article_id}" if result.article_id is not None else result.source
        self.results[key] = result

    def count(self, status: str) -> int:
        return sum(1 for r in self.results.values() if r.status == status and not _queued(r))

    @property
    def queued(self) -> int:
        return sum(1 for r in self.results.values() if _queued(r))

    def as_dict(self) -> dict[str, object]:
        return {
            "queued": self.queued,
            "analyzed": self.count("analyzed"),
            "reused": self.count("reused"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "not_started": self.count("not started"),
            "batches_created": list(self.created),
            "batches_open": self.still_open,
            "stopped": self.stopped,
            "fatal": self.fatal,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            **self.usage(),
            "stories": self.stories,
            "index": self.index,
        }


def _queued(result: ArticleResult) -> bool:
    return result.status == "not started" and (result.note or "").startswith(QUEUED)


def custom_id(article_id: int, text_hash: str) -> str:
    """Unique in a batch, within both providers' rules (`^[a-zA-Z0-9_-]{1,64}$`), and telling."""
    return f"a{article_id}-{text_hash[:32]}"


class BatchEngine:
    """One provider and model: submit articles, poll its open batches, ingest, fall back."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        analyzer: Analyzer,
        api: BatchAPI,
        *,
        report: BatchReport | None = None,
        fallback: bool = True,
        log: Log | None = None,
        run_id: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.analyzer = analyzer
        self.api = api
        self.repo = BatchRepo.of(store)
        self.report = report or BatchReport()
        self.fallback = fallback
        self.log = log or (lambda _msg: None)
        self.provider = analyzer.client.provider
        self.spec = self.provider.spec
        self.prices = analyzer.client.prices
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.owner = lease_owner(self.run_id)
        self._pending: dict[str, list[CallRecord]] = {}
        self.concurrency = settings.concurrency or self.provider.default_concurrency

    def _attach(self) -> None:
        """Route the ordinary (fallback) calls' ledger rows here; `pipeline.Batch` sets its own."""
        self.analyzer.client.on_call = self._on_call
        self.analyzer.parts = self.store.analyses

    def _on_call(self, rec: CallRecord) -> None:
        if not self.settings.audit and (rec.prompt is not None or rec.response is not None):
            rec = rec.model_copy(update={"prompt": None, "response": None})
        if rec.status == "ok" and rec.text_hash is not None:
            self._pending.setdefault(rec.text_hash, []).append(rec)  # committed with its analysis
        else:
            self.store.ledger.record_calls([rec], self.run_id)
        self.report.charge(rec)

    def request_for(self, doc: Document) -> ChatRequest:
        """The one request of an ordinary single-call analysis of `doc` (the same code builds it)."""
        return self.analyzer._request(self.analyzer._user(doc, doc.text))

    # ----- submission -------------------------------------------------------------------------
    async def submit(self, docs: list[tuple[str, int, Document]]) -> None:
        """One request per article not yet waiting in a batch; texts too long for one request
        (they need map-reduce) go through ordinary calls instead."""
        self._attach()
        provider, model = self.provider.name, self.provider.model
        version = self.analyzer.prompt_version
        # Keyed by text, not by article: an article whose text changed since it was sent needs
        # a new request, and another article with a waiting text needs none.
        waiting = self.repo.queued_texts(provider, model, version)
        chosen: list[tuple[str, int, Document, ChatRequest]] = []
        followers: dict[str, list[tuple[str, int, Document]]] = {}
        late: list[int] = []
        too_long: list[tuple[str, int, Document]] = []
        for source, article_id, doc in docs:
            batch_id = waiting.get(doc.text_hash)
            if batch_id is not None:
                late.append(article_id)
                self.report.add(self._queued_result(source, article_id, doc, batch_id))
                continue
            if doc.text_hash in followers:  # the same text under another name: one request serves both
                followers[doc.text_hash].append((source, article_id, doc))
                continue
            if len(doc.text) > self.analyzer.max_text_chars(doc):
                too_long.append((source, article_id, doc))
                continue
            followers[doc.text_hash] = []
            chosen.append((source, article_id, doc, self.request_for(doc)))
        if late:
            self.repo.mark_batched(late)
        chosen = self._within_budget(chosen, followers)
        for chunk in self._chunks(chosen):
            if self.report.fatal:
                for source, article_id, doc, _ in chunk:
                    self.report.add(self._not_started(source, article_id, doc, self.report.fatal))
                continue
            await self._send(chunk, followers)
        if too_long:
            await self._too_long(too_long)

    def _within_budget(
        self,
        chosen: list[tuple[str, int, Document, ChatRequest]],
        followers: dict[str, list[tuple[str, int, Document]]],
    ) -> list[tuple[str, int, Document, ChatRequest]]:
        """Send only what fits `--max-cost` / `--max-tokens` at worst (the whole output allowance
        of every request, at the batch price); the worst case is charged to the run's budget."""
        budget = self.analyzer.client.budget
        if not budget.limited:
            return chosen
        kept: list[tuple[str, int, Document, ChatRequest]] = []
        cost, tokens = budget.cost, budget.tokens
        for entry in chosen:
            req = entry[3]
            tokens_in = req.chars() // RESERVE_CHARS_PER_TOKEN + 1
            c = self.prices.batch_cost(self.spec, tokens_in, req.max_output_tokens)
            t = tokens_in + req.max_output_tokens
            over_cost = budget.max_cost is not None and cost + c > budget.max_cost
            over_tokens = budget.max_tokens is not None and tokens + t > budget.max_tokens
            if over_cost or over_tokens:
                why = (
                    f"cost budget reached (--max-cost ${budget.max_cost:.4f})"
                    if over_cost
                    else f"token budget reached (--max-tokens {budget.max_tokens})"
                )
                self.report.stopped = self.report.stopped or why
                source, article_id, doc, _ = entry
                for s_source, s_id, s_doc in [(source, article_id, doc), *followers.get(doc.text_hash, [])]:
                    self.report.add(self._not_started(s_source, s_id, s_doc, why))
                continue
            cost, tokens = cost + c, tokens + t
            kept.append(entry)
        budget.cost, budget.tokens = cost, tokens
        return kept

    def _chunks(
        self, chosen: list[tuple[str, int, Document, ChatRequest]]
    ) -> list[list[tuple[str, int, Document, ChatRequest]]]:
        """Batches within the provider's limits (requests and bytes per batch)."""
        chunks: list[list[tuple[str, int, Document, ChatRequest]]] = []
        size = 0
        for entry in chosen:
            _, article_id, doc, req = entry
            n = self.api.line_bytes(BatchRequest(custom_id(article_id, doc.text_hash), req))
            if not chunks or len(chunks[-1]) >= self.api.max_requests or size + n > self.api.max_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += n
        return chunks

    async def _send(
        self,
        chunk: list[tuple[str, int, Document, ChatRequest]],
        followers: dict[str, list[tuple[str, int, Document]]],
    ) -> None:
        tag = uuid.uuid4().hex
        items = [NewItem(custom_id(a, d.text_hash), a, d.text_hash) for _, a, d, _ in chunk]
        same = [a for _, _, d, _ in chunk for _, a, _ in followers.get(d.text_hash, [])]
        batch_id = self.repo.create(
            provider=self.provider.name,
            model=self.provider.model,
            prompt_version=self.analyzer.prompt_version,
            mode=self.api.mode,
            tag=tag,
            items=items,
            same_text=same,
        )
        requests = [BatchRequest(custom_id(a, d.text_hash), req) for _, a, d, req in chunk]
        try:
            remote_id, file_id = await self.api.submit(requests, tag=tag)
        except BatchAPIError as exc:
            reason = scrub(str(exc))
            self.repo.abandon(batch_id, reason)  # its articles are pending again
            if exc.fatal:
                self.report.fatal = self.report.fatal or reason
            for source, article_id, doc, _ in chunk:
                for s_source, s_id, s_doc in [(source, article_id, doc), *followers.get(doc.text_hash, [])]:
                    self.report.add(self._not_started(s_source, s_id, s_doc, reason))
            return
        self.repo.submitted(batch_id, remote_id, input_file_id=file_id)
        self.report.created.append(batch_id)
        self.log(f"batch {batch_id}: {len(chunk)} requests sent to {self.spec} ({remote_id})")
        for source, article_id, doc, _ in chunk:
            self.report.add(self._queued_result(source, article_id, doc, batch_id))
            for f_source, f_id, f_doc in followers.get(doc.text_hash, []):
                self.report.add(self._queued_result(f_source, f_id, f_doc, batch_id))

    async def _too_long(self, docs: list[tuple[str, int, Document]]) -> None:
        note = "too long for one request: analyzed in parts by ordinary calls"
        if not self.fallback:
            for source, article_id, doc in docs:
                self.report.add(
                    self._not_started(source, article_id, doc, f"{note}; run without --batch to analyze it")
                )
            return
        sem = asyncio.Semaphore(self.concurrency)
        await asyncio.gather(
            *(self._ordinary(sem, source, article_id, doc, note) for source, article_id, doc in docs)
        )

    # ----- polling ----------------------------------------------------------------------------
    async def poll_once(self) -> int:
        """Poll this provider's open batches once, ingest the ended ones, redo what failed.

        Returns how many batches the provider is still working on.
        """
        self._attach()
        still = 0
        for row in self.repo.open_batches(self.spec):
            if self.report.fatal:
                break
            if not self._claim(row.id):
                self.log(f"batch {row.id} is being polled by another process")
                still += 1
                continue
            try:
                if await self._poll(row) == "open":
                    still += 1
            except BatchAPIError as exc:
                if exc.fatal:
                    self.report.fatal = self.report.fatal or scrub(str(exc))
                else:
                    self.log(f"batch {row.id}: {scrub(str(exc))}; trying again at the next poll")
                    still += 1
            finally:
                self.repo.release(row.id, self.owner)
        if not self.report.fatal:
            await self.redo()
        return still

    def _claim(self, batch_id: int) -> bool:
        """Hold the batch while polling and ingesting it; a holder on this machine whose process
        is gone (killed mid-poll) is taken over at once instead of after its lease expires."""
        if self.repo.claim(batch_id, self.owner, seconds=BATCH_LEASE_SECONDS):
            return True
        holder = self.repo.holder(batch_id)
        if holder is not None and owner_is_gone(holder):
            self.repo.release(batch_id, holder)
            return self.repo.claim(batch_id, self.owner, seconds=BATCH_LEASE_SECONDS)
        return False

    async def _poll(self, row: ProviderBatchRow) -> str:
        if row.status == "submitting" and not await self._recover(row):
            return "gone"
        assert row.remote_id is not None
        try:
            remote = await self.api.retrieve(row.remote_id)
        except BatchAPIError as exc:
            if not exc.missing:
                raise
            reason = f"the provider no longer knows batch {row.remote_id}: {exc}"
            self._retry_queued(row, "errored", reason)
            self.repo.close(row.id, "failed", reason)
            return "failed"
        self.repo.update_remote(
            row.id,
            remote_status=remote.status,
            counts=remote.counts,
            ended=remote.state != "open",
            output_file_id=remote.output_file_id,
            error_file_id=remote.error_file_id,
            error=remote.error,
        )
        if remote.state == "open":
            return "open"
        if remote.state == "failed":
            reason = remote.error or f"the provider refused batch {remote.id}"
            self.log(f"batch {row.id}: {reason}")
            self._retry_queued(row, "errored", reason)
            self.repo.close(row.id, "failed", reason)
            return "failed"
        results = await self.api.results(remote)
        self.ingest(row, results)
        self._retry_queued(row, "errored", f"{self.api.name}: no result came back for this request")
        self.repo.close(row.id, "done")
        return "done"

    async def _recover(self, row: ProviderBatchRow) -> bool:
        """A batch recorded but not known to have reached the provider (the process died while
        sending it): find it by its tag, else send it now. False when it cannot be sent."""
        since = row.created_at.replace(tzinfo=UTC) - timedelta(minutes=5)
        known = self.repo.known_remote_ids(row.provider)
        found = await self.api.find(row.tag, since=since, count=row.requests, known=known)
        if found is not None:
            self.log(f"batch {row.id}: found at the provider as {found}")
            self.repo.submitted(row.id, found)
            row.remote_id = found
            return True
        if row.prompt_version != self.analyzer.prompt_version:
            self.repo.abandon(
                row.id, "the prompts changed before the batch was sent; its articles are pending"
            )
            return False
        requests = []
        for item in self.repo.items(row.id):
            doc = self.store.articles.document(item.article_id) if item.article_id is not None else None
            if doc is None or doc.text_hash != item.text_hash:
                continue
            requests.append(BatchRequest(item.custom_id, self.request_for(doc)))
        if not requests:
            self.repo.abandon(row.id, "its articles changed before the batch was sent")
            return False
        try:
            remote_id, file_id = await self.api.submit(requests, tag=row.tag)
        except BatchAPIError as exc:
            if exc.fatal:
                raise
            self.repo.abandon(row.id, scrub(str(exc)))
            return False
        self.repo.submitted(row.id, remote_id, input_file_id=file_id)
        row.remote_id = remote_id
        self.log(f"batch {row.id}: sent to {self.spec} ({remote_id})")
        return True

    def _retry_queued(self, row: ProviderBatchRow, outcome: str, reason: str) -> None:
        for item in self.repo.items(row.id, ["queued"]):
            self.repo.settle_item(item.id, "retry", outcome=outcome, error=scrub(reason))

    # ----- ingestion --------------------------------------------------------------------------
    def ingest(self, row: ProviderBatchRow, results: list[ItemResult]) -> int:
        """Save every usable answer as its article's analysis; the rest wait for the fallback.

        Idempotent: only `queued` items move, and an answer already in the ledger is never
        recorded again. Returns how many analyses were saved.
        """
        items = {i.custom_id: i for i in self.repo.items(row.id)}
        saved = 0
        for n, result in enumerate(results, 1):
            if n % 200 == 0:  # a long ingest keeps the batch held
                self.repo.claim(row.id, self.owner, seconds=BATCH_LEASE_SECONDS)
            item = items.get(result.custom_id)
            if item is None:
                self.log(f"batch {row.id}: a result for an unknown request {result.custom_id!r}")
                continue
            if item.status != "queued":
                continue  # ingested before
            saved += self._ingest_one(row, item, result)
        return saved

    def _ingest_one(self, row: ProviderBatchRow, item: ProviderBatchItemRow, result: ItemResult) -> int:
        run_id = f"batch-{row.id}"
        spec = f"{row.provider}:{row.model}"
        prior = self.repo.recorded_call(run_id, item.text_hash)
        if prior is not None:  # recorded by an ingest that died before moving the item on
            if prior.status == "ok" and self.store.analyses.find_analysis(
                item.text_hash, row.prompt_version, spec
            ):
                self.repo.settle_item(item.id, "done", outcome=result.outcome)
                self.repo.set_text_status(item.text_hash, "analyzed")
            else:
                self.repo.settle_item(item.id, "retry", outcome=result.outcome, error=prior.error)
            return 0
        doc = self.store.articles.document(item.article_id) if item.article_id is not None else None
        response = result.response
        tokens_in = response.input_tokens if response else 0
        tokens_out = response.output_tokens if response else 0
        cost = self.prices.batch_cost(spec, tokens_in, tokens_out)
        request = self.request_for(doc) if doc is not None else None
        rec = CallRecord(
            provider=row.provider,
            model=row.model,
            purpose="analyze",
            text_hash=item.text_hash,
            attempt=1,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            request_chars=request.chars() if request is not None else 0,
        )
        if self.settings.audit:
            rec.response = scrub(response.text if response else result.raw or (result.error or ""))
            if request is not None:
                described = self.api.describe(BatchRequest(item.custom_id, request), row.mode)
                rec.prompt = scrub(json.dumps(described, ensure_ascii=False))

        def unusable(status: CallStatus, problem: str, to: str = "retry") -> int:
            self._ledger(rec.model_copy(update={"status": status, "error": scrub(problem)}), run_id)
            self.repo.settle_item(
                item.id,
                to,
                outcome=result.outcome,
                error=scrub(problem),
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=cost,
            )
            return 0

        if response is None or result.error:
            return unusable("error", result.error or f"{result.outcome}: no answer")
        if doc is None or doc.text_hash != item.text_hash:
            return unusable(
                "ok", "the article changed before the answer came; the answer was not used", "stale"
            )
        if response.finish_reason == "length":
            return unusable("truncated", "the answer was cut off at the output limit")
        try:
            out = parse_output(response.text)
        except (ValueError, ValidationError) as exc:
            return unusable("invalid", describe_invalid(exc))
        if self.store.analyses.find_analysis(item.text_hash, row.prompt_version, spec) is not None:
            self.repo.set_text_status(item.text_hash, "analyzed")
            return unusable("ok", "analyzed by another run before the answer came; not used", "stale")
        analysis = self.analyzer.checked(doc, out, chunks=1).model_copy(
            update={"prompt_version": row.prompt_version, "model": spec}
        )
        rec = rec.model_copy(update={"status": "ok"})
        followers = [a for a in self.repo.article_ids_of_text(item.text_hash) if a != item.article_id]
        analysis.id = self.store.analyses.save_analysis(analysis, item.article_id, calls=[rec], run_id=run_id)
        self.report.charge(rec)
        self.repo.settle_item(
            item.id,
            "done",
            outcome=result.outcome,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
        )
        self.repo.set_text_status(item.text_hash, "analyzed")
        self.report.add(
            ArticleResult(
                source=doc.source,
                status="analyzed",
                article_id=item.article_id,
                analysis_id=analysis.id,
                title=analysis.title,
                language=analysis.language,
                llm_calls=1,
                note=f"from batch {row.id}",
            )
        )
        self._report_followers(followers, analysis.id, f"same text as article {item.article_id}")
        return 1

    def _report_followers(self, article_ids: list[int], analysis_id: int | None, note: str) -> None:
        """Articles with the same text as the one analyzed: they share its analysis."""
        for article_id in article_ids:
            doc = self.store.articles.document(article_id)
            if doc is not None:
                self.report.add(
                    ArticleResult(
                        source=doc.source,
                        status="reused",
                        article_id=article_id,
                        analysis_id=analysis_id,
                        title=doc.title,
                        language=doc.language,
                        note=note,
                    )
                )

    def _ledger(self, rec: CallRecord, run_id: str) -> None:
        self.store.ledger.record_calls([rec], run_id)
        self.report.charge(rec)

    # ----- fallback ---------------------------------------------------------------------------
    async def redo(self) -> None:
        """Items with no usable batch answer: an ordinary call each, or reported (no fallback)."""
        items = self.repo.items_to_redo(self.spec)
        if not items:
            return
        if not self.fallback:
            for item in items:
                reason = (
                    f"{item.error or 'no usable batch answer'} (run `horizonscan analyze "
                    "--retry-failed` to redo it with ordinary calls)"
                )
                if self.repo.settle_item(item.id, "failed", expect=("retry",), error=reason):
                    self.repo.set_text_status(item.text_hash, "failed", error=reason)
                    self._report_failed(item, reason)
            return
        sem = asyncio.Semaphore(self.concurrency)

        async def one(item: ProviderBatchItemRow) -> None:
            doc = self.store.articles.document(item.article_id) if item.article_id is not None else None
            if doc is None or doc.text_hash != item.text_hash:
                self.repo.settle_item(item.id, "stale", expect=("retry",), error="the article changed")
                return
            why = f"batch answer unusable: {item.error}" if item.error else "no batch answer"
            status = await self._ordinary(sem, doc.source, item.article_id or 0, doc, why)
            if status == "analyzed":
                self.repo.settle_item(item.id, "redone", expect=("retry",))
            elif status == "failed":
                result = self.report.results.get(f"article:{item.article_id}")
                error = result.error if result is not None else None
                self.repo.settle_item(item.id, "failed", expect=("retry",), error=error)

        await asyncio.gather(*(one(item) for item in items))

    async def _ordinary(
        self, sem: asyncio.Semaphore, source: str, article_id: int, doc: Document, why: str
    ) -> str:
        """One article through the ordinary path (leases, LLMClient, save with its calls)."""
        spec, version = self.spec, self.analyzer.prompt_version
        if self.report.stopped or self.report.fatal:
            return "not started"
        existing = self.store.analyses.find_analysis(doc.text_hash, version, spec)
        if existing is not None:
            self.repo.set_text_status(doc.text_hash, "analyzed")
            return "analyzed"
        lease = self.settings.lease_seconds
        if not self.store.articles.claim_article(
            article_id, self.owner, seconds=lease, text_hash=doc.text_hash
        ):
            return "busy"  # another run or worker is on it: left for the next poll
        try:
            async with sem:
                if self.report.stopped or self.report.fatal:
                    return "not started"
                analysis = await self.analyzer.analyze(doc)
            followers = [a for a in self.repo.article_ids_of_text(doc.text_hash) if a != article_id]
            analysis.id = self.store.analyses.save_analysis(
                analysis, article_id, run_id=self.run_id, calls=self._pending.pop(doc.text_hash, [])
            )
            self.repo.set_text_status(doc.text_hash, "analyzed")
            self._report_followers(followers, analysis.id, f"same text as article {article_id}")
            self.report.add(
                ArticleResult(
                    source=source,
                    status="analyzed",
                    article_id=article_id,
                    analysis_id=analysis.id,
                    title=analysis.title,
                    language=analysis.language,
                    note=f"{why}; redone by an ordinary call",
                )
            )
            return "analyzed"
        except BudgetExceeded as exc:
            self.report.stopped = self.report.stopped or str(exc)
            return "not started"
        except LLMFatal as exc:
            self.report.fatal = self.report.fatal or str(exc)
            return "not started"
        except LLMFailure as exc:
            reason = scrub(f"{why}; the ordinary call failed too: {exc}")
            self.store.articles.set_status(article_id, "failed", reason, count_attempt=True)
            self.repo.set_text_status(doc.text_hash, "failed", error=reason)
            self.report.add(
                ArticleResult(
                    source=source,
                    status="failed",
                    article_id=article_id,
                    title=doc.title,
                    language=doc.language,
                    error=reason,
                )
            )
            return "failed"
        finally:
            self.store.articles.release_article(article_id, self.owner)
            leftover = self._pending.pop(doc.text_hash, [])
            if leftover:
                self.store.ledger.record_calls(leftover, self.run_id)

    # ----- results ----------------------------------------------------------------------------
    def _report_failed(self, item: ProviderBatchItemRow, reason: str) -> None:
        doc = self.store.articles.document(item.article_id) if item.article_id is not None else None
        self.report.add(
            ArticleResult(
                source=doc.source if doc else f"article {item.article_id}",
                status="failed",
                article_id=item.article_id,
                title=doc.title if doc else None,
                language=doc.language if doc else None,
                error=reason,
            )
        )

    def _queued_result(self, source: str, article_id: int, doc: Document, batch_id: int) -> ArticleResult:
        return ArticleResult(
            source=source,
            status="not started",
            article_id=article_id,
            title=doc.title,
            language=doc.language,
            note=f"{QUEUED} {batch_id}",
        )

    def _not_started(self, source: str, article_id: int, doc: Document, reason: str) -> ArticleResult:
        return ArticleResult(
            source=source,
            status="not started",
            article_id=article_id,
            title=doc.title,
            language=doc.language,
            error=reason,
        )


# ---- reading the inputs: the ordinary batch, up to the model call ---------------------------------
class _Collecting(Batch):
    """`pipeline.Batch` with its model call replaced by "queue this document for the batch":
    reading, extraction, reuse of known texts, near-duplicates and skips stay exactly the same."""

    collected: list[tuple[str, int, Document]]

    async def run(self, inputs: list[Input]) -> RunSummary:
        self.collected = []
        return await super().run(inputs)

    async def _analyze(self, source: str, article_id: int, doc: Document) -> ArticleResult:
        self.collected.append((source, article_id, doc))
        return ArticleResult(
            source=source, status="not started", article_id=article_id, title=doc.title, language=doc.language
        )


async def _collect(
    store: Store,
    settings: Settings,
    analyzer: Analyzer,
    inputs: list[Input],
    *,
    origin: Origin | None,
    force: bool,
    log: Log | None,
) -> tuple[list[ArticleResult], list[tuple[str, int, Document]]]:
    opts = BatchOptions(
        out=settings.out,
        concurrency=settings.concurrency or analyzer.client.provider.default_concurrency,
        origin=origin,
        force=force,
        min_chars=settings.min_chars,
        write_pages=False,
        max_file_bytes=settings.max_file_bytes(),
        lease_seconds=settings.lease_seconds,
        audit=settings.audit,
    )
    collector: Collector | None = None
    if any(item.is_url for item in inputs):
        from horizonscan.jobs.collect import Collector, make_fetcher

        async with make_fetcher(settings) as fetcher:
            collector = Collector(store, settings, fetcher)
            batch = _Collecting(store, analyzer, opts, collector=collector, log=log)
            summary = await batch.run(inputs)
    else:
        batch = _Collecting(store, analyzer, opts, log=log)
        summary = await batch.run(inputs)
    wanted = {article_id for _, article_id, _ in batch.collected}
    done = [r for r in summary.results if not (r.status == "not started" and r.article_id in wanted)]
    return done, batch.collected


# ---- the commands' entry points ---------------------------------------------------------------
def _engine(
    store: Store, settings: Settings, report: BatchReport, *, fallback: bool, log: Log | None
) -> BatchEngine:
    """An engine for `settings.llm`; BatchUnsupported (a ConfigurationError) when it has no batch API."""
    analyzer = make_analyzer(settings, log=log)
    api = make_batch_api(analyzer.client.provider, backoff_base=settings.backoff_base)
    return BatchEngine(store, settings, analyzer, api, report=report, fallback=fallback, log=log)


async def submit_batch(
    store: Store,
    settings: Settings,
    inputs: list[Input],
    *,
    origin: Origin | None = None,
    force: bool = False,
    wait: bool = False,
    every: float = DEFAULT_POLL_SECONDS,
    fallback: bool = True,
    log: Log | None = None,
) -> BatchReport:
    """`analyze --batch`: ingest what has ended, read the inputs, send one batch (or a few), and
    with `wait`, poll until every batch has ended and been ingested."""
    started = time.perf_counter()
    report = BatchReport()
    engine = _engine(store, settings, report, fallback=fallback, log=log)
    try:
        await engine.poll_once()  # answers that came in meanwhile count as known texts below
        if not report.fatal:
            done, docs = await _collect(
                store, settings, engine.analyzer, inputs, origin=origin, force=force, log=log
            )
            for result in done:
                report.add(result)
            await engine.submit(docs)
        report.still_open = len(engine.repo.open_batches(engine.spec))
        if wait and not report.fatal:
            report.still_open = await _wait([engine], every, log)
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    finally:
        await engine.api.aclose()
        report.seconds = time.perf_counter() - started
    _publish(store, settings, report, engine.analyzer, log)
    return report


async def poll_batches(
    store: Store,
    settings: Settings,
    *,
    wait: bool = False,
    every: float = DEFAULT_POLL_SECONDS,
    fallback: bool = True,
    log: Log | None = None,
) -> BatchReport:
    """`batches poll` (and a worker, and each `watch --batch` cycle): every provider and model
    with open batches or items to redo, polled once, or with `wait` until none is left open."""
    started = time.perf_counter()
    report = BatchReport()
    engines: list[BatchEngine] = []
    try:
        for spec in BatchRepo.of(store).specs_with_work():
            engines.append(
                _engine(store, settings.model_copy(update={"llm": spec}), report, fallback=fallback, log=log)
            )
        report.still_open = await _wait(engines, every, log) if wait else await _poll_all(engines)
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    finally:
        for engine in engines:
            await engine.api.aclose()
        report.seconds = time.perf_counter() - started
    _publish(store, settings, report, None, log)
    return report


async def _poll_all(engines: list[BatchEngine]) -> int:
    still = 0
    for engine in engines:
        if engine.report.fatal:
            break
        still += await engine.poll_once()
    return still


async def _wait(engines: list[BatchEngine], every: float, log: Log | None) -> int:
    """Poll every `every` seconds until no batch is left open (or the provider proved unusable)."""
    last = -1
    while True:
        still = await _poll_all(engines)
        if still == 0 or any(e.report.fatal for e in engines):
            return still
        if log is not None and still != last:
            log(
                f"{still} batch(es) still running at the provider; checking every {every:g}s (Ctrl-C to stop)"
            )
        last = still
        await asyncio.sleep(every)


def _publish(
    store: Store, settings: Settings, report: BatchReport, analyzer: Analyzer | None, log: Log | None
) -> None:
    """The corpus stage (similarity, stories, pages), when something was analyzed or reused."""
    if not any(r.status in ("analyzed", "reused") for r in report.results.values()):
        return
    started = time.perf_counter()
    published = publish_corpus(
        store,
        settings,
        prompt_version=analyzer.prompt_version if analyzer else None,
        model=analyzer.model_spec if analyzer else None,
        log=log,
    )
    for result in report.results.values():
        if result.page is None and result.article_id in published.pages:
            result.page = str(published.pages[result.article_id])
    report.index = str(published.index)
    report.stories = len(published.stories)
    report.seconds += time.perf_counter() - started


def batch_refusal(settings: Settings) -> str | None:
    """Why `--batch` cannot work with these settings (checked before anything is read), or None."""
    from horizonscan.llm.registry import resolve_spec

    kind = resolve_spec(settings.llm).partition(":")[0].lower()
    if kind in ("openai", "anthropic"):
        return None
    return (
        f"--batch needs a provider with a batch API (openai:MODEL or anthropic:MODEL); {kind} has none "
        "(the local model runs in this process). Run without --batch"
    )
