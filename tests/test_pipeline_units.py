"""The batch's units on their own: loading, deciding reuse (values, not exceptions), the call
ledger, one article's path without a batch, embedding ahead, and `stories` as a listing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from horizonscan.analysis.analyzer import make_analyzer
from horizonscan.config import Settings
from horizonscan.extract import extract_bytes
from horizonscan.jobs.article import ArticleJob, BatchOptions, Deferred, analyze_document, process_article
from horizonscan.jobs.batch import Batch
from horizonscan.jobs.embed_ahead import EmbedAhead
from horizonscan.jobs.ledger import CallLedger, Tally
from horizonscan.jobs.load import DocumentLoader
from horizonscan.jobs.reuse import InFlight, ReuseCheck
from horizonscan.models import Analysis, ArticleResult, CallRecord, CallStatus, CheckedItem
from horizonscan.similarity.cache import CachedEmbedder
from horizonscan.similarity.corpus import ensure_signatures
from horizonscan.similarity.embed import get_embedder
from horizonscan.sources.inputs import Input, expand_inputs
from horizonscan.store import Store
from tests.conftest import SEED_DE, SEED_FR, needs_seeds
from tests.support.articles import article_text, write_articles
from tests.support.cli import batch_args, run_cli
from tests.support.mock_llm import MockLLMServer

LLM = "openai:gpt-4o-mini"


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(llm=LLM, db=tmp_path / "hs.db", out=tmp_path / "pages", **extra)


def _job(store: Store, settings: Settings, **opts: object) -> ArticleJob:
    analyzer = make_analyzer(settings)
    options = BatchOptions(out=settings.out, concurrency=2, **opts)  # type: ignore[arg-type]
    job = ArticleJob(store, analyzer, options)
    job.start()
    return job


def test_reuse_decisions_are_values(openai_env: MockLLMServer, tmp_path: Path) -> None:
    """Same bytes, same text and a near-duplicate are answered with a value; an updated story
    (new numbers) and unknown bytes are not reused."""
    text = article_text(1, paragraphs=6)
    src = tmp_path / "in" / "a.txt"
    src.parent.mkdir()
    src.write_text(text, encoding="utf-8")
    assert run_cli("analyze", str(src), *batch_args(tmp_path)).code == 0
    store = Store.open(tmp_path / "hs.db")
    analyzer = make_analyzer(_settings(tmp_path))
    check = ReuseCheck(store, analyzer.prompt_version, analyzer.model_spec)
    check.load()
    row = store.articles.article_by_source(str(src.resolve()))
    assert row is not None
    loader = DocumentLoader(store)
    raw = asyncio.run(loader.read_file(str(src)))
    assert check.unchanged(row, digest=raw.digest)
    assert not check.unchanged(row, digest="0" * 64)

    doc = asyncio.run(loader.extract(raw, source="elsewhere.txt", origin=None))
    same = check.known(doc)
    assert same is not None and not same.save and same.note is None

    boiler = doc.model_copy(
        update={"text": "Subscribe to our newsletter.\n\n" + doc.text, "text_hash": "f" * 64}
    )
    near = check.known(boiler)
    assert near is not None and near.save and near.note is not None and "near-duplicate" in near.note
    assert near.analysis.reused_from == row.id

    updated = doc.model_copy(
        update={"text": doc.text + "\n\nThe total rose to 987654 units.", "text_hash": "e" * 64}
    )
    assert check.known(updated) is None
    store.close()


def test_in_flight_end_never_drops_a_later_holder() -> None:
    """The first input's end must not unregister (or answer None to the waiters of) a second
    input that analyzes the same text after the first failed."""

    async def scenario() -> None:
        flight = InFlight()
        first = flight.start("h")
        second = flight.start("h")  # the first failed; a waiter started over
        flight.end("h", first)
        assert flight.running("h") is second and not second.done()
        flight.end("h", second)
        assert flight.running("h") is None and second.result() is None

    asyncio.run(scenario())


def test_ledger_holds_successful_calls_until_taken(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "hs.db")
    tally = Tally()
    ledger = CallLedger(store, "run-1", audit=False, tally=tally)

    def rec(status: CallStatus, text_hash: str | None) -> CallRecord:
        return CallRecord(
            provider="openai",
            model="m",
            status=status,
            text_hash=text_hash,
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.01,
            prompt="secret prompt",
            response="raw",
        )

    ledger.record(rec("error", "h1"))  # committed at once
    ledger.record(rec("ok", "h1"))  # held for its analysis
    ledger.record(rec("ok", "h2"))
    con = sqlite3.connect(tmp_path / "hs.db")
    assert con.execute("select status, prompt from llm_calls").fetchall() == [("error", None)]
    held = ledger.take("h1")
    assert [r.status for r in held] == ["ok"] and held[0].prompt is None  # no audit: no prompt
    ledger.flush("h2")  # never dropped
    assert con.execute("select count(*) from llm_calls where status='ok'").fetchone()[0] == 1
    assert (tally.calls, tally.input_tokens, tally.output_tokens) == (3, 30, 15)
    store.close()


def test_one_article_path_runs_without_a_batch(openai_env: MockLLMServer, tmp_path: Path) -> None:
    """What a worker does: one input through `process_article`, no queue; a second time it is
    reused; and while another run holds the lease the model step answers `Deferred`."""
    write_articles(tmp_path / "in", 2)
    inputs = expand_inputs([str(tmp_path / "in")])
    settings = _settings(tmp_path)
    store = Store.open(settings.db)

    async def scenario() -> None:
        job = _job(store, settings)
        first = await process_article(job, inputs[0])
        assert isinstance(first, ArticleResult) and first.status == "analyzed" and first.llm_calls == 1
        row = store.articles.article_by_source(inputs[0].source)
        again = await process_article(job, inputs[0], row=row)
        assert isinstance(again, ArticleResult) and again.status == "reused"
        assert len(openai_env.requests) == 1

        # Another run holds the second article: the model step says so instead of paying.
        doc = await job.loader.extract(
            await job.loader.read_file(inputs[1].source), source=inputs[1].source, origin=None
        )
        article_id = store.articles.upsert_article(doc)
        assert store.articles.claim_article(article_id, "otherhost:1:run", seconds=60)
        deferred = await analyze_document(job, inputs[1].source, article_id, doc, may_defer=lambda: True)
        assert isinstance(deferred, Deferred) and deferred.doc.text_hash == doc.text_hash
        assert len(openai_env.requests) == 1
        job.finish()
        await job.analyzer.client.provider.aclose()

    asyncio.run(scenario())
    store.close()


def test_embedding_ahead_leaves_nothing_for_the_corpus_stage(tmp_path: Path) -> None:
    """Documents and landed analyses embedded in the background are stored where the corpus
    stage looks (signatures, item vectors), so after the last answer nothing is embedded."""
    store = Store.open(tmp_path / "hs.db")
    texts = [article_text(i) for i in range(3)]
    ahead = EmbedAhead(store, "use")
    items = [
        CheckedItem(kind="signal", name=f"Signal {i}", description=f"Change number {i}.", relevancy=3)
        for i in range(4)
    ]
    for i, text in enumerate(texts):
        doc = extract_bytes(text.encode(), source=f"a{i}.txt", kind="text")
        store.articles.upsert_article(doc)
        ahead.document(doc)
        ahead.landed(
            Analysis(
                text_hash=doc.text_hash,
                model="m",
                prompt_version="v",
                title="t",
                summary="s",
                keywords=[],
                themes=[],
                category="technology",
                type="news",
                items=items,
            )
        )

    asyncio.run(ahead.drain())
    ahead.close()
    assert ahead.docs == 3 and ahead.items == 4
    assert ensure_signatures(store, embedder=get_embedder("use")) == 0
    cached = CachedEmbedder(get_embedder("use"), store)
    assert cached.missing([f"{i.name}: {i.description}" for i in items]) == []
    store.close()


def test_a_batch_embeds_as_analyses_land(openai_env: MockLLMServer, tmp_path: Path) -> None:
    openai_env.latency = 0.2
    write_articles(tmp_path / "in", 4)
    settings = _settings(tmp_path)
    store = Store.open(settings.db)

    async def scenario() -> Batch:
        analyzer = make_analyzer(settings)
        opts = BatchOptions(out=settings.out, concurrency=2, embed_ahead="use")
        batch = Batch(store, analyzer, opts)
        summary = await batch.run(expand_inputs([str(tmp_path / "in")]))
        await batch.embedded()
        await analyzer.client.provider.aclose()
        assert summary.count("analyzed") == 4
        return batch

    batch = asyncio.run(scenario())
    assert batch.job.ahead is not None and batch.job.ahead.docs == 4
    assert ensure_signatures(store, embedder=get_embedder("use")) == 0
    store.close()


@needs_seeds
def test_stories_synthesize_rewrites_story_pages_and_index_only(
    openai_env: MockLLMServer, tmp_path: Path
) -> None:
    """A listing that synthesized new story titles rewrites the story pages and the index, and
    no article page (it used to rewrite every page)."""
    args = ["--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages")]
    assert run_cli("analyze", str(SEED_FR), str(SEED_DE), "--llm", LLM, *args).code == 0
    pages = tmp_path / "pages"
    article_pages = [p for p in pages.glob("*.md") if p.name != "index.md"]
    assert len(article_pages) == 2
    for p in article_pages:
        p.write_text("edited by hand\n", encoding="utf-8")
    story_before = next((pages / "stories").glob("story-*.md")).read_text(encoding="utf-8")
    synth = run_cli("stories", "--synthesize", "--json", "--llm", LLM, *args)
    assert synth.code == 0
    summary = synth.json()[0]["summary"]
    assert summary
    story_after = next((pages / "stories").glob("story-*.md")).read_text(encoding="utf-8")
    assert story_after != story_before and synth.json()[0]["title"] in story_after
    assert synth.json()[0]["title"] in (pages / "index.md").read_text(encoding="utf-8")
    assert all(p.read_text(encoding="utf-8") == "edited by hand\n" for p in article_pages)


@pytest.mark.parametrize("single", [False, True])
def test_stories_listing_writes_nothing(openai_env: MockLLMServer, tmp_path: Path, single: bool) -> None:
    write_articles(tmp_path / "in", 2)
    args = ["--db", str(tmp_path / "hs.db"), "--out", str(tmp_path / "pages")]
    assert run_cli("analyze", str(tmp_path / "in"), "--llm", LLM, *args).code == 0
    (tmp_path / "pages" / "index.md").write_text("mine\n", encoding="utf-8")
    listed = run_cli("stories", "--json", *(["--all"] if single else []), *args)
    assert listed.code == 0 and sum(len(s["articles"]) for s in listed.json()) in ((2,) if single else (0, 2))
    assert (tmp_path / "pages" / "index.md").read_text(encoding="utf-8") == "mine\n"


def test_plan_inputs_adds_failed_articles_once_and_never_our_outputs(tmp_path: Path) -> None:
    from horizonscan.jobs.batch import plan_inputs

    settings = _settings(tmp_path)
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "page.md").write_text("# a page of ours\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text(article_text(1), encoding="utf-8")
    store = Store.open(settings.db)
    store.articles.record_fetch_failure("https://example.com/x", None, "HTTP 500")
    items = plan_inputs(store, settings, [str(tmp_path)], retry_failed=True)
    assert sorted(i.source for i in items) == sorted(
        [str((tmp_path / "a.txt").resolve()), "https://example.com/x"]
    )
    assert plan_inputs(store, settings, [str(tmp_path)]) == [Input(str((tmp_path / "a.txt").resolve()))]
    store.close()


def test_a_dead_embedding_helper_never_hangs_the_batch(tmp_path: Path) -> None:
    """The helper killed before it answered: `drain` returns and says so, and the corpus stage
    embeds what it left."""
    store = Store.open(tmp_path / "hs.db")
    logs: list[str] = []
    ahead = EmbedAhead(store, "use", log=logs.append)
    for i in range(3):
        doc = extract_bytes(article_text(i).encode(), source=f"a{i}.txt", kind="text")
        store.articles.upsert_article(doc)
        ahead.document(doc)
    assert ahead._process is not None
    ahead._process.kill()
    asyncio.run(asyncio.wait_for(ahead.drain(), timeout=60))
    ahead.close()
    assert any("stopped early" in m for m in logs)
    assert ensure_signatures(store, embedder=get_embedder("use")) == 3
    store.close()
